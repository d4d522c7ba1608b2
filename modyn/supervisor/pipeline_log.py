"""The pipeline log: LOG_DIR/pipeline_<id>/pipeline.json, rewritten atomically after every step."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class PipelineLog:
    def __init__(self, log_dir: Path, pipeline_id: int, pipeline_name: str, mode: str) -> None:
        self.path = Path(log_dir) / f"pipeline_{pipeline_id}" / "pipeline.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = {
            "pipeline_id": pipeline_id,
            "pipeline_name": pipeline_name,
            "status": "running",
            "mode": mode,
            "started_at": now_iso(),
            "finished_at": None,
            "num_samples_seen": 0,
            "triggers": [],
        }
        self.write()

    @classmethod
    def resume(cls, log_dir: Path, pipeline_id: int, pipeline_name: str, mode: str, at_trigger: int) -> PipelineLog:
        """Continue the log of an earlier run of the pipeline (the same file; a new one when it is gone):
        status back to running, and a `resumed` entry {time, at_trigger}. The caller re-adds the triggers
        (from the metadata DB, which is authoritative) as it goes."""
        path = Path(log_dir) / f"pipeline_{pipeline_id}" / "pipeline.json"
        data: dict[str, Any] | None = None
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                data = None
        log = cls.__new__(cls)
        log.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(data, dict):
            data = {"pipeline_id": pipeline_id, "pipeline_name": pipeline_name, "mode": mode, "started_at": now_iso()}
        for stale in ("error", "stop_reason", "report", "report_error"):
            data.pop(stale, None)
        data.update(status="running", finished_at=None, triggers=[])
        data.setdefault("num_samples_seen", 0)
        data.setdefault("resumed", []).append({"time": now_iso(), "at_trigger": at_trigger})
        log.data = data
        log.write()
        return log

    @property
    def triggers(self) -> list[dict[str, Any]]:
        return list(self.data["triggers"])

    def set_samples_seen(self, count: int) -> None:
        self.data["num_samples_seen"] = count

    def add_trigger(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.data["triggers"].append(entry)
        self.write()
        return entry

    def finish(self, status: str, error: str | None = None) -> None:
        self.data["status"] = status
        self.data["finished_at"] = now_iso()
        if error is not None:
            self.data["error"] = error
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.path)
