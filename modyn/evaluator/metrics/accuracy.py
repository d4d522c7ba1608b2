"""Accuracy: the fraction of samples whose predicted class equals the label."""

from __future__ import annotations

from typing import Any

import torch

from modyn.evaluator.metrics.base import Metric, as_label_tensor, predicted_classes


class Accuracy(Metric):
    """Fraction of correctly classified samples.

    The prediction is the argmax of (N, C) outputs, or `score >= 0.5` for (N,) / (N, 1) outputs of
    a binary problem. No config. With no samples at all the result is 0.0 (there is nothing correct).

    >>> metric = Accuracy()
    >>> metric.update(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]))
    >>> metric.result()
    0.5
    """

    name = "Accuracy"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.correct = 0
        self.total = 0

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        predictions = predicted_classes(outputs, self.name)
        labels = as_label_tensor(labels, predictions.numel(), self.name)
        self.correct += int((predictions == labels).sum())
        self.total += int(labels.numel())

    def result(self) -> float:
        return self.correct / self.total if self.total else 0.0
