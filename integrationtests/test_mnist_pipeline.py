"""The whole system: modyn-supervisor drives MNIST pipelines through a real cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from integrationtests.cluster_support import ROOT, ClusterHandle, bin_script

NUM_TRAIN, NUM_TEST, PER_TRIGGER, EPOCHS, WORKERS = 1500, 500, 500, 3, 2
PNG_WRAPPER = {"file_extension": ".png", "label_file_extension": ".label"}


@pytest.fixture(scope="session")
def mnist(cluster: ClusterHandle) -> dict[str, str]:
    """The MNIST subset written into the cluster's data folder and registered as two datasets."""
    out = cluster.data_dir / "mnist"
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
    train, _ = cluster.new_dataset("mnist", "SingleSampleFileWrapper", PNG_WRAPPER, out / "train")
    test, _ = cluster.new_dataset("mnist_test", "SingleSampleFileWrapper", PNG_WRAPPER, out / "test")
    return {"train": train, "test": test}


def pipeline_config(mnist: dict[str, str], name: str = "mnist-it") -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "benchmarks/mnist/pipeline.yaml").read_text())
    config["pipeline"]["name"] = name
    config["data"]["dataset_id"] = mnist["train"]
    config["evaluation"]["datasets"][0]["dataset_id"] = mnist["test"]
    config["evaluation"]["datasets"][1]["dataset_id"] = config["evaluation"]["matrix"]["datasets"][0] = mnist["train"]
    config["evaluation"]["after_trigger"]["datasets"] = [mnist["test"]]
    config["trigger"] = {"id": "DataAmountTrigger", "num_samples": PER_TRIGGER}
    config["training"].update({"epochs_per_trigger": EPOCHS, "dataloader_workers": WORKERS})
    config["selection_strategy"].update({"tail_triggers": 0, "maximum_keys_in_memory": 200})
    return config


def start_supervisor(cluster: ClusterHandle, config: dict[str, Any], workdir: Path, *args: str) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [bin_script("modyn-supervisor"), str(path), str(cluster.path), "--log-dir", str(workdir / "logs"), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, cluster: ClusterHandle, workdir: Path) -> tuple[dict[str, Any], str]:
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, f"supervisor stderr:\n{err}\nstdout:\n{out}\n{cluster.logs()}"
    logs = list((workdir / "logs").glob("pipeline_*/pipeline.json"))
    assert len(logs) == 1
    return json.loads(logs[0].read_text()), out


def trigger_keys(cluster: ClusterHandle, pipeline_id: int, trigger_id: int) -> list[int]:
    keys: list[int] = []
    for partition in range(cluster.selector.number_of_partitions(pipeline_id, trigger_id)):
        for worker in range(WORKERS):
            keys += cluster.selector.get_sample_keys_and_weights(pipeline_id, trigger_id, worker, partition)[0]
    return keys


def test_mnist_pipeline_end_to_end(cluster: ClusterHandle, mnist: dict[str, str], tmp_path: Path) -> None:
    process = start_supervisor(cluster, pipeline_config(mnist), tmp_path, "--start-replay-at", "0")
    log, stdout = finish(process, cluster, tmp_path)
    assert log["status"] == "done" and log["mode"] == "experiment"
    assert log["num_samples_seen"] == NUM_TRAIN
    triggers = log["triggers"]
    assert len(triggers) == NUM_TRAIN // PER_TRIGGER

    replay = [
        (t, k)
        for keys, ts, _ in cluster.storage.data_in_interval(mnist["train"], 0, 2**62)
        for k, t in zip(keys, ts, strict=True)
    ]
    ordered_keys = [k for _, k in sorted(replay)]
    assert len(ordered_keys) == NUM_TRAIN

    seen: set[int] = set()
    for i, trigger in enumerate(triggers):
        assert trigger["num_samples"] == PER_TRIGGER
        assert trigger["training"]["samples_seen"] == PER_TRIGGER * EPOCHS
        keys = trigger_keys(cluster, log["pipeline_id"], trigger["trigger_id"])
        # tail_triggers 0: exactly the samples since the previous trigger, no overlap
        assert sorted(keys) == sorted(ordered_keys[i * PER_TRIGGER : (i + 1) * PER_TRIGGER])
        assert not seen & set(keys)
        seen |= set(keys)
        info = cluster.models.fetch_model_file(trigger["model_id"], tmp_path / f"model_{i}.pt")
        assert (info.pipeline_id, info.trigger_id, info.model_class_name) == (
            log["pipeline_id"],
            trigger["trigger_id"],
            "SmallCNN",
        )
        assert torch.load(tmp_path / f"model_{i}.pt", weights_only=True)
        stored = cluster.metadata.get_training_metadata(log["pipeline_id"], trigger["trigger_id"])
        assert stored.found and stored.trigger_metadata.loss > 0
    assert len({t["model_id"] for t in triggers}) == len(triggers)
    accuracy = triggers[-1]["evaluation"][mnist["test"]]["Accuracy"]
    assert accuracy > 0.6, f"last model's accuracy {accuracy} is not well above chance (0.1)"
    assert "pipeline log:" in stdout and f"{mnist['test']}/Accuracy" in stdout


def test_two_pipelines_at_once(cluster: ClusterHandle, mnist: dict[str, str], tmp_path: Path) -> None:
    by_amount = pipeline_config(mnist, "amount")
    by_amount["training"]["epochs_per_trigger"] = 1
    by_time = pipeline_config(mnist, "time")
    by_time["training"]["epochs_per_trigger"] = 1
    by_time["trigger"] = {"id": "TimeTrigger", "every": "6h"}  # samples are one minute apart: 360 per period
    by_time["selection_strategy"].pop("tail_triggers")  # all data so far
    first = start_supervisor(cluster, by_amount, tmp_path / "a", "--start-replay-at", "0", "--maximum-triggers", "2")
    second = start_supervisor(cluster, by_time, tmp_path / "b", "--start-replay-at", "0", "--maximum-triggers", "3")
    log_a, _ = finish(first, cluster, tmp_path / "a")
    log_b, _ = finish(second, cluster, tmp_path / "b")
    assert log_a["pipeline_id"] != log_b["pipeline_id"]
    assert [t["num_samples"] for t in log_a["triggers"]] == [PER_TRIGGER, PER_TRIGGER]
    # TimeTrigger every 6h over samples 60 s apart: 360 new samples per trigger, and without
    # tail_triggers each training set holds everything seen so far.
    assert [t["num_samples"] for t in log_b["triggers"]] == [360, 720, 1080]
    assert all(t["last_timestamp"] - t["first_timestamp"] == 359 * 60 for t in log_b["triggers"])
