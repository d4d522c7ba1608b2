"""`No` presampling: the whole window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modyn.selector.strategies.abstract_selection_strategy import TrainingSet, TriggerContext
from modyn.selector.strategies.presampling.abstract_presampling import PREFIX, AbstractPresampling


class NoPresampling(AbstractPresampling):
    """Keeps every key of the window (the trainer's downsampling does all the selecting). `ratio`
    must be 100 (its default)."""

    name = "No"

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        checked = super().validate_config(config)
        if checked["ratio"] != 100:
            raise ValueError(f"{PREFIX}.ratio: must be 100 with strategy No, got {checked['ratio']}")
        return checked

    def select(self, ctx: TriggerContext, first_trigger_id: int) -> Iterator[TrainingSet]:
        for chunk in ctx.stream(first_trigger_id, ctx.trigger_id, ("key",)):
            yield TrainingSet(chunk["key"])
