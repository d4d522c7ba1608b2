"""The downsampler interface: score samples with the model being trained, keep `ratio` percent.

The trainer feeds a downsampler `ScoringBatch`es (one per batch in batch-then-sample mode, every
batch of the trigger training set in sample-then-batch mode), then calls `select()` to get the
indices (into everything informed since the last `reset()`) of the samples to train on and their
weights, which the trainer applies in the loss (a weighted mean of per-sample losses).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch


@dataclass
class ScoringBatch:
    """What a downsampler may look at for one batch. `outputs`/`losses`/`embeddings` are detached;
    `losses` are the per-sample losses of the pipeline's criterion (reduction 'none')."""

    keys: list[int]
    inputs: Any
    targets: Any
    outputs: torch.Tensor | None
    losses: torch.Tensor | None
    embeddings: torch.Tensor | None = None


@dataclass
class DownsamplingContext:
    """What the trainer hands every downsampler when it is built."""

    per_sample_criterion: Callable[[torch.Tensor, Any], torch.Tensor] | None
    device: torch.device
    seed: int


def target_size(n: int, ratio: int) -> int:
    """How many of `n` samples a `ratio` percent selection keeps (at least one of a non-empty set)."""
    if n <= 0:
        return 0
    return min(n, max(1, n * ratio // 100))


class Downsampler(ABC):
    """Accumulates scores over `inform` calls and selects from them.

    Class attributes tell the trainer what to compute: `needs_forward` (outputs and per-sample
    losses; False lets the trainer skip the scoring forward pass), `needs_embeddings` (the input of
    the model's last linear layer), `needs_criterion` (a criterion with reduction='none').
    """

    name: ClassVar[str]
    needs_forward: ClassVar[bool] = True
    needs_embeddings: ClassVar[bool] = False
    needs_criterion: ClassVar[bool] = True

    def __init__(self, ratio: int, config: dict[str, Any], context: DownsamplingContext) -> None:
        if not 1 <= ratio <= 100:
            raise ValueError(f"ratio must be a percentage in [1, 100], got {ratio}")
        self.ratio = ratio
        self.config = config
        self.context = context
        self.generator = torch.Generator().manual_seed(context.seed)
        self.keys: list[int] = []
        self.reset()

    def reset(self) -> None:
        """Forget what was informed (a new batch or a new selection round)."""
        self.keys = []
        self._reset_scores()

    @abstractmethod
    def _reset_scores(self) -> None: ...

    def inform(self, batch: ScoringBatch) -> None:
        self.keys.extend(batch.keys)
        self._inform(batch)

    @abstractmethod
    def _inform(self, batch: ScoringBatch) -> None: ...

    @abstractmethod
    def select(self) -> tuple[list[int], torch.Tensor]:
        """(indices into the informed samples, float weights of the same length)."""


def importance_sample(scores: torch.Tensor, k: int, generator: torch.Generator) -> tuple[list[int], torch.Tensor]:
    """Draw k indices without replacement with probability proportional to `scores` and weight each
    by 1 / (n p_i), the importance-sampling correction (uniform when all scores are 0)."""
    n = scores.numel()
    scores = scores.detach().double().clamp_min(0).cpu()
    total = scores.sum()
    probabilities = scores / total if total > 0 else torch.full((n,), 1.0 / n, dtype=torch.float64)
    positive = int((probabilities > 0).sum())
    if k > positive:  # multinomial without replacement cannot draw zero-probability items: add them last
        chosen = torch.nonzero(probabilities > 0).flatten().tolist()
        chosen += torch.nonzero(probabilities == 0).flatten().tolist()[: k - positive]
        indices = torch.tensor(chosen[:k])
    else:
        indices = torch.multinomial(probabilities, k, replacement=False, generator=generator)
    selected = probabilities[indices]
    # Zero-probability fillers get the largest weight among the others (they were never scored up).
    weights = torch.where(selected > 0, 1.0 / (n * selected.clamp_min(1e-300)), torch.tensor(0.0, dtype=torch.float64))
    if bool((weights == 0).any()):
        weights[weights == 0] = float(weights.max()) if bool((weights > 0).any()) else 1.0
    return indices.tolist(), weights.float()
