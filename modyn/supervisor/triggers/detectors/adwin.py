"""ADWIN: ADaptive WINdowing.

Bifet, Gavaldà: "Learning from Time-Changing Data with Adaptive Windowing", SDM 2007.

Keeps a window of the latest values (at most `max_window`). Every `clock` values it checks every split of
the window into an older part W0 and a newer part W1 (each at least `min_window_length` long) and
reports a change when their means differ by more than

    eps = sqrt(2 · var(W) · ln(2 ln(n) / delta) / m) + 2/(3m) · ln(2 ln(n) / delta),   m = 1 / (1/n0 + 1/n1)

(the variance-based bound of the paper, with delta spread over the ln(n) checks). It then drops W0.
Parameters: `delta` (0.002, smaller = fewer false alarms), `clock` (32), `min_window_length` (5),
`max_window` (10000), `direction` (`increase`: only a rising mean, i.e. more errors, counts; or `both`).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from modyn.supervisor.triggers.detectors.base import StreamDetector, check_params


class ADWIN(StreamDetector):
    def __init__(self, params: dict[str, Any] | None = None, path: str = "trigger.detector_config") -> None:
        super().__init__(params, path)
        params = params or {}
        check_params(path, params, {"delta", "clock", "min_window_length", "max_window", "direction"})
        self.delta = float(params.get("delta", 0.002))
        self.clock = int(params.get("clock", 32))
        self.min_window_length = int(params.get("min_window_length", 5))
        self.max_window = int(params.get("max_window", 10_000))
        self.direction = str(params.get("direction", "increase"))
        if not 0 < self.delta < 1:
            raise ValueError(f"{path}.delta: must be in (0, 1)")
        if self.clock < 1 or self.min_window_length < 1 or self.max_window < 2 * self.min_window_length:
            raise ValueError(f"{path}: clock and min_window_length must be >= 1, max_window >= 2·min_window_length")
        if self.direction not in ("increase", "both"):
            raise ValueError(f"{path}.direction: must be increase or both")
        self.window: deque[float] = deque(maxlen=self.max_window)
        self._ticks = 0

    def reset(self) -> None:
        self.window.clear()
        self._ticks = 0
        self.drift_detected = False

    def update(self, x: float) -> bool:
        self.window.append(float(x))
        self._ticks += 1
        self.drift_detected = False
        if self._ticks % self.clock == 0 and len(self.window) >= 2 * self.min_window_length:
            cut = self._find_cut()
            if cut is not None:
                for _ in range(cut):
                    self.window.popleft()
                self.drift_detected = True
        return self.drift_detected

    def _find_cut(self) -> int | None:
        values = np.fromiter(self.window, dtype=np.float64, count=len(self.window))
        n = len(values)
        variance = float(values.var())
        log_term = math.log(2.0 * math.log(n) / self.delta)
        prefix = np.cumsum(values)
        n0 = np.arange(self.min_window_length, n - self.min_window_length + 1, dtype=np.float64)
        n1 = n - n0
        mean0 = prefix[n0.astype(np.int64) - 1] / n0
        mean1 = (prefix[-1] - prefix[n0.astype(np.int64) - 1]) / n1
        m = 1.0 / (1.0 / n0 + 1.0 / n1)
        eps = np.sqrt(2.0 * variance * log_term / m) + 2.0 / (3.0 * m) * log_term
        difference = mean1 - mean0 if self.direction == "increase" else np.abs(mean1 - mean0)
        hits = np.nonzero(difference > eps)[0]
        if len(hits) == 0:
            return None
        return int(n0[hits[-1]])  # drop the longest stale prefix
