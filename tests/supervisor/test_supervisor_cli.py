import json
import subprocess
import sys
from pathlib import Path

import yaml

from modyn.common.testing import free_port
from modyn.supervisor.pipeline_log import PipelineLog

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "benchmarks" / "mnist" / "pipeline.yaml"
SYSTEM = ROOT / "benchmarks" / "mnist" / "system_sqlite.yaml"


def run_supervisor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modyn.supervisor.supervisor_entrypoint", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_invalid_pipeline_exits_2_naming_each_path(tmp_path: Path) -> None:
    config = yaml.safe_load(PIPELINE.read_text())
    config["training"]["batch_size"] = -1
    config["trigger"]["num_samples"] = 0
    bad = tmp_path / "pipeline.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = run_supervisor(str(bad), str(SYSTEM), "--start-replay-at", "0")
    assert result.returncode == 2
    assert "training.batch_size: must be > 0" in result.stderr
    assert "trigger.num_samples: must be > 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_trigger_parameters_exit_2_naming_the_path(tmp_path: Path) -> None:
    config = yaml.safe_load(PIPELINE.read_text())
    config["trigger"] = {
        "id": "EnsembleTrigger",
        "subtriggers": [
            {"id": "DataDriftTrigger", "threshold_type": "static"},
            {"id": "PerformanceTrigger", "window": {"num_samples": 10}},
        ],
    }
    bad = tmp_path / "pipeline.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = run_supervisor(str(bad), str(SYSTEM), "--start-replay-at", "0")
    assert result.returncode == 2, result.stderr
    assert "trigger.subtriggers[0].threshold: is required with threshold_type static" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    result = run_supervisor(str(PIPELINE), str(SYSTEM), "--maximum-triggers", "0", "--stop-replay-at", "5")
    assert result.returncode == 2
    assert "--maximum-triggers: must be > 0" in result.stderr
    assert "--stop-replay-at: needs --start-replay-at" in result.stderr


def test_cluster_down_exits_1_naming_the_services(tmp_path: Path) -> None:
    config = yaml.safe_load(SYSTEM.read_text())
    for section in ["storage", "selector", "trainer_server", "metadata_processor", "model_storage", "evaluator"]:
        config[section]["port"] = free_port()
    config["metadata_database"]["database"] = str(tmp_path / "m.db")
    config["storage"]["database"]["database"] = str(tmp_path / "s.db")
    system = tmp_path / "system.yaml"
    system.write_text(yaml.safe_dump(config))
    result = run_supervisor(str(PIPELINE), str(system), "--start-replay-at", "0", "--log-dir", str(tmp_path))
    assert result.returncode == 1
    assert "do not answer their health check" in result.stderr
    for section in ["storage at", "selector at", "evaluator at"]:
        assert section in result.stderr
    assert "Traceback" not in result.stderr


def test_pipeline_log_is_written_as_it_goes(tmp_path: Path) -> None:
    log = PipelineLog(tmp_path, 7, "p", "experiment")
    path = tmp_path / "pipeline_7" / "pipeline.json"
    assert json.loads(path.read_text())["status"] == "running"
    log.add_trigger({"trigger_index": 0, "num_samples": 3})
    assert json.loads(path.read_text())["triggers"] == [{"trigger_index": 0, "num_samples": 3}]
    log.finish("failed", error="boom")
    data = json.loads(path.read_text())
    assert (data["status"], data["error"]) == ("failed", "boom")
    assert data["finished_at"] is not None
