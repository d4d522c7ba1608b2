"""Where a pipeline run's wall time goes, phase by phase, for the pipeline log's `time_breakdown`.

The supervisor times its own phases (replaying data, informing the selector, the training jobs,
storing models, evaluations); each training job's share is split further with the trainer's own
breakdown (setup, waiting for data, training steps, downsampling, finish), and what lies between
the supervisor's request and the job's own clock (process start, status polling) is the job's
`start and polling` share. Whatever no phase claims (the trigger policy, logging) is `other`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Trainer status field -> phase name in the breakdown.
TRAINER_PHASES = {
    "time_setup_s": "training: job setup",
    "time_wait_data_s": "training: waiting for data",
    "time_train_s": "training steps",
    "time_downsample_s": "training: downsampling",
    "time_finish_s": "training: job finish",
}
TRAINING_STEPS = "training steps"
JOB_OVERHEAD = "training: job start and polling"


class TimeBreakdown:
    """Accumulates seconds per phase from its creation on (monotonic clock)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.seconds: dict[str, float] = {}

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + max(0.0, seconds)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - start)

    def add_training_job(self, wall_s: float, training: dict[str, Any]) -> None:
        """One training job that took `wall_s` from the start request to its last status: its own phases
        from the trainer's breakdown (when it reports one), the rest as job start and polling."""
        reported = 0.0
        for field, phase in TRAINER_PHASES.items():
            if field in training:
                self.add(phase, float(training[field]))
                reported += float(training[field])
        if not reported:  # a trainer without a breakdown: the whole job counts as training steps
            self.add(TRAINING_STEPS, float(training.get("duration_s", wall_s)))
            reported = float(training.get("duration_s", wall_s))
        self.add(JOB_OVERHEAD, wall_s - reported)

    def summary(self) -> dict[str, Any]:
        """Seconds per phase (largest first), `other`, the wall time and the share outside training steps."""
        wall = time.monotonic() - self.started
        phases = {name: round(s, 3) for name, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])}
        phases["other"] = round(max(0.0, wall - sum(self.seconds.values())), 3)
        steps = self.seconds.get(TRAINING_STEPS, 0.0)
        return {
            "wall_s": round(wall, 3),
            "phases_s": phases,
            "training_steps_share": round(steps / wall, 4) if wall > 0 else 0.0,
            "outside_training_steps_share": round(1 - steps / wall, 4) if wall > 0 else 0.0,
        }
