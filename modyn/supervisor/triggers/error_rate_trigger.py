"""ErrorRateTrigger: a streaming change detector on the current model's per-sample errors.

Each new labelled sample is classified by the current model; its error (1 = misclassified) goes into
the detector (`ADWIN`, `DDM` or `PageHinkley`, see modyn.supervisor.triggers.detectors). When the detector
reports a rise of the error rate, the trigger fires at that sample and the detector starts afresh for
the new model.

Parameters (pipeline YAML, `trigger:`):
- `detector`: ADWIN | DDM | PageHinkley; `detector_config`: that detector's parameters.
- `warmup_samples` (1000): with no model yet, fire after this many samples (a detector needs a model).
- `inference_batch` (256): samples classified per model call (the work after a detection is bounded
  by one batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modyn.supervisor.triggers.abstract_trigger import Trigger
from modyn.supervisor.triggers.context import TrainingOutcome
from modyn.supervisor.triggers.detectors import DETECTORS


class ErrorRateTrigger(Trigger):
    uses_model = True
    stops_at_trigger = True

    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        super().__init__(config, path)
        name = str(config.get("detector", ""))
        if name not in DETECTORS:
            raise ValueError(f"{path}.detector: unknown detector {name!r} (known: {', '.join(DETECTORS)})")
        self.detector = DETECTORS[name](dict(config.get("detector_config") or {}), f"{path}.detector_config")
        self.warmup_samples = int(config.get("warmup_samples", 1000))
        if self.warmup_samples < 1:
            raise ValueError(f"{path}.warmup_samples: must be >= 1")
        self.inference_batch = int(config.get("inference_batch", 256))
        if self.inference_batch < 1:
            raise ValueError(f"{path}.inference_batch: must be >= 1")
        self._without_model = 0  # samples seen while no model existed
        self.samples_checked = 0

    def inform_new_model(self, outcome: TrainingOutcome) -> None:
        self.detector.reset()
        self._without_model = 0

    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        self.last_fire_info = []
        context = self.require_context()
        if context.latest_model_id is None:
            need = self.warmup_samples - self._without_model
            if need <= len(keys):
                self._without_model = 0
                self.last_fire_info = [{"reason": "warm-up: no model yet", "samples": self.warmup_samples}]
                return [need - 1]
            self._without_model += len(keys)
            return []
        for start in range(0, len(keys), self.inference_batch):
            errors = context.errors(keys[start : start + self.inference_batch])
            for offset, error in enumerate(errors):
                self.samples_checked += 1
                if self.detector.update(float(error)):
                    self.last_fire_info = [
                        {"reason": f"{type(self.detector).__name__}: error rate rose", "samples": self.samples_checked}
                    ]
                    self.samples_checked = 0
                    return [start + offset]
        return []
