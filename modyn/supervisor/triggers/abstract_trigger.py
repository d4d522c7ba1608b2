from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any


class Trigger(ABC):
    """Decides when to retrain. It sees the new samples in (timestamp, key) order, batch by batch.

    `inform` returns, for each trigger that fires within the batch, the index of the last sample that
    belongs to it (-1: the trigger closes over data seen in earlier batches only). Indices ascend.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def inform(self, keys: Sequence[int], timestamps: Sequence[int]) -> list[int]: ...
