"""Accuracy: the fraction of samples whose label is among the top-n predicted classes."""

from __future__ import annotations

from typing import Any

import torch

from modyn.evaluator.metrics.base import Metric, as_label_tensor, predicted_classes


class Accuracy(Metric):
    """Fraction of correctly classified samples (top-n accuracy).

    Config: `topn` (int >= 1, default 1): a sample counts as correct when its label is among the `topn`
    highest-scoring classes of (N, C) outputs. With `topn: 1` the prediction is the argmax, or
    `score >= 0.5` for (N,) / (N, 1) outputs of a binary problem (which allow only `topn: 1`).
    With no samples at all the result is 0.0 (there is nothing correct).

    >>> metric = Accuracy()
    >>> metric.update(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]))
    >>> metric.result()
    0.5
    >>> top2 = Accuracy({"topn": 2})
    >>> top2.update(torch.tensor([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]]), torch.tensor([1, 2]))
    >>> top2.result()
    0.5
    """

    name = "Accuracy"
    config_keys = frozenset({"topn"})

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        topn = self.config.get("topn", 1)
        if isinstance(topn, bool) or not isinstance(topn, int) or topn < 1:
            raise ValueError(f"Accuracy: topn must be an integer >= 1, got {topn!r}")
        self.topn = topn
        self.correct = 0
        self.total = 0

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        if self.topn == 1:
            predictions = predicted_classes(outputs, self.name)
            labels = as_label_tensor(labels, predictions.numel(), self.name)
            self.correct += int((predictions == labels).sum())
        else:
            outputs = outputs.detach().cpu()
            if outputs.dim() != 2 or outputs.shape[1] < 2:
                raise ValueError(f"Accuracy: topn {self.topn} needs (N, C) outputs, got {tuple(outputs.shape)}")
            if outputs.shape[1] < self.topn:
                raise ValueError(f"Accuracy: topn is {self.topn} but the model outputs only {outputs.shape[1]} classes")
            labels = as_label_tensor(labels, outputs.shape[0], self.name)
            top = outputs.topk(self.topn, dim=1).indices
            self.correct += int((top == labels.unsqueeze(1)).any(dim=1).sum())
        self.total += int(labels.numel())

    def result(self) -> float:
        return self.correct / self.total if self.total else 0.0
