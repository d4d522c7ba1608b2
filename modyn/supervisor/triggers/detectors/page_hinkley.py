"""Page-Hinkley test for an increase of the mean.

Page: "Continuous Inspection Schemes", Biometrika 41 (1954); the streaming form of Mouss et al. (2004).

With x̄ the running (optionally fading) mean, m_t = Σ (x_i − x̄_i − delta) and M_t = min m_t, a change is
reported when m_t − M_t > `threshold` (lambda), once `min_instances` values were seen.
Parameters: `delta` (0.005: the tolerated drift of the mean), `threshold` (50), `alpha` (1.0: fading
factor of the cumulative sum; < 1 forgets old values), `min_instances` (30).
"""

from __future__ import annotations

from typing import Any

from modyn.supervisor.triggers.detectors.base import StreamDetector, check_params


class PageHinkley(StreamDetector):
    def __init__(self, params: dict[str, Any] | None = None, path: str = "trigger.detector_config") -> None:
        super().__init__(params, path)
        params = params or {}
        check_params(path, params, {"delta", "threshold", "alpha", "min_instances"})
        self.delta = float(params.get("delta", 0.005))
        self.threshold = float(params.get("threshold", 50.0))
        self.alpha = float(params.get("alpha", 1.0))
        self.min_instances = int(params.get("min_instances", 30))
        if self.threshold <= 0:
            raise ValueError(f"{path}.threshold: must be > 0")
        if not 0 < self.alpha <= 1:
            raise ValueError(f"{path}.alpha: must be in (0, 1]")
        if self.delta < 0 or self.min_instances < 1:
            raise ValueError(f"{path}: delta must be >= 0 and min_instances >= 1")
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.cumulative = 0.0
        self.minimum = 0.0
        self.drift_detected = False

    def update(self, x: float) -> bool:
        x = float(x)
        self.n += 1
        self.mean += (x - self.mean) / self.n
        self.cumulative = self.alpha * self.cumulative + (x - self.mean - self.delta)
        self.minimum = min(self.minimum, self.cumulative)
        self.drift_detected = self.n >= self.min_instances and self.cumulative - self.minimum > self.threshold
        return self.drift_detected
