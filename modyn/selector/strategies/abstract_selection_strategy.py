"""The interface every selection strategy implements, and the config checks they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from modyn.selector import key_store


@dataclass(frozen=True)
class TrainingSet:
    """A trigger training set: keys ordered by (timestamp, key), optionally one weight per key."""

    keys: NDArray[np.int64]
    weights: NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and len(self.weights) != len(self.keys):
            raise ValueError(f"{len(self.weights)} weights for {len(self.keys)} keys")


def config_int(config: dict[str, Any], field: str, minimum: int, default: int | None = None) -> int | None:
    """Read an integer option of `selection_strategy`; ValueError naming the field when it is bad."""
    value = config.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"selection_strategy.{field}: must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        text = "must be > 0" if minimum == 1 else f"must be >= {minimum}"
        raise ValueError(f"selection_strategy.{field}: {text}, got {value}")
    return value


class AbstractSelectionStrategy(ABC):
    """What the selector asks of a selection strategy.

    A strategy is bound to one pipeline. `inform` records keys under the trigger that is open;
    `trigger` computes the training set of the trigger being closed from the database state alone
    (never from memory), so a restarted selector computes the same sets. The selector cuts the
    returned set into partitions of `maximum_keys_in_memory` keys and splits them among workers.

    Common parameters (in the pipeline's `selection_strategy` section):
        name: the strategy's registered name.
        maximum_keys_in_memory: the most keys in one partition of a training set (> 0, default 100000).
    """

    name: ClassVar[str]
    # Option names this strategy accepts beyond the common ones.
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, pipeline_id: int, config: dict[str, Any]) -> None:
        self.pipeline_id = pipeline_id
        self.config = self.validate_config(config)
        self.maximum_keys_in_memory: int = self.config["maximum_keys_in_memory"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Check the config, return a copy with defaults filled in; ValueError naming the bad field."""
        allowed = ("name", "maximum_keys_in_memory", *cls.options)
        unknown = sorted(str(k) for k in config if k not in allowed)
        if unknown:
            raise ValueError(
                f"selection_strategy: unknown key(s) {', '.join(map(repr, unknown))} for {cls.name} "
                f"(allowed: {', '.join(allowed)})"
            )
        checked = dict(config)
        checked["name"] = cls.name
        checked["maximum_keys_in_memory"] = config_int(config, "maximum_keys_in_memory", 1, 100_000)
        return checked

    def inform(
        self,
        conn: Connection,
        trigger_id: int,
        keys: NDArray[np.int64],
        timestamps: NDArray[np.int64],
        labels: NDArray[np.int64] | None,
    ) -> int:
        """Record new keys under the open trigger `trigger_id`; return how many were not known yet."""
        return key_store.insert_keys(conn, self.pipeline_id, trigger_id, keys, timestamps, labels)

    @abstractmethod
    def trigger(self, conn: Connection, trigger_id: int) -> TrainingSet:
        """The training set of trigger `trigger_id` (the one being closed), ordered by (timestamp, key)."""
