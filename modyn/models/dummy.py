"""The smallest model: one linear layer. For tests and smoke runs of the pipeline."""

from __future__ import annotations

import torch
from torch import nn


class Dummy(nn.Module):
    """A single linear layer from `input_dim` features to `num_classes` logits (input flattened)."""

    def __init__(self, input_dim: int = 2, num_classes: int = 2) -> None:
        super().__init__()
        self.output = nn.Linear(input_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.flatten(x, start_dim=1))
