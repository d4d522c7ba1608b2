"""PerformanceTrigger: retrain when the current model's accuracy on the labelled new data degrades.

Parameters (pipeline YAML, `trigger:`):
- `window`: `{num_samples: N}` or `{every: DURATION}`: the accuracy is measured per window of new data.
- `min_accuracy` (optional, in [0, 1]): fire when a window's accuracy falls below it.
- `max_drop` (optional, in (0, 1]): fire when a window's accuracy is more than `max_drop` below the
  model's post-training level, measured on the first window after the model was trained (unseen data).
  At least one of `min_accuracy` and `max_drop` is required.
- `first_window_trigger` (true): fire at the end of the first window when no model exists yet.

As in Modyn's PerformanceTrigger (static and dynamic performance criteria), the labels are the samples'
labels in storage, after the pipeline's label transformer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modyn.supervisor.triggers.abstract_trigger import Trigger
from modyn.supervisor.triggers.context import TrainingOutcome
from modyn.supervisor.triggers.windows import Windowing


class PerformanceTrigger(Trigger):
    uses_model = True
    stops_at_trigger = True

    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        super().__init__(config, path)
        self.windowing = Windowing(config.get("window", {"num_samples": 1000}), f"{path}.window")
        self.min_accuracy = None if config.get("min_accuracy") is None else float(config["min_accuracy"])
        self.max_drop = None if config.get("max_drop") is None else float(config["max_drop"])
        if self.min_accuracy is None and self.max_drop is None:
            raise ValueError(f"{path}: give min_accuracy, max_drop or both")
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 1:
            raise ValueError(f"{path}.min_accuracy: must be in [0, 1]")
        if self.max_drop is not None and not 0 < self.max_drop <= 1:
            raise ValueError(f"{path}.max_drop: must be in (0, 1]")
        self.first_window_trigger = bool(config.get("first_window_trigger", True))
        self.reference_accuracy: float | None = None
        self.accuracies: list[float] = []  # every window's accuracy, in order (for the log and tests)

    def inform_new_model(self, outcome: TrainingOutcome) -> None:
        self.reference_accuracy = None

    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        self.last_fire_info = []
        context = self.require_context()
        pos = 0
        while (closed := self.windowing.scan(keys, timestamps, pos)) is not None:
            index, window, pos = closed
            if not window:
                continue
            if context.latest_model_id is None:
                if self.first_window_trigger:
                    self.last_fire_info = [{"reason": "first window: no model yet", "window_size": len(window)}]
                    return [index]
                continue
            errors = context.errors(window)
            accuracy = float(1.0 - errors.mean())
            self.accuracies.append(accuracy)
            info: dict[str, Any] = {"accuracy": round(accuracy, 6), "window_size": len(window)}
            if self.min_accuracy is not None and accuracy < self.min_accuracy:
                self.last_fire_info = [{**info, "reason": "accuracy below min_accuracy", "min": self.min_accuracy}]
                return [index]
            if self.reference_accuracy is None:
                self.reference_accuracy = accuracy
                continue
            if self.max_drop is not None and self.reference_accuracy - accuracy > self.max_drop:
                self.last_fire_info = [
                    {**info, "reason": "accuracy dropped", "reference_accuracy": round(self.reference_accuracy, 6)}
                ]
                return [index]
        return []
