"""Detection windows for the triggers that judge data in windows (drift, performance).

A window config is either `{num_samples: N}` (every N new samples) or `{every: DURATION}` (sample time
crosses a boundary; boundaries every DURATION from the first sample's timestamp, as TimeTrigger).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modyn.supervisor.triggers.time_trigger import parse_duration


class Windowing:
    """Cuts the stream into consecutive windows, consuming only up to the window that closes."""

    def __init__(self, config: dict[str, Any], path: str) -> None:
        if not isinstance(config, dict) or len({"num_samples", "every"} & set(config)) != 1:
            raise ValueError(f"{path}: give exactly one of num_samples or every")
        self.num_samples: int | None = None
        self.every_s: int | None = None
        if "num_samples" in config:
            self.num_samples = int(config["num_samples"])
            if self.num_samples <= 1:
                raise ValueError(f"{path}.num_samples: must be > 1")
        else:
            self.every_s = parse_duration(str(config["every"]), f"{path}.every")
        self._keys: list[int] = []
        self._boundary: int | None = None

    def scan(self, keys: Sequence[int], timestamps: Sequence[int], start: int) -> tuple[int, list[int], int] | None:
        """Consume samples from `start` until a window closes.

        Returns (index of the window's last sample, the window's keys, where to continue), or None when
        the batch ended first (then every sample from `start` on has been consumed). A time window closes
        at the first sample past its boundary; that sample is not consumed (the index may be start - 1).
        """
        if self.num_samples is not None:
            need = self.num_samples - len(self._keys)
            if start + need <= len(keys):
                window = self._keys + list(keys[start : start + need])
                self._keys = []
                return start + need - 1, window, start + need
            self._keys.extend(keys[start:])
            return None
        assert self.every_s is not None
        for i in range(start, len(keys)):
            ts = int(timestamps[i])
            if self._boundary is None:
                self._boundary = ts + self.every_s
            elif ts >= self._boundary:
                self._boundary += ((ts - self._boundary) // self.every_s + 1) * self.every_s
                window, self._keys = self._keys, []
                return i - 1, window, i
            self._keys.append(int(keys[i]))
        return None

    @property
    def pending(self) -> int:
        """Samples of the window still open."""
        return len(self._keys)
