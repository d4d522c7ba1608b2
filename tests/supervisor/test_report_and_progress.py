"""The PNG report and the progress output, without a cluster."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from modyn.supervisor.progress import Progress
from modyn.supervisor.report import time_shares, write_report

LOG = {
    "pipeline_id": 3,
    "pipeline_name": "p",
    "status": "done",
    "started_at": "2026-01-01T00:00:00+00:00",
    "finished_at": "2026-01-01T00:01:40+00:00",
    "triggers": [
        {
            "trigger_index": i,
            "first_timestamp": 1_600_000_000 + 3600 * i,
            "last_timestamp": 1_600_000_000 + 3600 * i + 3000,
            "training": {
                "loss_first": 2.0 - i * 0.5,
                "loss_last": 1.5 - i * 0.5,
                "duration_s": 20.0,
                "time_train_s": 12.0,
                "time_wait_data_s": 5.0,
            },
            "evaluation": {"test": {"Accuracy": 0.5 + 0.1 * i, "F1Score": 0.4 + 0.1 * i}},
        }
        for i in range(3)
    ],
}


def test_time_shares_use_the_trainer_breakdown() -> None:
    assert time_shares(LOG) == {
        "training": 36.0,
        "waiting for data (in training)": 15.0,
        "training setup/finish": 9.0,
        "rest of the pipeline": 40.0,
    }
    # without a breakdown: the training duration counts as training
    plain = {**LOG, "triggers": [{"training": {"duration_s": 10.0}}]}
    assert time_shares(plain)["training"] == 10.0 and time_shares(plain)["rest of the pipeline"] == 90.0


def test_report_is_a_png(tmp_path: Path) -> None:
    path = write_report(LOG, tmp_path / "report.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary file left


def test_report_of_a_run_without_triggers(tmp_path: Path) -> None:
    empty = {**LOG, "triggers": [], "finished_at": None, "status": "running"}
    assert write_report(empty, tmp_path / "r.png").stat().st_size > 0


def test_json_progress_when_stdout_is_not_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress("auto", out=out, err=io.StringIO())
    assert progress.mode == "json"
    progress.event("trigger_done", trigger_index=2, evaluation={"test": {"Accuracy": 0.5}})
    progress.line("for people only")
    with progress.bar("training", 10) as bar:
        bar.set(5)
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "trigger_done" and record["trigger_index"] == 2
    assert record["evaluation"] == {"test": {"Accuracy": 0.5}}


def test_bar_mode_prints_lines_and_bars() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = Progress("bar", out=out, err=err)
    progress.event("ignored")
    progress.line("trigger 0: 10 samples")
    with progress.bar("replay", 4) as bar:
        bar.add(4)
    assert out.getvalue() == "trigger 0: 10 samples\n"
    assert "replay" in err.getvalue()


def test_unknown_progress_mode() -> None:
    with pytest.raises(ValueError, match="--progress"):
        Progress("fancy")
