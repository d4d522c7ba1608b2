"""The interface every evaluation metric implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch


class Metric(ABC):
    """A metric that accumulates over batches: `update(outputs, labels)` per batch, `result()` at the end.

    `outputs` are the model's outputs for a batch: shape (N, C) scores/logits (prediction = argmax), or
    shape (N,) / (N, 1) scores of the positive class of a binary problem (prediction = score >= 0.5).
    `labels` are integer class labels of shape (N,).
    """

    #: The name under which the metric is requested ({"name": ...}) and reported.
    name: str = ""
    #: Config keys the metric accepts besides "name".
    config_keys: frozenset[str] = frozenset()

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        config.pop("name", None)
        unknown = sorted(set(config) - self.config_keys)
        if unknown:
            allowed = ", ".join(sorted(self.config_keys)) or "none"
            raise ValueError(f"{self.name}: unknown config key(s) {', '.join(map(repr, unknown))} (allowed: {allowed})")
        self.config = config

    @abstractmethod
    def update(self, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        """Add one batch of model outputs and their labels."""

    @abstractmethod
    def result(self) -> float:
        """The metric over every batch seen so far."""


def predicted_classes(outputs: torch.Tensor, metric_name: str) -> torch.Tensor:
    """Class predictions from a batch of outputs: argmax over classes, or threshold 0.5 for binary scores."""
    outputs = outputs.detach()
    if outputs.dim() == 2 and outputs.shape[1] == 1:
        outputs = outputs[:, 0]
    if outputs.dim() == 1:
        return (outputs >= 0.5).to(torch.int64).cpu()
    if outputs.dim() == 2:
        return outputs.argmax(dim=1).to(torch.int64).cpu()
    raise ValueError(f"{metric_name}: expected model outputs of shape (N, C) or (N,), got {tuple(outputs.shape)}")


def as_label_tensor(labels: torch.Tensor, num_outputs: int, metric_name: str) -> torch.Tensor:
    """Labels as a flat int64 CPU tensor, checked against the batch size of the outputs."""
    labels = torch.as_tensor(labels).detach().reshape(-1).to(torch.int64).cpu()
    if labels.numel() != num_outputs:
        raise ValueError(f"{metric_name}: {num_outputs} model outputs but {labels.numel()} labels in a batch")
    return labels
