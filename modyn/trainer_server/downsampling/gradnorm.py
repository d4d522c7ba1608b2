"""GradNorm: importance sampling proportional to the norm of each sample's last-layer gradient.

Katharopoulos & Fleuret, "Not All Samples Are Created Equal: Deep Learning with Importance
Sampling", ICML 2018: the norm of the loss gradient with respect to the model's outputs (logits)
is a cheap upper bound of the full per-sample gradient norm. Samples are drawn with probability
proportional to it (without replacement, `ratio` percent) and weighted by 1 / (n p_i).
No parameters besides `ratio`.
"""

from __future__ import annotations

import torch

from modyn.trainer_server.downsampling.base import Downsampler, ScoringBatch, importance_sample, target_size


class GradNormDownsampler(Downsampler):
    name = "GradNorm"

    def _reset_scores(self) -> None:
        self.scores: list[torch.Tensor] = []

    def _inform(self, batch: ScoringBatch) -> None:
        assert batch.outputs is not None and self.context.per_sample_criterion is not None
        with torch.enable_grad():
            outputs = batch.outputs.detach().float().requires_grad_(True)
            losses = self.context.per_sample_criterion(outputs, batch.targets)
            (gradient,) = torch.autograd.grad(losses.sum(), outputs)
        self.scores.append(gradient.flatten(1).norm(dim=1) if gradient.dim() > 1 else gradient.abs())

    def select(self) -> tuple[list[int], torch.Tensor]:
        scores = torch.cat(self.scores) if self.scores else torch.empty(0)
        return importance_sample(scores, target_size(scores.numel(), self.ratio), self.generator)
