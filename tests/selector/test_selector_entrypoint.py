"""The selector as a real process: starts, answers health SERVING and RPCs, exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from modyn.common.grpc_utils import SHORT_DEADLINE_S, make_channel, wait_for_health
from modyn.generated import selector_pb2 as pb
from modyn.generated import selector_pb2_grpc


def _system_config(tmp_path: Path, port: int, metadata_database: dict[str, Any]) -> Path:
    config = {
        "storage": {
            "hostname": "127.0.0.1",
            "port": 1,
            "database": {"drivername": "sqlite", "database": str(tmp_path / "storage.db")},
            "datasets": [],
        },
        "metadata_database": metadata_database,
        "selector": {"hostname": "127.0.0.1", "port": port},
        "trainer_server": {"hostname": "127.0.0.1", "port": 2, "scratch_directory": str(tmp_path / "trainer")},
        "metadata_processor": {"hostname": "127.0.0.1", "port": 3},
        "model_storage": {"hostname": "127.0.0.1", "port": 4, "models_directory": str(tmp_path / "models")},
        "evaluator": {"hostname": "127.0.0.1", "port": 5},
    }
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(config_path: Path) -> subprocess.Popen[str]:
    code = "import sys; from modyn.selector.selector_entrypoint import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, str(config_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_selector_process_serves_and_stops_cleanly(tmp_path: Path, port: int, db_config: dict[str, Any]) -> None:
    process = _start(_system_config(tmp_path, port, db_config))
    try:
        assert wait_for_health("127.0.0.1", port, timeout_s=60), process.stdout.read() if process.poll() else ""
        with make_channel("127.0.0.1", port) as channel:
            stub = selector_pb2_grpc.SelectorStub(channel)
            request = pb.RegisterPipelineRequest(
                pipeline_name="p", num_workers=1, selection_strategy='{"name": "NewDataStrategy"}'
            )
            pipeline_id = stub.RegisterPipeline(request, timeout=SHORT_DEADLINE_S).pipeline_id
            trigger = stub.InformDataAndTrigger(
                pb.DataInformRequest(pipeline_id=pipeline_id, keys=[1, 2], timestamps=[1, 2]), timeout=SHORT_DEADLINE_S
            )
            assert (trigger.trigger_id, trigger.num_samples) == (0, 2)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def test_invalid_system_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text("selector: {hostname: 127.0.0.1, port: -5}\n")
    process = _start(path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert "modyn-selector" in output
