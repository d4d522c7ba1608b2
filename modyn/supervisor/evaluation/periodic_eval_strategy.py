"""PeriodicEvalStrategy: sliding windows of `window` length every `every`, as Modyn's periodic evaluation.

Config: `every` (duration, e.g. `1d`), `window` (duration, default = `every`: tumbling windows; longer:
overlapping), `start_timestamp` / `end_timestamp` (optional; default: the first trigger's first sample
and the last trigger's last sample).

Windows are [s, s + window - 1] for s = start, start + every, ... while s <= end.
After a trigger: the windows from the start up to that trigger's last sample (so each new model is
scored on the whole history, window by window). In the matrix: all windows up to the end.
"""

from __future__ import annotations

from typing import Any

from modyn.supervisor.evaluation.eval_strategy import EvalStrategy, Interval, timed
from modyn.supervisor.triggers.time_trigger import parse_duration

MAX_WINDOWS = 10_000


class PeriodicEvalStrategy(EvalStrategy):
    name = "PeriodicEvalStrategy"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.every_s = parse_duration(str(config["every"]), "every")
        self.window_s = parse_duration(str(config.get("window", config["every"])), "window")
        self.start: int | None = config.get("start_timestamp")
        self.end: int | None = config.get("end_timestamp")

    def _windows(self, start: int | None, end: int | None) -> list[Interval]:
        if start is None or end is None or start > end:
            return []
        count = (end - start) // self.every_s + 1
        if count > MAX_WINDOWS:
            raise ValueError(
                f"{count} windows of every {self.every_s}s between {start} and {end} (at most {MAX_WINDOWS})"
            )
        return [(s, s + self.window_s - 1) for s in range(start, end + 1, self.every_s)]

    def after_trigger(self, trigger: dict[str, Any], history: list[dict[str, Any]]) -> list[Interval]:
        known = timed(history)
        start = self.start if self.start is not None else (int(known[0]["first_timestamp"]) if known else None)
        end = self.end if self.end is not None else (int(known[-1]["last_timestamp"]) if known else None)
        if end is not None and known:
            end = min(end, int(known[-1]["last_timestamp"]))
        return self._windows(start, end)

    def for_matrix(self, triggers: list[dict[str, Any]]) -> list[Interval]:
        known = timed(triggers)
        start = self.start if self.start is not None else (int(known[0]["first_timestamp"]) if known else None)
        end = self.end if self.end is not None else (int(known[-1]["last_timestamp"]) if known else None)
        return self._windows(start, end)
