from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class StreamDetector(ABC):
    """Consumes one value at a time; `update` returns True (and sets drift_detected) on a change."""

    def __init__(self, params: dict[str, Any] | None = None, path: str = "trigger.detector_config") -> None:
        self.drift_detected = False

    @abstractmethod
    def update(self, x: float) -> bool: ...

    @abstractmethod
    def reset(self) -> None: ...


def check_params(path: str, params: dict[str, object], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown parameter(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
