"""OffsetEvalStrategy: evaluate a model on the period right after its trigger ("how does it do next?").

Config: `length`: `trigger` (default: as long as the trigger's own data period) or a duration such as
`1h`, `2d` (units s, m, h, d, w, y).

After a trigger whose new data spans [first, last]: the interval [last + 1, last + length].
In the matrix: the periods of the triggers, [first_i, first_{i+1} - 1] (the last one [first_n, last_n]),
so row i column j says how model i does on the data of trigger j (Modyn's evaluation matrix:
the diagonal is the model's own training period, right of it the future, left of it the past).
"""

from __future__ import annotations

from typing import Any

from modyn.supervisor.evaluation.eval_strategy import EvalStrategy, Interval, timed
from modyn.supervisor.triggers.time_trigger import parse_duration


class OffsetEvalStrategy(EvalStrategy):
    name = "OffsetEvalStrategy"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        length = config.get("length", "trigger")
        self.length_s = None if length == "trigger" else parse_duration(str(length), "length")

    def after_trigger(self, trigger: dict[str, Any], history: list[dict[str, Any]]) -> list[Interval]:
        if not timed([trigger]):
            return []
        first, last = int(trigger["first_timestamp"]), int(trigger["last_timestamp"])
        length = self.length_s if self.length_s is not None else last - first + 1
        return [(last + 1, last + length)]

    def for_matrix(self, triggers: list[dict[str, Any]]) -> list[Interval]:
        known = timed(triggers)
        periods: list[Interval] = []
        for index, trigger in enumerate(known):
            first = int(trigger["first_timestamp"])
            end = (
                int(known[index + 1]["first_timestamp"]) - 1
                if index + 1 < len(known)
                else int(trigger["last_timestamp"])
            )
            periods.append((first, max(first, end)))
        return periods
