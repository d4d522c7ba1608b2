"""Start a real Modyn cluster (modyn-cluster: six service processes) for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from modyn.common.grpc_utils import check_health
from modyn.common.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["storage", "selector", "trainer_server", "metadata_processor", "model_storage", "evaluator"]


def bin_script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def system_config(
    tmp: Path, storage_db: dict[str, Any], metadata_db: dict[str, Any], datasets: list[dict[str, Any]]
) -> dict[str, Any]:
    config: dict[str, Any] = {section: {"hostname": "127.0.0.1", "port": free_port()} for section in SERVICES}
    config["storage"].update({"database": storage_db, "datasets": datasets})
    config["metadata_database"] = metadata_db
    config["trainer_server"]["scratch_directory"] = str(tmp / "trainer")
    config["model_storage"]["models_directory"] = str(tmp / "models")
    return config


class RunningCluster:
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
        self.out.close()
        return int(self.process.returncode)
