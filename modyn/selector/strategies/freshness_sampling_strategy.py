"""FreshnessSamplingStrategy: a fixed mix of never-used and already-used data in every trigger."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from modyn.selector.strategies.abstract_selection_strategy import (
    AbstractSelectionStrategy,
    TrainingSet,
    TriggerContext,
    config_int,
    config_required_int,
)
from modyn.selector.strategies.sampling import StratifiedSampler


class FreshnessSamplingStrategy(AbstractSelectionStrategy):
    """Every training set holds `unused_data_ratio` percent keys that no earlier training set of the
    pipeline used, and the rest keys that one did: replay of old data mixed with fresh data at a
    fixed ratio (Modyn's freshness sampling; cf. the replay ratios studied by Rolnick et al.,
    "Experience Replay for Continual Learning", NeurIPS 2019).

    Parameters (besides `name`, `maximum_keys_in_memory` and `seed`):
        unused_data_ratio: required, 0..100: the percentage of the set drawn from unused keys.
        limit: -1 (default): as large as the ratio allows; n >= 0: at most n keys.

    All keys informed so far are candidates. With U unused and V used keys, the set is as large as
    possible with the ratio kept: T = min(U / r, V / (1 - r)) keys (r = ratio / 100), capped by
    `limit`; round(T * r) unused and the rest used keys, each drawn uniformly at random without
    replacement (seeded). While no key has been used yet (the first trigger), the set is the unused
    keys alone (up to `limit`). The keys a set uses are marked used when the trigger is stored. The
    set is ordered by (timestamp, key) and carries no weights.
    """

    name = "FreshnessSamplingStrategy"
    options = ("unused_data_ratio", "limit")

    def __init__(self, pipeline_id: int, config: dict[str, Any]) -> None:
        super().__init__(pipeline_id, config)
        self.unused_data_ratio: int = self.config["unused_data_ratio"]
        self.limit: int = self.config["limit"]

    @classmethod
    def validate_config(cls, config: dict[str, Any], default_seed: int | None = None) -> dict[str, Any]:
        checked = super().validate_config(config, default_seed)
        checked["unused_data_ratio"] = config_required_int(config, "unused_data_ratio", 0, maximum=100)
        checked["limit"] = config_int(config, "limit", -1, -1)
        return checked

    def targets(self, unused: int, used: int) -> tuple[int, int]:
        """(unused keys, used keys) to pick out of `unused` and `used` candidates."""
        cap = self.limit if self.limit >= 0 else unused + used
        if used == 0:
            return min(unused, cap), 0
        ratio = self.unused_data_ratio / 100
        size = min(
            unused / ratio if ratio > 0 else math.inf,
            used / (1 - ratio) if ratio < 1 else math.inf,
            cap,
        )
        total = int(math.floor(size + 1e-9))
        take_unused = min(unused, int(round(total * ratio)))
        return take_unused, min(used, total - take_unused)

    def trigger(self, ctx: TriggerContext) -> Iterator[TrainingSet]:
        counts = ctx.count(0, ctx.trigger_id, "used")
        unused, used = counts.get(0, 0), counts.get(1, 0)
        take_unused, take_used = self.targets(unused, used)
        sampler = StratifiedSampler({0: take_unused, 1: take_used}, {0: unused, 1: used}, ctx.rng)
        for chunk in ctx.stream(0, ctx.trigger_id, ("key", "used")):
            if sampler.done:
                break
            mask = sampler.select(chunk["used"])
            ctx.mark_used(chunk["key"][mask & (chunk["used"] == 0)])
            yield TrainingSet(chunk["key"][mask])
