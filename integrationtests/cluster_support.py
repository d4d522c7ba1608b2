"""Start a real Modyn cluster (modyn-cluster: six service processes), or address a running one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modyn.common.clients.evaluator_client import EvaluatorClient
from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.clients.trainer_server_client import TrainerServerClient
from modyn.common.grpc_utils import check_health
from modyn.common.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["storage", "selector", "trainer_server", "metadata_processor", "model_storage", "evaluator"]


def bin_script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def system_config(
    workdir: Path, storage_db: dict[str, Any], metadata_db: dict[str, Any], data_dir: Path
) -> dict[str, Any]:
    """A system config for a local cluster on free ports; datasets are registered by the tests."""
    config: dict[str, Any] = {section: {"hostname": "127.0.0.1", "port": free_port()} for section in SERVICES}
    config["storage"].update({"database": storage_db, "datasets": [], "allowed_base_paths": [str(data_dir)]})
    config["metadata_database"] = metadata_db
    config["trainer_server"]["scratch_directory"] = str(workdir / "trainer")
    config["model_storage"]["models_directory"] = str(workdir / "models")
    return config


class RunningCluster:
    """`modyn-cluster` as a child process, up (every health check SERVING) when the constructor returns."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.config = config
        self.path = workdir / "system.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.log_dir = workdir / "cluster_logs"
        self.out = open(workdir / "cluster.out", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [bin_script("modyn-cluster"), str(self.path), "--log-dir", str(self.log_dir)],
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while not all(check_health(config[s]["hostname"], config[s]["port"], 1.0) for s in SERVICES):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"cluster did not come up:\n{self.logs()}")
            time.sleep(0.5)

    def logs(self) -> str:
        parts = [(self.out.name, Path(self.out.name).read_text(errors="replace"))]
        parts += [(p.name, p.read_text(errors="replace")[-3000:]) for p in sorted(self.log_dir.glob("*.log"))]
        return "\n".join(f"--- {name}\n{text}" for name, text in parts)

    def stop(self) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.out.closed:
            self.out.close()
        return int(self.process.returncode)


@dataclass
class ClusterHandle:
    """What a test needs of a cluster: its system config (dict and file), a data folder the storage
    service can read, and typed clients."""

    config: dict[str, Any]
    path: Path
    data_dir: Path
    running: RunningCluster | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def _client(self, section: str, cls: type) -> Any:
        if section not in self._clients:
            self._clients[section] = cls(self.config[section]["hostname"], self.config[section]["port"])
        return self._clients[section]

    @property
    def storage(self) -> StorageClient:
        return self._client("storage", StorageClient)

    @property
    def selector(self) -> SelectorClient:
        return self._client("selector", SelectorClient)

    @property
    def trainer(self) -> TrainerServerClient:
        return self._client("trainer_server", TrainerServerClient)

    @property
    def metadata(self) -> MetadataProcessorClient:
        return self._client("metadata_processor", MetadataProcessorClient)

    @property
    def models(self) -> ModelStorageClient:
        return self._client("model_storage", ModelStorageClient)

    @property
    def evaluator(self) -> EvaluatorClient:
        return self._client("evaluator", EvaluatorClient)

    def logs(self) -> str:
        return self.running.logs() if self.running else "(external cluster: see its own logs)"

    def new_dataset(
        self, prefix: str, file_wrapper_type: str, file_wrapper_config: dict[str, Any], folder: Path | None = None
    ) -> tuple[str, Path]:
        """Register a dataset with a unique name over a (new, empty unless given) folder; return (name, folder)."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        folder = folder or self.data_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        dataset = {
            "name": name,
            "base_path": str(folder),
            "file_wrapper_type": file_wrapper_type,
            "file_wrapper_config": file_wrapper_config,
            "file_watcher_interval": 1,
        }
        assert self.storage.register_dataset(dataset)
        return name, folder
