"""NewDataStrategy: train on the data that is new since recent triggers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modyn.selector.strategies.abstract_selection_strategy import (
    AbstractSelectionStrategy,
    TrainingSet,
    TriggerContext,
    config_choice,
    config_int,
    first_trigger,
)
from modyn.selector.strategies.sampling import StratifiedSampler

LIMIT_RESETS = ("lastX", "sampleUAR")


class NewDataStrategy(AbstractSelectionStrategy):
    """Selects the keys informed in the trigger being closed and, optionally, in the ones before it:
    plain retraining on fresh data (the "fine-tune on new data" / "retrain on all data" baselines of
    Böther et al., "Modyn: Data-Centric Machine Learning Pipeline Orchestration", SIGMOD 2025).

    Parameters (besides `name`, `maximum_keys_in_memory` and `seed`):
        tail_triggers: absent (or null): every key informed so far; 0: only the keys informed since
            the previous trigger; k > 0: those plus the keys of the k triggers before it.
        limit: -1 (default): no limit; n >= 0: at most n keys.
        limit_reset: how `limit` picks n keys when there are more: `lastX` (default): the n most
            recent by (timestamp, key); `sampleUAR`: n keys uniformly at random, without replacement
            (seeded).

    The training set is ordered by (timestamp, key) and carries no weights. The keys are streamed
    from the database chunk by chunk: memory stays bounded by `maximum_keys_in_memory` however many
    keys the window covers.

    Example: with tail_triggers 1 and keys 1, 2 informed before trigger 0, 3 before trigger 1 and
    4 before trigger 2, the training sets are [1, 2], [1, 2, 3] and [3, 4].
    """

    name = "NewDataStrategy"
    options = ("tail_triggers", "limit", "limit_reset")

    def __init__(self, pipeline_id: int, config: dict[str, Any]) -> None:
        super().__init__(pipeline_id, config)
        self.tail_triggers: int | None = self.config["tail_triggers"]
        self.limit: int = self.config["limit"]
        self.limit_reset: str = self.config["limit_reset"]

    @classmethod
    def validate_config(cls, config: dict[str, Any], default_seed: int | None = None) -> dict[str, Any]:
        checked = super().validate_config(config, default_seed)
        checked["tail_triggers"] = config_int(config, "tail_triggers", 0)
        checked["limit"] = config_int(config, "limit", -1, -1)
        checked["limit_reset"] = config_choice(config, "limit_reset", LIMIT_RESETS, "lastX")
        return checked

    def trigger(self, ctx: TriggerContext) -> Iterator[TrainingSet]:
        first = first_trigger(self.tail_triggers, ctx.trigger_id)
        if self.limit < 0:
            for chunk in ctx.stream(first, ctx.trigger_id, ("key",)):
                yield TrainingSet(chunk["key"])
            return
        total = ctx.count(first, ctx.trigger_id).get(0, 0)
        if total <= self.limit or self.limit_reset == "lastX":
            for chunk in ctx.stream(first, ctx.trigger_id, ("key",), offset=max(0, total - self.limit)):
                yield TrainingSet(chunk["key"])
            return
        sampler = StratifiedSampler({0: self.limit}, {0: total}, ctx.rng)
        for chunk in ctx.stream(first, ctx.trigger_id, ("key",)):
            mask = sampler.select(chunk["key"] * 0)
            yield TrainingSet(chunk["key"][mask])
