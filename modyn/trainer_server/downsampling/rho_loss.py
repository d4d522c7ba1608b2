"""RHOLoss: train on the points with the highest reducible holdout loss.

Mindermann et al., "Prioritized Training on Points that are Learnable, Worth Learning, and Not Yet
Learnt", ICML 2022: reducible loss = training loss - irreducible loss, where the irreducible loss
of a sample is the loss of an "irreducible loss model" trained on a holdout set. Points that are
noisy (high irreducible loss) or already learnt (low training loss) score low.

Here the holdout set is a seeded `holdout_set_ratio` percent of the trigger training set; the
trainer trains a fresh model of the pipeline's class on it for `il_training_epochs` epochs with the
pipeline's optimizers, trains the main model only on the rest, and hands the irreducible-loss model
to this downsampler (`set_il_model`). Keeps the `ratio` percent highest reducible losses, weight 1.
"""

from __future__ import annotations

from typing import Any

import torch

from modyn.trainer_server.downsampling.base import Downsampler, ScoringBatch, target_size


class RHOLossDownsampler(Downsampler):
    name = "RHOLoss"

    def _reset_scores(self) -> None:
        self.scores: list[torch.Tensor] = []
        if not hasattr(self, "il_model"):
            self.il_model: torch.nn.Module | None = None

    def set_il_model(self, model: torch.nn.Module) -> None:
        self.il_model = model.eval()

    def irreducible_losses(self, inputs: Any, targets: Any) -> torch.Tensor:
        if self.il_model is None or self.context.per_sample_criterion is None:
            raise RuntimeError("RHOLoss: no irreducible-loss model (the holdout set was not trained on)")
        with torch.no_grad():
            return self.context.per_sample_criterion(self.il_model(inputs), targets).detach().float()

    def _inform(self, batch: ScoringBatch) -> None:
        assert batch.losses is not None
        reducible = batch.losses.detach().float() - self.irreducible_losses(batch.inputs, batch.targets)
        self.scores.append(reducible.flatten(1).mean(1).cpu() if reducible.dim() > 1 else reducible.cpu())

    def select(self) -> tuple[list[int], torch.Tensor]:
        scores = torch.cat(self.scores) if self.scores else torch.empty(0)
        k = target_size(scores.numel(), self.ratio)
        order = torch.sort(scores, descending=True, stable=True).indices[:k]
        return order.tolist(), torch.ones(k)
