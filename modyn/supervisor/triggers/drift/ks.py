"""Kolmogorov–Smirnov two-sample test per feature (scipy.stats.ks_2samp), Bonferroni-combined.

Kolmogorov (1933), Smirnov (1948). distance: the largest KS statistic over the features; p-value: the
smallest per-feature p-value times the number of features (capped at 1).
"""

from __future__ import annotations

import numpy as np

from modyn.supervisor.triggers.drift.base import DriftMetric, DriftResult, as_2d, per_feature_pvalue


class KolmogorovSmirnovMetric(DriftMetric):
    def test(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        x, y = as_2d(reference), as_2d(current)
        from scipy import stats  # imported on use: scipy takes seconds to import

        result = stats.ks_2samp(x, y, axis=0)
        statistic = np.atleast_1d(np.asarray(result.statistic, dtype=np.float64))
        p_values = np.atleast_1d(np.asarray(result.pvalue, dtype=np.float64))
        return DriftResult(distance=float(np.nanmax(statistic)), p_value=per_feature_pvalue(p_values))
