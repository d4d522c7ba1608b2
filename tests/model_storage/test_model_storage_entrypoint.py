"""`modyn-model-storage` as a real process: starts, answers health and RPCs, exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import yaml

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.grpc_utils import wait_for_health
from modyn.common.testing import free_port


def _write_system_config(folder: Path, port: int) -> Path:
    config = {
        "storage": {"port": free_port(), "database": {"drivername": "sqlite", "database": "storage.db"}},
        "metadata_database": {"drivername": "sqlite", "database": "state/metadata.db"},
        "selector": {"port": free_port()},
        "trainer_server": {"port": free_port()},
        "metadata_processor": {"port": free_port()},
        "model_storage": {"hostname": "127.0.0.1", "port": port, "models_directory": "state/models"},
        "evaluator": {"port": free_port()},
    }
    path = folder / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_serves_until_sigterm(tmp_path: Path, port: int) -> None:
    config_path = _write_system_config(tmp_path, port)
    process = subprocess.Popen(
        [sys.executable, "-m", "modyn.model_storage.model_storage_entrypoint", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for_health("127.0.0.1", port, timeout_s=60), "model storage never became healthy"
        model = tmp_path / "model.bin"
        model.write_bytes(bytes(range(256)) * 1000)
        client = ModelStorageClient("127.0.0.1", port)
        model_id = client.store_model_file(model, 1, 0, "Dummy", {})
        info = client.fetch_model_file(model_id, tmp_path / "back.bin")
        client.close()
        assert (tmp_path / "back.bin").read_bytes() == model.read_bytes()
        assert info.model_class_name == "Dummy"
        # The relative models directory is resolved against the YAML's folder.
        assert (tmp_path / "state" / "models" / f"{model_id}.pt").exists()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
