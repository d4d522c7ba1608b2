"""NewDataStrategy: train on the data that is new since recent triggers."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Connection

from modyn.selector import key_store
from modyn.selector.strategies.abstract_selection_strategy import AbstractSelectionStrategy, TrainingSet, config_int


class NewDataStrategy(AbstractSelectionStrategy):
    """Selects the keys informed in the trigger being closed and, optionally, in the ones before it.

    Parameters (besides `name` and `maximum_keys_in_memory`):
        tail_triggers: absent (or null): every key informed so far; 0: only the keys informed since
            the previous trigger; k > 0: those plus the keys of the k triggers before it.
        limit: -1 (default): no limit; n >= 0: keep at most n keys, the most recent ones by
            (timestamp, key).

    The training set is ordered by (timestamp, key) and carries no weights.

    Example: with tail_triggers 1 and keys 1, 2 informed before trigger 0, 3 before trigger 1 and
    4 before trigger 2, the training sets are [1, 2], [1, 2, 3] and [3, 4].
    """

    name = "NewDataStrategy"
    options = ("tail_triggers", "limit")

    def __init__(self, pipeline_id: int, config: dict[str, Any]) -> None:
        super().__init__(pipeline_id, config)
        self.tail_triggers: int | None = self.config["tail_triggers"]
        self.limit: int = self.config["limit"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        checked = super().validate_config(config)
        checked["tail_triggers"] = config_int(config, "tail_triggers", 0)
        checked["limit"] = config_int(config, "limit", -1, -1)
        return checked

    def trigger(self, conn: Connection, trigger_id: int) -> TrainingSet:
        first = 0 if self.tail_triggers is None else max(0, trigger_id - self.tail_triggers)
        keys, timestamps = key_store.read_keys(conn, self.pipeline_id, first, trigger_id)
        order = np.lexsort((keys, timestamps))
        keys = keys[order]
        if self.limit >= 0 and len(keys) > self.limit:
            keys = keys[len(keys) - self.limit :]
        return TrainingSet(np.ascontiguousarray(keys))
