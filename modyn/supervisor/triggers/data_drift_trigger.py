"""DataDriftTrigger: retrain when the newest window of data differs from the data of the last trigger.

Parameters (pipeline YAML, `trigger:`):
- `window`: `{num_samples: N}` (a window every N new samples) or `{every: DURATION}` (time windows).
- `features`: `embedding` (the latest model's penultimate-layer output, the default) or `raw` (the
  parsed input, flattened).
- `metric`: `mmd` (MMD² with a permutation test, default), `ks` or `cvm` (per-feature scipy tests,
  Bonferroni-combined). See modyn.supervisor.triggers.drift.
- `threshold_type`: `pvalue` (drift when the test's p-value < `alpha`, default), `static` (drift when
  the distance > `threshold`) or `calibrated`: the first `warmup_windows` windows after each new
  reference fire nothing; the distances between every pair of these windows and the reference (all
  drawn from the same, undrifted data) form the null, and the threshold is its (1 - alpha) quantile
  (the largest pairwise distance when there are fewer than 1/alpha pairs: a false-alarm rate of about
  max(alpha, 1/(pairs + 1)) per window, pairs = (warmup_windows + 1)·warmup_windows/2).
- `alpha` (0.05), `threshold`, `warmup_windows` (5), `num_permutations` (200, MMD only),
  `max_samples_per_window` (500: larger windows are subsampled before the test), `seed` (0).
- `first_window_trigger` (true): fire at the end of the first window when no model exists yet (an
  embedding needs a model; and a pipeline without a model has nothing to keep).

Behaviour: the first window after the start (and the window at each trigger) becomes the reference.
Each later window is compared with the reference; on drift the trigger fires at the window's last
sample, and that window becomes the new reference. Embeddings are recomputed for the new model.
The design follows Modyn's DataDriftTrigger (windows + reference from the last trigger) and
alibi-detect's permutation-test detectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from modyn.supervisor.triggers.abstract_trigger import Trigger
from modyn.supervisor.triggers.context import TrainingOutcome
from modyn.supervisor.triggers.drift import DRIFT_METRICS
from modyn.supervisor.triggers.windows import Windowing

THRESHOLD_TYPES = ("pvalue", "static", "calibrated")


class DataDriftTrigger(Trigger):
    uses_model = True
    stops_at_trigger = True

    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        super().__init__(config, path)
        self.windowing = Windowing(config.get("window", {"num_samples": 1000}), f"{path}.window")
        self.features = str(config.get("features", "embedding"))
        if self.features not in ("embedding", "raw"):
            raise ValueError(f"{path}.features: must be embedding or raw, got {self.features!r}")
        metric = str(config.get("metric", "mmd"))
        if metric not in DRIFT_METRICS:
            raise ValueError(f"{path}.metric: unknown metric {metric!r} (known: {', '.join(DRIFT_METRICS)})")
        self.num_permutations = int(config.get("num_permutations", 200))
        if self.num_permutations < 10:
            raise ValueError(f"{path}.num_permutations: must be >= 10")
        self.seed = int(config.get("seed", 0))
        self.metric = DRIFT_METRICS[metric](num_permutations=self.num_permutations, seed=self.seed)
        self.threshold_type = str(config.get("threshold_type", "pvalue"))
        if self.threshold_type not in THRESHOLD_TYPES:
            raise ValueError(f"{path}.threshold_type: must be one of {', '.join(THRESHOLD_TYPES)}")
        self.alpha = float(config.get("alpha", 0.05))
        if not 0 < self.alpha < 1:
            raise ValueError(f"{path}.alpha: must be in (0, 1)")
        if metric == "mmd" and self.threshold_type == "pvalue" and self.alpha < 1.0 / (self.num_permutations + 1):
            raise ValueError(
                f"{path}.alpha: must be >= 1/(num_permutations + 1) = {1.0 / (self.num_permutations + 1):.4g} "
                "(the smallest p-value a permutation test can give); raise num_permutations"
            )
        self.static_threshold: float | None = None
        if self.threshold_type == "static":
            if "threshold" not in config:
                raise ValueError(f"{path}.threshold: is required with threshold_type static")
            self.static_threshold = float(config["threshold"])
        self.warmup_windows = int(config.get("warmup_windows", 5))
        if self.threshold_type == "calibrated" and self.warmup_windows < 2:
            raise ValueError(f"{path}.warmup_windows: must be >= 2 with threshold_type calibrated")
        self.max_samples = int(config.get("max_samples_per_window", 500))
        if self.max_samples < 2:
            raise ValueError(f"{path}.max_samples_per_window: must be >= 2")
        self.first_window_trigger = bool(config.get("first_window_trigger", True))
        self._rng = np.random.default_rng(self.seed)
        self.reference_keys: list[int] | None = None
        self._reference_features: np.ndarray | None = None
        self._reference_model: int | None = None
        self._warmup_windows: list[np.ndarray] = []
        self.calibrated_threshold: float | None = None
        self.windows_checked = 0

    def _subsample(self, keys: list[int]) -> list[int]:
        if len(keys) <= self.max_samples:
            return keys
        chosen = self._rng.choice(len(keys), size=self.max_samples, replace=False)
        return [keys[i] for i in sorted(chosen)]

    def _set_reference(self, keys: list[int]) -> None:
        self.reference_keys = self._subsample(keys)
        self._reference_features = None
        self._warmup_windows = []
        self.calibrated_threshold = None

    def _reference(self) -> np.ndarray:
        context = self.require_context()
        assert self.reference_keys is not None
        if self._reference_features is None or (
            self.features == "embedding" and self._reference_model != context.latest_model_id
        ):
            self._reference_features = context.features(self.reference_keys, self.features)
            self._reference_model = context.latest_model_id
        return self._reference_features

    def inform_new_model(self, outcome: TrainingOutcome) -> None:
        if self.features == "embedding":
            # embeddings of another model are not comparable: recompute the reference, calibrate again
            self._reference_features = None
            self._warmup_windows = []
            self.calibrated_threshold = None

    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        self.last_fire_info = []
        context = self.require_context()
        pos = 0
        while (closed := self.windowing.scan(keys, timestamps, pos)) is not None:
            index, window, pos = closed
            if not window:
                continue
            if context.latest_model_id is None and (self.features == "embedding" or self.reference_keys is None):
                # Without a model there are no embeddings; the first window fires (or becomes the reference).
                if self.features == "raw" and not self.first_window_trigger:
                    self._set_reference(window)
                    continue
                if not self.first_window_trigger:
                    continue
                self._set_reference(window)
                self.last_fire_info = [{"reason": "first window: no model yet", "window_size": len(window)}]
                return [index]
            if self.reference_keys is None:
                self._set_reference(window)
                continue
            if self._check(window):
                return [index]
        return []

    def _calibrate(self, window_features: np.ndarray) -> None:
        """Collect one warm-up window; after the last, set the threshold from all pairwise distances."""
        self._warmup_windows.append(window_features)
        if len(self._warmup_windows) < self.warmup_windows:
            return
        samples = [self._reference(), *self._warmup_windows]
        distances = [
            self.metric.distance(samples[i], samples[j])
            for i in range(len(samples))
            for j in range(i + 1, len(samples))
        ]
        self.calibrated_threshold = float(np.quantile(distances, 1.0 - self.alpha, method="higher"))
        self._warmup_windows = []

    def _check(self, window: list[int]) -> bool:
        context = self.require_context()
        current_keys = self._subsample(window)
        if len(current_keys) < 2:
            return False
        current = context.features(current_keys, self.features)
        if self.threshold_type == "calibrated" and self.calibrated_threshold is None:
            self._calibrate(current)
            return False
        result = self.metric.test(self._reference(), current)
        self.windows_checked += 1
        info: dict[str, Any] = {
            "reason": "data drift",
            "metric": type(self.metric).__name__,
            "distance": round(result.distance, 6),
            "p_value": round(result.p_value, 6),
            "window_size": len(window),
        }
        if self.threshold_type == "pvalue":
            drift = result.p_value < self.alpha
        elif self.threshold_type == "static":
            assert self.static_threshold is not None
            drift = result.distance > self.static_threshold
            info["threshold"] = self.static_threshold
        else:
            assert self.calibrated_threshold is not None
            drift = result.distance > self.calibrated_threshold
            info["threshold"] = round(self.calibrated_threshold, 6)
        if drift:
            self._set_reference(window)
            self.last_fire_info = [info]
        return drift
