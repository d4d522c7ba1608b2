from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DriftResult:
    distance: float
    p_value: float


class DriftMetric(ABC):
    """A two-sample test on (n, d) and (m, d) feature arrays."""

    def __init__(self, num_permutations: int = 200, seed: int = 0) -> None:
        self.num_permutations = num_permutations
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def test(self, reference: np.ndarray, current: np.ndarray) -> DriftResult: ...

    def distance(self, reference: np.ndarray, current: np.ndarray) -> float:
        """The distance alone (no p-value), where that is cheaper."""
        return self.test(reference, current).distance


def as_2d(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1)


def per_feature_pvalue(p_values: np.ndarray) -> float:
    """Combine per-feature p-values with the Bonferroni correction (the smallest, times the count)."""
    if len(p_values) == 0:
        return 1.0
    return float(min(1.0, np.nanmin(p_values) * len(p_values)))
