"""The promotion gate: may a candidate model replace an alias's current model?

A gate names one metric on one evaluation dataset (`dataset_id`, `metric`), which direction is better
(`higher_is_better`, default true) and how much worse the candidate may be (`max_regression` >= 0, in
the metric's own units). The two models are compared on the same evaluation data: the given
`interval`, or else the most recently recorded interval on which both have a value. Without such a
common evaluation the gate refuses, since it cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: (interval_start, interval_end) → (value, recorded_at)
MetricValues = dict[tuple[int, int], tuple[float, datetime]]

WHOLE_DATASET = (-(2**63), 2**63 - 1)
_TOLERANCE = 1e-12


def describe_interval(interval: tuple[int, int]) -> str:
    return "the whole dataset" if interval == WHOLE_DATASET else f"interval [{interval[0]}, {interval[1]}]"


@dataclass(frozen=True)
class PromotionGate:
    dataset_id: str
    metric: str
    max_regression: float = 0.0
    higher_is_better: bool = True
    interval: tuple[int, int] | None = None

    def validated(self) -> PromotionGate:
        if not self.dataset_id or not self.metric:
            raise ValueError("a promotion gate needs a dataset_id and a metric")
        if not self.max_regression >= 0:
            raise ValueError(f"the promotion gate's max_regression must be >= 0, got {self.max_regression}")
        return self


def judge(
    gate: PromotionGate, candidate_id: int, candidate: MetricValues, current_id: int, current: MetricValues
) -> tuple[bool, str]:
    """(promote?, why) for candidate vs. current under the gate."""
    what = f"{gate.dataset_id}/{gate.metric}"
    if gate.interval is not None:
        common = [gate.interval] if gate.interval in candidate and gate.interval in current else []
    else:
        common = sorted(set(candidate) & set(current), key=lambda i: candidate[i][1], reverse=True)
    if not common:
        where = describe_interval(gate.interval) if gate.interval is not None else "any common evaluation data"
        missing = [str(m) for m, values in ((candidate_id, candidate), (current_id, current)) if not values]
        detail = f" (no {what} recorded for model(s) {', '.join(missing)})" if missing else ""
        return False, f"gate {what}: models {candidate_id} and {current_id} were not both evaluated on {where}{detail}"
    interval = common[0]
    new_value, old_value = candidate[interval][0], current[interval][0]
    regression = (old_value - new_value) if gate.higher_is_better else (new_value - old_value)
    verdict = (
        f"{what} on {describe_interval(interval)}: model {candidate_id} {new_value:.6g} vs. model {current_id} "
        f"{old_value:.6g} ({'higher' if gate.higher_is_better else 'lower'} is better, "
        f"max regression {gate.max_regression:g})"
    )
    if regression > gate.max_regression + _TOLERANCE:
        return False, f"gate refused: {verdict}"
    return True, f"gate passed: {verdict}"
