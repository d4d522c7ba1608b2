"""A fully connected classifier for flat (or flattenable) inputs such as tabular rows or small images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """Linear layers of sizes `hidden_dims` with ReLU between them, then a linear output layer.

    The input is flattened from dimension 1 on, so a batch of 1x28x28 images works with input_dim 784.
    """

    def __init__(self, input_dim: int, hidden_dims: Sequence[int] = (128,), num_classes: int = 10) -> None:
        super().__init__()
        if input_dim <= 0 or num_classes <= 0 or any(h <= 0 for h in hidden_dims):
            raise ValueError(
                f"MLP dimensions must be positive (input_dim={input_dim}, hidden_dims={list(hidden_dims)}, "
                f"num_classes={num_classes})"
            )
        layers: list[nn.Module] = []
        width = input_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.flatten(x, start_dim=1))
