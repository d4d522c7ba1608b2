"""`modyn-metadata-processor` as a real process: starts, answers health and RPCs, exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import yaml

from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.grpc_utils import wait_for_health
from modyn.common.testing import free_port


def _write_system_config(folder: Path, port: int) -> Path:
    config = {
        "storage": {"port": free_port(), "database": {"drivername": "sqlite", "database": "storage.db"}},
        "metadata_database": {"drivername": "sqlite", "database": "state/metadata.db"},
        "selector": {"port": free_port()},
        "trainer_server": {"port": free_port()},
        "metadata_processor": {"hostname": "127.0.0.1", "port": port},
        "model_storage": {"port": free_port()},
        "evaluator": {"port": free_port()},
    }
    path = folder / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(config_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modyn.metadata_processor.metadata_processor_entrypoint", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serves_until_sigterm(tmp_path: Path, port: int) -> None:
    config_path = _write_system_config(tmp_path, port)
    process = _start(config_path)
    try:
        assert wait_for_health("127.0.0.1", port, timeout_s=60), "metadata processor never became healthy"
        client = MetadataProcessorClient("127.0.0.1", port)
        assert client.send_training_metadata(1, 0, 0.5, 2, sample_keys=[1, 2], sample_losses=[0.1, 0.2]) == 2
        assert client.get_training_metadata(1, 0).found
        client.close()
        # The relative database path is resolved against the YAML's folder.
        assert (tmp_path / "state" / "metadata.db").exists()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_invalid_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump({"metadata_processor": {"port": 0}}))
    process = _start(path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert "metadata_processor.port" in output
