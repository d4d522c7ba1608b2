"""`RandomNoReplacement` presampling: random subsets that use every key before any repeats."""

from __future__ import annotations

from collections.abc import Iterator

from modyn.selector.strategies.abstract_selection_strategy import TrainingSet, TriggerContext
from modyn.selector.strategies.presampling.abstract_presampling import AbstractPresampling
from modyn.selector.strategies.sampling import StratifiedSampler


class RandomNoReplacementPresampling(AbstractPresampling):
    """Keeps `ratio` percent of the window's keys, drawn uniformly at random among the keys that no
    earlier training set of the pipeline used; when fewer than that are left unused, it takes all
    of them plus a random draw of used ones, and the pool starts over (the keys of this set are the
    only ones then marked used). Repeated random sampling without replacement across rounds, as in
    RS2 (Okanovic et al., ICLR 2024), here across triggers."""

    name = "RandomNoReplacement"

    def select(self, ctx: TriggerContext, first_trigger_id: int) -> Iterator[TrainingSet]:
        totals = ctx.count(first_trigger_id, ctx.trigger_id, "used")
        unused, used = totals.get(0, 0), totals.get(1, 0)
        target = self.target_size(unused + used)
        take_unused = min(target, unused)
        reset = take_unused < target
        if reset:
            ctx.clear_used()
        sampler = StratifiedSampler({0: take_unused, 1: target - take_unused}, totals, ctx.rng)
        for chunk in ctx.stream(first_trigger_id, ctx.trigger_id, ("key", "used")):
            if sampler.done:
                break
            mask = sampler.select(chunk["used"])
            ctx.mark_used(chunk["key"][mask if reset else mask & (chunk["used"] == 0)])
            yield TrainingSet(chunk["key"][mask])
