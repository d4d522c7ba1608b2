"""CoresetStrategy: presampling at the selector, downsampling by the trainer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modyn.selector.strategies.abstract_selection_strategy import (
    AbstractSelectionStrategy,
    TrainingSet,
    TriggerContext,
    config_int,
    first_trigger,
)
from modyn.selector.strategies.presampling import AbstractPresampling, presampling_class


class CoresetStrategy(AbstractSelectionStrategy):
    """Data selection in two stages (Böther et al., "Modyn", SIGMOD 2025): the selector presamples
    the trigger window cheaply, then the trainer downsamples each presampled set with the model
    being trained (loss, gradient norm, uncertainty, ... — Katharopoulos & Fleuret 2018, Coleman et
    al. 2020, Sener & Savarese 2018) and trains on the chosen part.

    Parameters (besides `name`, `maximum_keys_in_memory` and `seed`):
        tail_triggers: the window, as for NewDataStrategy (absent: all data so far; 0: new data only).
        presampling_config: {strategy: No | Random | RandomNoReplacement | LabelBalanced |
            TriggerBalanced, ratio: 1..100, force_column_balancing, force_required_target_size}
            (default {strategy: No}); see the presampling classes.
        downsampling_config: the trainer's downsampling (schema pipeline/downsampling.yaml); the
            selector stores it and hands it out (GetSelectionStrategy), the trainer applies it.
            Absent: no downsampling.
        warmup_triggers: >= 0 (default 0): the first this-many triggers train on the whole
            presampled set, without downsampling.

    The training set is the presampled set, ordered by (timestamp, key), without weights (the
    trainer weighs what it downsamples itself).
    """

    name = "CoresetStrategy"
    options = ("tail_triggers", "presampling_config", "downsampling_config", "warmup_triggers")

    def __init__(self, pipeline_id: int, config: dict[str, Any]) -> None:
        super().__init__(pipeline_id, config)
        self.tail_triggers: int | None = self.config["tail_triggers"]
        self.presampling: AbstractPresampling = presampling_class(self.config["presampling_config"]["strategy"])(
            self.config["presampling_config"]
        )

    @classmethod
    def validate_config(cls, config: dict[str, Any], default_seed: int | None = None) -> dict[str, Any]:
        checked = super().validate_config(config, default_seed)
        checked["tail_triggers"] = config_int(config, "tail_triggers", 0)
        presampling = config.get("presampling_config", {"strategy": "No"})
        if not isinstance(presampling, dict):
            raise ValueError("selection_strategy.presampling_config: must be a mapping")
        if "strategy" not in presampling:
            raise ValueError("selection_strategy.presampling_config.strategy: is required")
        checked["presampling_config"] = presampling_class(presampling["strategy"]).validate_config(presampling)
        downsampling = config.get("downsampling_config")
        if downsampling is not None and not isinstance(downsampling, dict):
            raise ValueError("selection_strategy.downsampling_config: must be a mapping")
        checked["downsampling_config"] = downsampling
        checked["warmup_triggers"] = config_int(config, "warmup_triggers", 0, 0)
        return checked

    @property
    def downsampling_config(self) -> dict[str, Any] | None:
        config = self.config["downsampling_config"]
        if not config or config.get("strategy") in (None, "No"):
            return None
        return dict(config)

    @property
    def warmup_triggers(self) -> int:
        return int(self.config["warmup_triggers"])

    @property
    def status_bar_scale(self) -> int:
        config = self.downsampling_config
        ratio = config.get("ratio") if config else None
        return int(ratio) if isinstance(ratio, int) and not isinstance(ratio, bool) and 0 < ratio <= 100 else 100

    def trigger(self, ctx: TriggerContext) -> Iterator[TrainingSet]:
        yield from self.presampling.select(ctx, first_trigger(self.tail_triggers, ctx.trigger_id))
