from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from modyn.supervisor.triggers.abstract_trigger import Trigger

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}


def parse_duration(text: str, path: str = "trigger.every") -> int:
    """'30s', '5m', '1d', ... → seconds."""
    match = re.fullmatch(r"(\d+)([smhdwy])", text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{path}: {text!r} is not a duration such as 30s, 5m, 2h, 1d, 1w, 1y")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


class TimeTrigger(Trigger):
    """Fires when sample time crosses each `every` boundary, counted from the first sample's timestamp.

    Parameters: `every` (duration: a number and a unit s, m, h, d, w or y).
    A trigger closes over the samples before the boundary; a gap that skips several periods fires once.
    """

    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        super().__init__(config, path)
        self.every_s = parse_duration(str(config["every"]), f"{path}.every")
        self._next_boundary: int | None = None

    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        indices: list[int] = []
        for i, ts in enumerate(timestamps):
            if self._next_boundary is None:
                self._next_boundary = ts + self.every_s
                continue
            if ts >= self._next_boundary:
                indices.append(i - 1)
                periods = (ts - self._next_boundary) // self.every_s + 1
                self._next_boundary += periods * self.every_s
        return indices
