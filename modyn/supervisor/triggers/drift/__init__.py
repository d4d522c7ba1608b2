"""Two-sample drift tests between a reference window and a current window of features.

Each metric returns a DriftResult: a distance (larger = more different) and a p-value under the null
hypothesis that both windows come from the same distribution. Registered by name (`metric:` of a
DataDriftTrigger).
"""

from __future__ import annotations

from modyn.supervisor.triggers.drift.base import DriftMetric, DriftResult
from modyn.supervisor.triggers.drift.cvm import CramerVonMisesMetric
from modyn.supervisor.triggers.drift.ks import KolmogorovSmirnovMetric
from modyn.supervisor.triggers.drift.mmd import MMDMetric

DRIFT_METRICS: dict[str, type[DriftMetric]] = {
    "mmd": MMDMetric,
    "ks": KolmogorovSmirnovMetric,
    "cvm": CramerVonMisesMetric,
}

__all__ = ["DRIFT_METRICS", "DriftMetric", "DriftResult"]
