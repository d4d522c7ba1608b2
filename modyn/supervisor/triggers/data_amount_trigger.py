from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modyn.supervisor.triggers.abstract_trigger import Trigger


class DataAmountTrigger(Trigger):
    """Fires once for every `num_samples` new samples.

    Parameters (pipeline YAML, `trigger:`): `num_samples` (int > 0).
    Example: with num_samples 3 and 7 samples, triggers close after samples 3 and 6; the 7th waits.
    """

    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        super().__init__(config, path)
        self.num_samples = int(config["num_samples"])
        if self.num_samples <= 0:
            raise ValueError(f"{path}.num_samples: must be > 0")
        self._pending = 0  # samples seen since the last trigger

    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        first = self.num_samples - self._pending - 1
        indices = list(range(first, len(keys), self.num_samples))
        self._pending = (self._pending + len(keys)) % self.num_samples
        return indices
