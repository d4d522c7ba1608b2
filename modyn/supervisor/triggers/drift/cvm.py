"""Cramér–von Mises two-sample test per feature (scipy.stats.cramervonmises_2samp), Bonferroni-combined.

Anderson (1962), "On the distribution of the two-sample Cramér–von Mises criterion". distance: the
largest criterion over the features; p-value: the smallest per-feature p-value times the number of
features (capped at 1). Constant features (identical in both windows) are skipped.
"""

from __future__ import annotations

import numpy as np

from modyn.supervisor.triggers.drift.base import DriftMetric, DriftResult, as_2d, per_feature_pvalue


class CramerVonMisesMetric(DriftMetric):
    def test(self, reference: np.ndarray, current: np.ndarray) -> DriftResult:
        from scipy import stats  # imported on use: scipy takes seconds to import

        x, y = as_2d(reference), as_2d(current)
        statistics, p_values = [], []
        for j in range(x.shape[1]):
            if np.all(x[:, j] == x[0, j]) and np.all(y[:, j] == x[0, j]):
                continue
            result = stats.cramervonmises_2samp(x[:, j], y[:, j], method="asymptotic")
            statistics.append(float(result.statistic))
            p_values.append(float(result.pvalue))
        if not statistics:
            return DriftResult(distance=0.0, p_value=1.0)
        return DriftResult(distance=max(statistics), p_value=per_feature_pvalue(np.asarray(p_values)))
