"""StaticEvalStrategy: evaluate on fixed intervals, the same after every trigger and in the matrix.

Config: `intervals`: a list of `{start: TS, end: TS}` (inclusive sample timestamps; `end` may be
omitted for "until the end of time", `start` for "since the beginning").
"""

from __future__ import annotations

from typing import Any

from modyn.supervisor.evaluation.eval_strategy import EvalStrategy, Interval

MIN_TS = -(2**62)
MAX_TS = 2**62


class StaticEvalStrategy(EvalStrategy):
    name = "StaticEvalStrategy"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.intervals: list[Interval] = [
            (int(i.get("start", MIN_TS)), int(i.get("end", MAX_TS))) for i in config.get("intervals", [])
        ]
        for index, (start, end) in enumerate(self.intervals):
            if start > end:
                raise ValueError(f"intervals[{index}]: start {start} is after end {end}")

    def after_trigger(self, trigger: dict[str, Any], history: list[dict[str, Any]]) -> list[Interval]:
        return list(self.intervals)

    def for_matrix(self, triggers: list[dict[str, Any]]) -> list[Interval]:
        return list(self.intervals)
