"""How the supervisor shows what it does: progress bars on a terminal, JSON lines otherwise.

Mode `bar` (stdout is a terminal): tqdm bars on stderr for the replay, the current trigger's training and
its evaluation, and one human line per trigger on stdout. Mode `json` (stdout is not a terminal): no
bars; one JSON object per line on stdout for each milestone (`pipeline_started`, `trigger_started`,
`trigger_done`, `pipeline_done`, ...) so that scripts can follow a run. Mode `none`: nothing but the
final summary.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

MODES = ("auto", "bar", "json", "none")


class Bar:
    """A progress bar that is a tqdm bar in `bar` mode and does nothing otherwise."""

    def __init__(self, bar: tqdm | None) -> None:
        self._bar = bar

    def set(self, done: int, **postfix: Any) -> None:
        if self._bar is None:
            return
        self._bar.n = min(done, self._bar.total) if self._bar.total else done
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()

    def add(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)


class Progress:
    def __init__(self, mode: str = "auto", out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        if mode not in MODES:
            raise ValueError(f"--progress: must be one of {', '.join(MODES)}")
        if mode == "auto":
            mode = "bar" if out.isatty() else "json"
        self.mode = mode
        self.out = out
        self.err = err

    def event(self, name: str, **fields: Any) -> None:
        """A milestone: a JSON line in json mode (nothing otherwise)."""
        if self.mode == "json":
            record = {"event": name, "time": round(time.time(), 3), **fields}
            print(json.dumps(record, default=str), file=self.out, flush=True)

    def line(self, text: str) -> None:
        """A line for people (bar mode only), printed without breaking the bars."""
        if self.mode == "bar":
            tqdm.write(text, file=self.out)
            self.out.flush()

    @contextmanager
    def bar(self, description: str, total: int | None, unit: str = "sample") -> Iterator[Bar]:
        if self.mode != "bar":
            yield Bar(None)
            return
        with tqdm(total=total, desc=description, unit=unit, file=self.err, leave=False, dynamic_ncols=True) as bar:
            yield Bar(bar)
