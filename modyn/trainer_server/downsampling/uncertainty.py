"""Uncertainty: keep the samples the model is least certain about.

Coleman et al., "Selection via Proxy: Efficient Data Selection for Deep Learning", ICLR 2020.
Scores from the softmax of the model's outputs, higher = more uncertain:

- ``LeastConfidence``: 1 - max_c p_c
- ``Entropy``: -sum_c p_c log p_c
- ``Margin``: 1 - (p_top1 - p_top2)

Keeps the `ratio` percent highest scores (ties: the earlier sample), each with weight 1.
Parameter: ``score_metric`` (default LeastConfidence).
"""

from __future__ import annotations

import torch

from modyn.trainer_server.downsampling.base import Downsampler, ScoringBatch, target_size

METRICS = ("LeastConfidence", "Entropy", "Margin")


def uncertainty_scores(outputs: torch.Tensor, metric: str) -> torch.Tensor:
    logits = outputs.detach().float()
    if logits.dim() == 1 or logits.shape[-1] == 1:  # one logit: a binary classifier
        positive = torch.sigmoid(logits.reshape(-1))
        probabilities = torch.stack([1 - positive, positive], dim=1)
    else:
        probabilities = torch.softmax(logits.flatten(1), dim=1)
    if metric == "LeastConfidence":
        return 1.0 - probabilities.max(dim=1).values
    if metric == "Entropy":
        return -(probabilities * torch.log(probabilities.clamp_min(1e-12))).sum(dim=1)
    if metric == "Margin":
        top = probabilities.topk(2, dim=1).values
        return 1.0 - (top[:, 0] - top[:, 1])
    raise ValueError(f"score_metric must be one of {', '.join(METRICS)}, got {metric!r}")


class UncertaintyDownsampler(Downsampler):
    name = "Uncertainty"
    needs_criterion = False

    def _reset_scores(self) -> None:
        self.metric = self.config.get("score_metric", "LeastConfidence")
        if self.metric not in METRICS:
            raise ValueError(f"score_metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        self.scores: list[torch.Tensor] = []

    def _inform(self, batch: ScoringBatch) -> None:
        assert batch.outputs is not None
        self.scores.append(uncertainty_scores(batch.outputs, self.metric).cpu())

    def select(self) -> tuple[list[int], torch.Tensor]:
        scores = torch.cat(self.scores) if self.scores else torch.empty(0)
        k = target_size(scores.numel(), self.ratio)
        # A stable descending sort: equal scores keep their order.
        order = torch.sort(scores, descending=True, stable=True).indices[:k]
        return order.tolist(), torch.ones(k)
