"""Streaming change detectors on a sequence of numbers (here: a model's per-sample errors, 0 or 1).

Each detector is one small class with `update(x) -> bool` (True when a change is detected at x),
`drift_detected` and `reset()`, registered by name (`detector:` of an ErrorRateTrigger).
"""

from __future__ import annotations

from modyn.supervisor.triggers.detectors.adwin import ADWIN
from modyn.supervisor.triggers.detectors.base import StreamDetector
from modyn.supervisor.triggers.detectors.ddm import DDM
from modyn.supervisor.triggers.detectors.page_hinkley import PageHinkley

DETECTORS: dict[str, type[StreamDetector]] = {"ADWIN": ADWIN, "DDM": DDM, "PageHinkley": PageHinkley}

__all__ = ["DETECTORS", "StreamDetector"]
