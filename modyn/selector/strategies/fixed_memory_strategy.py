"""Base of the strategies whose training set is a replay memory of `memory_size` keys."""

from __future__ import annotations

from typing import Any

from modyn.selector.strategies.abstract_selection_strategy import AbstractSelectionStrategy, config_required_int


class FixedMemoryStrategy(AbstractSelectionStrategy):
    """Holds and validates `memory_size` (required, > 0); subclasses decide what the memory keeps."""

    options = ("memory_size",)

    def __init__(self, pipeline_id: int, config: dict[str, Any]) -> None:
        super().__init__(pipeline_id, config)
        self.memory_size: int = self.config["memory_size"]

    @classmethod
    def validate_config(cls, config: dict[str, Any], default_seed: int | None = None) -> dict[str, Any]:
        checked = super().validate_config(config, default_seed)
        checked["memory_size"] = config_required_int(config, "memory_size", 1)
        return checked
