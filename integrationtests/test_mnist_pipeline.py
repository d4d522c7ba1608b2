"""The whole system as real processes: modyn-cluster + modyn-supervisor on the MNIST example,
once with SQLite and once with PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from integrationtests.cluster_support import ROOT, RunningCluster, bin_script, system_config
from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.testing import create_postgres_database, drop_postgres_database

NUM_TRAIN, NUM_TEST, PER_TRIGGER, EPOCHS, WORKERS = 1500, 500, 500, 3, 2


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mnist")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/mnist/generate_data.py"),
            "--out",
            str(out),
            "--train",
            str(NUM_TRAIN),
            "--test",
            str(NUM_TEST),
        ],
        check=True,
    )
    return out


def datasets(mnist_dir: Path) -> list[dict[str, Any]]:
    wrapper = {"file_extension": ".png", "label_file_extension": ".label"}
    return [
        {
            "name": name,
            "base_path": str(mnist_dir / split),
            "file_wrapper_type": "SingleSampleFileWrapper",
            "file_wrapper_config": wrapper,
        }
        for name, split in (("mnist", "train"), ("mnist_test", "test"))
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    if request.param == "sqlite":
        yield (
            {"drivername": "sqlite", "database": str(tmp_path / "storage.db")},
            {"drivername": "sqlite", "database": str(tmp_path / "metadata.db")},
        )
        return
    request.getfixturevalue("postgres_db_config")  # skips (or fails under CI) without a server
    storage_db, metadata_db = create_postgres_database("modyn_it_storage"), create_postgres_database("modyn_it_meta")
    yield storage_db, metadata_db
    drop_postgres_database(storage_db)
    drop_postgres_database(metadata_db)


def pipeline_config() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "benchmarks/mnist/pipeline.yaml").read_text())
    config["trigger"] = {"id": "DataAmountTrigger", "num_samples": PER_TRIGGER}
    config["training"].update({"epochs_per_trigger": EPOCHS, "dataloader_workers": WORKERS})
    config["selection_strategy"].update({"tail_triggers": 0, "maximum_keys_in_memory": 200})
    return config


def trigger_keys(selector: SelectorClient, pipeline_id: int, trigger_id: int) -> list[int]:
    keys: list[int] = []
    for partition in range(selector.number_of_partitions(pipeline_id, trigger_id)):
        for worker in range(WORKERS):
            keys += selector.get_sample_keys_and_weights(pipeline_id, trigger_id, worker, partition)[0]
    return keys


def test_mnist_pipeline_end_to_end(mnist_dir: Path, databases: tuple, tmp_path: Path) -> None:
    config = system_config(tmp_path, databases[0], databases[1], datasets(mnist_dir))
    cluster = RunningCluster(config, tmp_path)
    try:
        pipeline_path = tmp_path / "pipeline.yaml"
        pipeline_path.write_text(yaml.safe_dump(pipeline_config()))
        result = subprocess.run(
            [
                bin_script("modyn-supervisor"),
                str(pipeline_path),
                str(cluster.path),
                "--start-replay-at",
                "0",
                "--log-dir",
                str(tmp_path / "logs"),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{cluster.logs()}"
        logs = list((tmp_path / "logs").glob("pipeline_*/pipeline.json"))
        assert len(logs) == 1
        log = json.loads(logs[0].read_text())
        assert log["status"] == "done" and log["mode"] == "experiment"
        assert log["num_samples_seen"] == NUM_TRAIN
        triggers = log["triggers"]
        assert len(triggers) == NUM_TRAIN // PER_TRIGGER

        storage = StorageClient("127.0.0.1", config["storage"]["port"])
        replay = [
            (t, k) for keys, ts, _ in storage.data_in_interval("mnist", 0, 2**62) for k, t in zip(keys, ts, strict=True)
        ]
        ordered_keys = [k for _, k in sorted(replay)]
        assert len(ordered_keys) == NUM_TRAIN

        selector = SelectorClient("127.0.0.1", config["selector"]["port"])
        models = ModelStorageClient("127.0.0.1", config["model_storage"]["port"])
        metadata = MetadataProcessorClient("127.0.0.1", config["metadata_processor"]["port"])
        seen: set[int] = set()
        for i, trigger in enumerate(triggers):
            assert trigger["num_samples"] == PER_TRIGGER
            assert trigger["training"]["samples_seen"] == PER_TRIGGER * EPOCHS
            keys = trigger_keys(selector, log["pipeline_id"], trigger["trigger_id"])
            # tail_triggers 0: exactly the samples since the previous trigger, no overlap
            assert sorted(keys) == sorted(ordered_keys[i * PER_TRIGGER : (i + 1) * PER_TRIGGER])
            assert not seen & set(keys)
            seen |= set(keys)
            info = models.fetch_model_file(trigger["model_id"], tmp_path / f"model_{i}.pt")
            assert (info.pipeline_id, info.trigger_id, info.model_class_name) == (
                log["pipeline_id"],
                trigger["trigger_id"],
                "SmallCNN",
            )
            assert torch.load(tmp_path / f"model_{i}.pt", weights_only=True)
            stored = metadata.get_training_metadata(log["pipeline_id"], trigger["trigger_id"])
            assert stored.found and stored.trigger_metadata.loss > 0
        assert len({t["model_id"] for t in triggers}) == len(triggers)
        accuracy = triggers[-1]["evaluation"]["mnist_test"]["Accuracy"]
        assert accuracy > 0.6, f"last model's accuracy {accuracy} is not well above chance (0.1)"
        assert "pipeline log:" in result.stdout and "mnist_test/Accuracy" in result.stdout
    finally:
        assert cluster.stop() == 0, cluster.logs()
