"""`Random` presampling: a uniform random subset of the window."""

from __future__ import annotations

from collections.abc import Iterator

from modyn.selector.strategies.abstract_selection_strategy import TrainingSet, TriggerContext
from modyn.selector.strategies.presampling.abstract_presampling import AbstractPresampling, sample_groups


class RandomPresampling(AbstractPresampling):
    """Keeps `ratio` percent of the window's keys (rounded down), drawn uniformly at random without
    replacement, independently for every trigger (seeded with (seed, trigger id)). Random
    presampling before an expensive downsampler is the cheap baseline of Okanovic et al.,
    "Repeated Random Sampling for Minimizing the Time-to-Accuracy of Learning", ICLR 2024."""

    name = "Random"

    def select(self, ctx: TriggerContext, first_trigger_id: int) -> Iterator[TrainingSet]:
        totals = ctx.count(first_trigger_id, ctx.trigger_id)
        targets = {0: self.target_size(totals.get(0, 0))}
        yield from sample_groups(ctx, first_trigger_id, None, targets, totals)
