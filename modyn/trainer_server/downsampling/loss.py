"""Loss: importance sampling proportional to each sample's loss.

Katharopoulos & Fleuret, "Not All Samples Are Created Equal: Deep Learning with Importance
Sampling", ICML 2018: samples with a high loss contribute large gradients, so they are drawn with
probability p_i = loss_i / sum(loss) (without replacement, `ratio` percent of them) and weighted by
1 / (n p_i) to keep the gradient estimate unbiased. No parameters besides `ratio`.
"""

from __future__ import annotations

import torch

from modyn.trainer_server.downsampling.base import Downsampler, ScoringBatch, importance_sample, target_size


class LossDownsampler(Downsampler):
    name = "Loss"

    def _reset_scores(self) -> None:
        self.scores: list[torch.Tensor] = []

    def _inform(self, batch: ScoringBatch) -> None:
        assert batch.losses is not None
        self.scores.append(
            batch.losses.detach().float().flatten(1).mean(1)
            if batch.losses.dim() > 1
            else batch.losses.detach().float()
        )

    def select(self) -> tuple[list[int], torch.Tensor]:
        scores = torch.cat(self.scores) if self.scores else torch.empty(0)
        return importance_sample(scores, target_size(scores.numel(), self.ratio), self.generator)
