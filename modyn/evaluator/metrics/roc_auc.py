"""ROC AUC: the probability that a random positive sample scores above a random negative one."""

from __future__ import annotations

from typing import Any

import torch

from modyn.evaluator.metrics.base import Metric, as_label_tensor


def binary_auc(scores: torch.Tensor, positive: torch.Tensor) -> float | None:
    """Exact ROC AUC with ties counted half (the Mann-Whitney U statistic); None when one class is absent."""
    scores = scores.to(torch.float64)
    n_pos = int(positive.sum())
    n_neg = int(positive.numel()) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = torch.argsort(scores, stable=True)
    sorted_scores = scores[order]
    # Average rank (1-based) of each group of tied scores.
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    average_rank = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty_like(scores)
    ranks[order] = average_rank[inverse]
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


class RocAuc(Metric):
    """Area under the ROC curve, exact (no thresholds binned), accumulated over batches.

    Binary problems: (N,) or (N, 1) outputs are the positive class's score; for (N, 2) outputs the
    score is the softmax probability of class 1 (or the raw class-1 output with `apply_softmax: false`).
    Multi-class problems ((N, C) outputs, C > 2): one-vs-rest AUC per class on the softmax probabilities,
    averaged unweighted (`average: macro`, the only choice), as scikit-learn's
    `roc_auc_score(multi_class="ovr", average="macro")`.

    Config: `num_classes` (optional; checked against the outputs), `apply_softmax` (default true),
    `average` (`macro`).

    AUC is undefined for a class that has no positive or no negative sample: such classes are left
    out of the mean; when none is left (e.g. all labels equal) the result is 0.0, never NaN.
    Keeps every score (N x C floats) until `result()`.

    >>> metric = RocAuc()
    >>> metric.update(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))
    >>> metric.result()
    0.75
    """

    name = "RocAuc"
    config_keys = frozenset({"num_classes", "apply_softmax", "average"})

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        if self.config.get("average", "macro") != "macro":
            raise ValueError(f"RocAuc: average must be macro, got {self.config['average']!r}")
        num_classes = self.config.get("num_classes")
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise ValueError(f"RocAuc: num_classes must be an integer > 1, got {num_classes!r}")
        self.num_classes: int | None = num_classes
        self.apply_softmax = bool(self.config.get("apply_softmax", True))
        self._scores: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        outputs = outputs.detach().cpu().to(torch.float64)
        if outputs.dim() == 2 and outputs.shape[1] == 1:
            outputs = outputs[:, 0]
        if outputs.dim() == 1:
            width = 2
        elif outputs.dim() == 2:
            width = int(outputs.shape[1])
            if self.apply_softmax:
                outputs = torch.softmax(outputs, dim=1)
            if width == 2:
                outputs = outputs[:, 1]
        else:
            raise ValueError(f"RocAuc: expected model outputs of shape (N, C) or (N,), got {tuple(outputs.shape)}")
        if self.num_classes is None:
            self.num_classes = width
        elif width != self.num_classes:
            raise ValueError(f"RocAuc: num_classes is {self.num_classes} but the model outputs {width} classes")
        labels = as_label_tensor(labels, outputs.shape[0], self.name)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            bad = labels[(labels < 0) | (labels >= self.num_classes)][0]
            raise ValueError(f"RocAuc: label {int(bad)} is outside the classes 0..{self.num_classes - 1}")
        self._scores.append(outputs)
        self._labels.append(labels)

    def result(self) -> float:
        if not self._scores:
            return 0.0
        scores = torch.cat(self._scores)
        labels = torch.cat(self._labels)
        if scores.dim() == 1:
            auc = binary_auc(scores, labels == 1)
            return 0.0 if auc is None else auc
        per_class = [binary_auc(scores[:, c], labels == c) for c in range(scores.shape[1])]
        defined = [a for a in per_class if a is not None]
        return sum(defined) / len(defined) if defined else 0.0
