"""F1 score over a confusion matrix accumulated across batches (macro, micro, weighted or binary)."""

from __future__ import annotations

from typing import Any

import torch

from modyn.evaluator.metrics.base import Metric, as_label_tensor, predicted_classes

AVERAGES = ("macro", "micro", "weighted", "binary")


class F1Score(Metric):
    """F1 = 2·TP / (2·TP + FP + FN), per class, then averaged.

    Config:
      - `num_classes` (int > 1): the classes are 0 .. num_classes-1. Optional: when absent it is taken
        from the first batch (the width of (N, C) outputs, or 2 for binary scores); `average: binary`
        implies 2.
      - `average` (default `macro`):
        - `macro`: unweighted mean of the per-class F1 scores;
        - `weighted`: mean of the per-class F1 scores weighted by each class's support (number of labels);
        - `micro`: F1 of the pooled TP/FP/FN counts, which for single-label classification equals accuracy;
        - `binary`: the F1 score of class 1 (the positive class); needs 2 classes.

    Classes without support and without predictions: their F1 is 0/0. Such a class gives no evidence
    either way, so it is left out of the `macro` mean (as torchmetrics does) instead of counting as 0
    (which would punish a model for classes the evaluation data does not contain); in `weighted` its
    weight is 0 anyway. When nothing is left to average (no samples at all), or for `binary` when class 1
    never occurs in labels or predictions, the result is 0.0 (as scikit-learn's `zero_division=0`).
    Never NaN.

    >>> metric = F1Score({"num_classes": 2, "average": "binary"})
    >>> metric.update(torch.tensor([0.9, 0.8, 0.1, 0.2]), torch.tensor([1, 0, 1, 0]))
    >>> metric.result()  # TP=1, FP=1, FN=1
    0.5
    """

    name = "F1Score"
    config_keys = frozenset({"num_classes", "average"})

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.average = self.config.get("average", "macro")
        if self.average not in AVERAGES:
            raise ValueError(f"F1Score: average must be one of {', '.join(AVERAGES)}, got {self.average!r}")
        num_classes = self.config.get("num_classes")
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise ValueError(f"F1Score: num_classes must be an integer > 1, got {num_classes!r}")
        if self.average == "binary":
            if num_classes not in (None, 2):
                raise ValueError(f"F1Score: average 'binary' needs num_classes 2, got {num_classes}")
            num_classes = 2
        self.num_classes: int | None = num_classes
        # confusion[label, prediction]
        self.confusion: torch.Tensor | None = None if num_classes is None else self._empty(num_classes)

    @staticmethod
    def _empty(num_classes: int) -> torch.Tensor:
        return torch.zeros((num_classes, num_classes), dtype=torch.int64)

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        predictions = predicted_classes(outputs, self.name)
        labels = as_label_tensor(labels, predictions.numel(), self.name)
        if self.num_classes is None:
            self.num_classes = int(outputs.shape[1]) if outputs.dim() == 2 and outputs.shape[1] > 1 else 2
            self.confusion = self._empty(self.num_classes)
        assert self.confusion is not None
        n = self.num_classes
        if outputs.dim() == 2 and outputs.shape[1] > 1 and outputs.shape[1] != n:
            raise ValueError(f"F1Score: num_classes is {n} but the model outputs {outputs.shape[1]} scores per sample")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n):
            bad = labels[(labels < 0) | (labels >= n)][0]
            raise ValueError(f"F1Score: label {int(bad)} is outside the classes 0..{n - 1} (num_classes {n})")
        self.confusion += torch.bincount(labels * n + predictions, minlength=n * n).reshape(n, n)

    def result(self) -> float:
        if self.confusion is None:
            return 0.0
        confusion = self.confusion.to(torch.float64)
        tp = confusion.diagonal()
        fp = confusion.sum(dim=0) - tp  # predicted as the class, labelled otherwise
        fn = confusion.sum(dim=1) - tp  # labelled as the class, predicted otherwise
        denominator = 2 * tp + fp + fn
        if self.average == "micro":
            total = float(denominator.sum())
            return float(2 * tp.sum()) / total if total else 0.0
        defined = denominator > 0
        per_class = torch.where(defined, 2 * tp / denominator.clamp(min=1), torch.zeros_like(tp))
        if self.average == "binary":
            return float(per_class[1])
        if self.average == "weighted":
            support = confusion.sum(dim=1)
            total_support = float(support.sum())
            return float((per_class * support).sum()) / total_support if total_support else 0.0
        num_defined = int(defined.sum())
        return float(per_class[defined].sum()) / num_defined if num_defined else 0.0
