"""KcenterGreedy: a greedy k-center coreset of the samples' embeddings.

Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
ICLR 2018: choose centers so that every sample is close to one of them, greedily: start at the
sample closest to the mean embedding, then repeatedly add the sample farthest from all chosen
centers (Euclidean distance). Embeddings are the input of the model's last linear layer (its
outputs when it has none). Keeps `ratio` percent, each with weight 1. No other parameters.
"""

from __future__ import annotations

import torch

from modyn.trainer_server.downsampling.base import Downsampler, ScoringBatch, target_size


def k_center_greedy(embeddings: torch.Tensor, k: int) -> list[int]:
    points = embeddings.detach().double().flatten(1).cpu()
    n = points.shape[0]
    if k <= 0 or n == 0:
        return []
    first = int(torch.cdist(points, points.mean(dim=0, keepdim=True)).flatten().argmin())
    chosen = [first]
    distance = torch.cdist(points, points[first : first + 1]).flatten()
    for _ in range(1, k):
        nxt = int(distance.argmax())  # the first of equal maxima
        chosen.append(nxt)
        distance = torch.minimum(distance, torch.cdist(points, points[nxt : nxt + 1]).flatten())
    return chosen


class KcenterGreedyDownsampler(Downsampler):
    name = "KcenterGreedy"
    needs_embeddings = True
    needs_criterion = False

    def _reset_scores(self) -> None:
        self.embeddings: list[torch.Tensor] = []

    def _inform(self, batch: ScoringBatch) -> None:
        source = batch.embeddings if batch.embeddings is not None else batch.outputs
        assert source is not None
        self.embeddings.append(source.detach().float().flatten(1).cpu())

    def select(self) -> tuple[list[int], torch.Tensor]:
        if not self.embeddings:
            return [], torch.empty(0)
        points = torch.cat(self.embeddings)
        k = target_size(points.shape[0], self.ratio)
        return k_center_greedy(points, k), torch.ones(k)
