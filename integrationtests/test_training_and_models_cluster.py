"""The trainer's OnlineDataset, model storage and the evaluator against live services."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from integrationtests.cluster_support import ClusterHandle
from modyn.common.clients.evaluator_client import EvaluationNotStartedError
from modyn.trainer_server.online_dataset import OnlineDataset

POINTS = 120
PARSER = """
import struct
import torch
def bytes_parser_function(data: bytes):
    return torch.tensor(struct.unpack("<2f", data))
"""


@pytest.fixture(scope="session")
def points(cluster: ClusterHandle) -> dict[str, Any]:
    """2-d points in 3 files (timestamps 100, 200, 300); label 1 exactly when x > 0 (x = i - 60.5)."""
    config = {"file_extension": ".pts", "record_size": 12, "label_size": 4, "byteorder": "little"}
    name, folder = cluster.new_dataset("points", "BinaryFileWrapper", config)
    for f in range(3):
        records = []
        for i in range(f * 40, (f + 1) * 40):
            x = i - 60.5
            records.append(struct.pack("<I", int(x > 0)) + struct.pack("<2f", x, float(i % 7)))
        path = folder / f"{f}.pts"
        path.write_bytes(b"".join(records))
        os.utime(path, (100 * (f + 1), 100 * (f + 1)))
    cluster.storage.update_dataset(name)
    rows = [
        (k, t, lab)
        for ks, ts, ls in cluster.storage.data_in_interval(name, 0, 10**9)
        for k, t, lab in zip(ks, ts, ls, strict=True)
    ]
    assert len(rows) == POINTS
    return {"name": name, "keys": [r[0] for r in rows], "labels": {r[0]: r[2] for r in rows}}


def test_online_dataset_with_two_spawned_workers(cluster: ClusterHandle, points: dict[str, Any]) -> None:
    config = {
        "pipeline": {"name": "it-online"},
        "training": {"dataloader_workers": 2},
        "selection_strategy": {"name": "NewDataStrategy", "maximum_keys_in_memory": 25},
    }
    pipeline_id = cluster.selector.register_pipeline(config)
    ts = [0] * POINTS
    labels = [points["labels"][k] for k in points["keys"]]
    trigger_id, num_samples, num_partitions = cluster.selector.inform_data_and_trigger(
        pipeline_id, points["keys"], ts, labels
    )
    assert (num_samples, num_partitions) == (POINTS, 5)
    dataset = OnlineDataset(
        pipeline_id,
        trigger_id,
        points["name"],
        PARSER,
        "",
        (cluster.config["storage"]["hostname"], cluster.config["storage"]["port"]),
        (cluster.config["selector"]["hostname"], cluster.config["selector"]["port"]),
        shuffle=True,
        seed=3,
        num_shares=2,
    )
    loader = DataLoader(dataset, batch_size=16, num_workers=2, multiprocessing_context="spawn")
    seen: dict[int, tuple[torch.Tensor, int]] = {}
    for batch in loader:
        keys, samples, batch_labels = batch[0], batch[1], batch[2]
        for k, sample, label in zip(keys.tolist(), samples, batch_labels.tolist(), strict=True):
            assert k not in seen, f"key {k} delivered twice"
            seen[k] = (sample, label)
    assert sorted(seen) == sorted(points["keys"])
    for k, (sample, label) in seen.items():
        assert label == points["labels"][k] == int(sample[0].item() > 0)


def store_dummy(cluster: ClusterHandle, tmp_path: Path, weight: float, parent: int | None, name: str) -> int:
    """A Dummy (linear 2 -> 2) model that predicts class 1 when weight * x > 0."""
    state = {"output.weight": torch.tensor([[-weight, 0.0], [weight, 0.0]]), "output.bias": torch.zeros(2)}
    path = tmp_path / f"{name}.pt"
    torch.save(state, path)
    return cluster.models.store_model_file(
        path,
        9_000,
        0 if parent is None else 1,
        "Dummy",
        {"input_dim": 2, "num_classes": 2},
        parent_model_id=parent,
        training_set_size=POINTS,
    )


def evaluate(cluster: ClusterHandle, model_id: int, dataset: str, interval: tuple[int, int] | None) -> dict[str, float]:
    spec = {
        "dataset_id": dataset,
        "bytes_parser_function": PARSER,
        "batch_size": 32,
        "metrics": [{"name": "Accuracy"}, {"name": "F1Score", "num_classes": 2, "average": "macro"}],
    }
    evaluation_id = cluster.evaluator.start_evaluation(model_id, spec, "cpu", interval)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        result = cluster.evaluator.result(evaluation_id)
        assert result.valid and not result.failed, result.exception
        if not result.is_running:
            return {r.name: r.value for r in result.results}
        time.sleep(0.2)
    raise AssertionError("evaluation did not finish")


def test_model_round_trip_lineage_and_evaluation(
    cluster: ClusterHandle, points: dict[str, Any], tmp_path: Path
) -> None:
    first = store_dummy(cluster, tmp_path, 1.0, None, "first")
    second = store_dummy(cluster, tmp_path, -1.0, first, "second")
    info = cluster.models.fetch_model_file(second, tmp_path / "fetched.pt")
    assert info.model_class_name == "Dummy"
    assert (tmp_path / "fetched.pt").read_bytes() == (tmp_path / "second.pt").read_bytes()
    described = cluster.models.get_model_info(second)
    assert (described.parent_model_id, described.training_set_size) == (first, POINTS)
    # model `first` predicts label 1 exactly when x > 0: perfect; `second` predicts the opposite
    assert evaluate(cluster, first, points["name"], None) == {"Accuracy": 1.0, "F1Score": 1.0}
    assert evaluate(cluster, second, points["name"], (150, 250))["Accuracy"] == 0.0  # the middle file only
    with pytest.raises(EvaluationNotStartedError) as info_empty:
        cluster.evaluator.start_evaluation(
            first,
            {"dataset_id": points["name"], "bytes_parser_function": PARSER, "metrics": [{"name": "Accuracy"}]},
            "cpu",
            (1000, 2000),
        )
    assert info_empty.value.reason == "EMPTY_DATASET"
    with pytest.raises(EvaluationNotStartedError) as info_model:
        evaluate(cluster, 10**9, points["name"], None)
    assert info_model.value.reason == "MODEL_NOT_FOUND"
