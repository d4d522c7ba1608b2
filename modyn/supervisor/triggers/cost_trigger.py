"""CostTrigger: retrain when the cost of not retraining exceeds the forecast cost of retraining.

The cost of not retraining is the data-incorporation latency (Modyn's DataIncorporationLatency cost
trigger): every sample that arrived since the last trigger and is not yet trained on adds its waiting
time, so between two samples the regret grows by (unincorporated samples) × (time between them, in
seconds). The trigger fires at the first sample where

    conversion_factor × regret  >=  forecast training time for the unincorporated samples

Parameters (pipeline YAML, `trigger:`):
- `conversion_factor` (> 0): seconds of training worth one sample-second of latency.
- `initial_training_cost_s` (> 0, default 10): the forecast before any training was measured.
The forecast is a least-squares line of training duration over training-set size through the past
trainings (the only one scaled proportionally when there is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modyn.supervisor.triggers.abstract_trigger import Trigger
from modyn.supervisor.triggers.context import TrainingOutcome


class CostTrigger(Trigger):
    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        super().__init__(config, path)
        self.conversion_factor = float(config["conversion_factor"])
        if self.conversion_factor <= 0:
            raise ValueError(f"{path}.conversion_factor: must be > 0")
        self.initial_cost_s = float(config.get("initial_training_cost_s", 10.0))
        if self.initial_cost_s <= 0:
            raise ValueError(f"{path}.initial_training_cost_s: must be > 0")
        self.history: list[tuple[int, float]] = []  # (training-set size, duration) of past trainings
        self.regret = 0.0  # sample-seconds of latency since the last trigger
        self.unincorporated = 0
        self._last_ts: int | None = None

    def forecast_s(self, num_samples: int) -> float:
        """Forecast training time (seconds) for a training set of `num_samples`."""
        if not self.history:
            return self.initial_cost_s
        sizes = np.asarray([h[0] for h in self.history], dtype=np.float64)
        durations = np.asarray([h[1] for h in self.history], dtype=np.float64)
        if len(self.history) == 1 or np.ptp(sizes) == 0:
            per_sample = durations.mean() / max(sizes.mean(), 1.0)
            return float(per_sample * num_samples)
        slope, intercept = np.polyfit(sizes, durations, 1)
        return float(max(0.0, slope * num_samples + intercept))

    def inform_new_model(self, outcome: TrainingOutcome) -> None:
        if outcome.num_samples > 0:
            self.history.append((outcome.num_samples, outcome.duration_s))

    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        self.last_fire_info = []
        indices: list[int] = []
        for i, ts in enumerate(timestamps):
            ts = int(ts)
            if self._last_ts is not None and ts > self._last_ts:
                self.regret += self.unincorporated * (ts - self._last_ts)
            self._last_ts = ts
            self.unincorporated += 1
            forecast = self.forecast_s(self.unincorporated)
            if self.regret > 0 and self.conversion_factor * self.regret >= forecast:
                indices.append(i)
                self.last_fire_info.append(
                    {
                        "reason": "latency cost above training cost",
                        "regret_sample_s": self.regret,
                        "forecast_training_s": round(forecast, 6),
                        "unincorporated": self.unincorporated,
                    }
                )
                self.regret = 0.0
                self.unincorporated = 0
        return indices
