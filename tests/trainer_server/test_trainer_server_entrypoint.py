"""`modyn-trainer-server` as a real process: starts, answers health and RPCs, reports a job whose
services are down as failed with a message naming the service, exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import yaml
from trainer_test_helpers import pipeline_config

from modyn.common.clients.trainer_server_client import TrainerServerClient
from modyn.common.grpc_utils import wait_for_health
from modyn.common.testing import free_port


def _write_system_config(folder: Path, port: int) -> Path:
    config = {
        "storage": {"port": free_port(), "database": {"drivername": "sqlite", "database": "storage.db"}},
        "metadata_database": {"drivername": "sqlite", "database": "metadata.db"},
        "selector": {"port": free_port()},
        "trainer_server": {"hostname": "127.0.0.1", "port": port, "scratch_directory": "state/trainer"},
        "metadata_processor": {"port": free_port()},
        "model_storage": {"port": free_port()},
        "evaluator": {"port": free_port()},
    }
    path = folder / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(config_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modyn.trainer_server.trainer_server_entrypoint", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serves_until_sigterm_and_reports_a_down_service(tmp_path: Path, port: int) -> None:
    process = _start(_write_system_config(tmp_path, port))
    try:
        assert wait_for_health("127.0.0.1", port, timeout_s=60), "trainer server never became healthy"
        # The relative scratch directory is resolved against the YAML's folder.
        assert (tmp_path / "state" / "trainer").is_dir()
        client = TrainerServerClient("127.0.0.1", port)
        with pytest.raises(grpc.RpcError) as info:
            client.status(5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND

        # No selector runs on the configured port: the job fails and says which service is missing.
        training_id = client.start_training(1, 0, pipeline_config(), None)
        deadline = time.monotonic() + 60
        while (status := client.status(training_id)).is_running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status.failed
        assert status.exception.startswith("ServiceCallError: selector is unavailable")
        client.close()

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_invalid_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump({"trainer_server": {"port": "x"}}))
    process = _start(path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert "trainer_server.port" in output
