"""RS2: repeated random sampling.

Okanovic et al., "Repeated Random Sampling for Minimizing the Time-to-Accuracy of Learning",
ICLR 2024 (arXiv 2023): instead of a fixed coreset, train each round on a fresh uniform random
`ratio` percent of the data. Without replacement (the default) the rounds walk through a seeded
permutation of the samples, so every sample is used once before any is used again; with
``with_replacement: true`` every round draws independently. No scoring pass is needed; weights 1.
"""

from __future__ import annotations

import torch

from modyn.trainer_server.downsampling.base import Downsampler, ScoringBatch, target_size


class RS2Downsampler(Downsampler):
    name = "RS2"
    needs_forward = False
    needs_criterion = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._permutation: list[int] = []  # keys still to be used in this pass (without replacement)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def _reset_scores(self) -> None:
        pass

    def _inform(self, batch: ScoringBatch) -> None:
        pass

    def select(self) -> tuple[list[int], torch.Tensor]:
        n = len(self.keys)
        k = target_size(n, self.ratio)
        if self.config.get("with_replacement", False):
            chosen = torch.randperm(n, generator=self.generator)[:k].tolist()
            return sorted(chosen), torch.ones(k)
        position = {key: i for i, key in enumerate(self.keys)}
        # Keys no longer informed (another trigger's set) drop out of the walk.
        self._permutation = [key for key in self._permutation if key in position]
        chosen_keys: list[int] = []
        while len(chosen_keys) < k:
            if not self._permutation:
                taken = set(chosen_keys)
                fresh = [self.keys[i] for i in torch.randperm(n, generator=self.generator).tolist()]
                self._permutation = [key for key in fresh if key not in taken]
            take = min(k - len(chosen_keys), len(self._permutation))
            chosen_keys += self._permutation[:take]
            self._permutation = self._permutation[take:]
        return sorted(position[key] for key in chosen_keys), torch.ones(k)
