"""DLRM (Naumov et al., "Deep Learning Recommendation Model for Personalization and
Recommendation Systems", 2019), written from the paper, for click-through-rate data.

Dense features go through the bottom MLP to an `embedding_dim` vector; each categorical feature
is looked up in its own embedding table (`embedding_sizes[i]` rows, `embedding_dim` columns). The
interaction is the dot product of every pair among these vectors (the strictly lower triangle),
concatenated with the bottom MLP's output and fed to the top MLP, which ends in one logit
(use BCEWithLogitsLoss with float labels).

Input: a dict with `numerical_input` (float, batch x num_dense_features) and
`categorical_input` (int, batch x len(embedding_sizes)); indices are taken modulo the table size
(hashing, as in the paper's implementation). Output: logits of shape (batch,).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _mlp(sizes: Sequence[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    """Parameters: num_dense_features, embedding_sizes (rows per categorical feature), embedding_dim,
    bottom_mlp (hidden sizes before the final embedding_dim layer), top_mlp (hidden sizes before
    the final 1-unit layer), sparse (sparse embedding gradients, for SparseAdam)."""

    def __init__(
        self,
        num_dense_features: int = 13,
        embedding_sizes: Sequence[int] = (1000,) * 26,
        embedding_dim: int = 16,
        bottom_mlp: Sequence[int] = (64, 32),
        top_mlp: Sequence[int] = (64, 32),
        sparse: bool = False,
    ) -> None:
        super().__init__()
        if num_dense_features <= 0 or embedding_dim <= 0 or any(s <= 0 for s in embedding_sizes):
            raise ValueError(
                f"DLRM sizes must be positive (num_dense_features={num_dense_features}, "
                f"embedding_dim={embedding_dim}, embedding_sizes={list(embedding_sizes)})"
            )
        self.embedding_sizes = list(embedding_sizes)
        self.bottom_mlp = _mlp([num_dense_features, *bottom_mlp, embedding_dim], last_activation=True)
        self.embeddings = nn.ModuleList(nn.Embedding(size, embedding_dim, sparse=sparse) for size in embedding_sizes)
        num_vectors = 1 + len(self.embeddings)
        interactions = num_vectors * (num_vectors - 1) // 2
        self.top_mlp = _mlp([embedding_dim + interactions, *top_mlp, 1], last_activation=False)
        rows, cols = torch.tril_indices(num_vectors, num_vectors, offset=-1)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)
        self.register_buffer("_sizes", torch.tensor(self.embedding_sizes, dtype=torch.long), persistent=False)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        dense = self.bottom_mlp(x["numerical_input"].float())
        categorical = x["categorical_input"].long()
        if categorical.shape[1] != len(self.embeddings):
            raise ValueError(f"DLRM expects {len(self.embeddings)} categorical features, got {categorical.shape[1]}")
        sizes: torch.Tensor = self._sizes  # type: ignore[assignment]
        rows: torch.Tensor = self._rows  # type: ignore[assignment]
        cols: torch.Tensor = self._cols  # type: ignore[assignment]
        categorical = torch.remainder(categorical, sizes)
        vectors = [dense] + [table(categorical[:, i]) for i, table in enumerate(self.embeddings)]
        stacked = torch.stack(vectors, dim=1)  # batch x vectors x dim
        dots = torch.bmm(stacked, stacked.transpose(1, 2))[:, rows, cols]
        return self.top_mlp(torch.cat([dense, dots], dim=1)).squeeze(1)
