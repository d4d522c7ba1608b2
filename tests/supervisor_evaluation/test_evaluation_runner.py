"""EvaluationRunner against REAL storage, model storage and evaluator services (in-process, free ports).

Dataset: BinaryFileWrapper files of 2-d float32 points at file times 1000, 2000, 3000. Three stored
Dummy models (Linear 2 -> 2): A predicts 1 iff x0 > 0, B iff x0 < 0, C always 1. Expected accuracies:
            t=1000 (4)   t=2000 (5)   t=3000 (2)   whole (11)
  A         4/4          1/5          2/2          7/11
  B         0/4          4/5          0/2          4/11
  C         2/4          3/5          1/2          6/11
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from modyn.common.clients.evaluator_client import EvaluatorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.grpc_utils import GrpcServer
from modyn.common.testing import free_port
from modyn.config import validate_system_config
from modyn.evaluator.evaluator_entrypoint import build as build_evaluator
from modyn.model_storage.model_storage_entrypoint import build as build_model_storage
from modyn.storage.storage_entrypoint import build as build_storage
from modyn.supervisor.evaluation.evaluation_runner import EvaluationRunner

FILES = {
    1000: [(-2.0, 0), (-1.0, 0), (1.0, 1), (2.0, 1)],
    2000: [(1.0, 0), (2.0, 0), (-1.0, 1), (-3.0, 1), (4.0, 1)],
    3000: [(5.0, 1), (-5.0, 0)],
}
WEIGHTS = {
    "A": ([[-1.0, 0.0], [1.0, 0.0]], [0.0, 0.0]),
    "B": ([[1.0, 0.0], [-1.0, 0.0]], [0.0, 0.0]),
    "C": ([[0.0, 0.0], [0.0, 0.0]], [0.0, 1.0]),
}
PARSER = (
    "def bytes_parser_function(data):\n    import struct, torch\n    return torch.tensor(struct.unpack('<2f', data))\n"
)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("runner")
    (root / "points").mkdir()
    for timestamp, points in FILES.items():
        path = root / "points" / f"p{timestamp}.bin"
        path.write_bytes(b"".join(struct.pack("<I2f", label, x0, 0.0) for x0, label in points))
        os.utime(path, (timestamp, timestamp))
    raw = {
        "storage": {
            "port": free_port(),
            "database": {"drivername": "sqlite", "database": str(root / "storage.db")},
            "datasets": [
                {
                    "name": "points",
                    "base_path": str(root / "points"),
                    "file_wrapper_type": "BinaryFileWrapper",
                    "file_wrapper_config": {"file_extension": ".bin", "record_size": 12, "label_size": 4},
                    "file_watcher_interval": 60,
                }
            ],
        },
        "metadata_database": {"drivername": "sqlite", "database": str(root / "metadata.db")},
        "selector": {"port": free_port()},
        "trainer_server": {"port": free_port()},
        "metadata_processor": {"port": free_port()},
        "model_storage": {"port": free_port(), "models_directory": str(root / "models")},
        "evaluator": {"port": free_port()},
    }
    config = validate_system_config(raw, root)
    parts = [build_storage(config), build_model_storage(config), build_evaluator(config)]
    servers = [
        GrpcServer(name, "127.0.0.1", config[section]["port"], part.add_servicers)
        for (name, section), part in zip(
            [("storage", "storage"), ("model-storage", "model_storage"), ("evaluator", "evaluator")], parts, strict=True
        )
    ]
    for server in servers:
        server.start()
    model_storage = ModelStorageClient("127.0.0.1", config["model_storage"]["port"])
    evaluator = EvaluatorClient("127.0.0.1", config["evaluator"]["port"])
    try:
        yield {"config": config, "root": root, "model_storage": model_storage, "evaluator": evaluator}
    finally:
        model_storage.close()
        evaluator.close()
        for server in servers:
            server.stop()
        for part in parts:
            for hook in part.on_shutdown:
                hook()


def _store_models(services: dict[str, Any], pipeline_id: int) -> dict[str, int]:
    ids: dict[str, int] = {}
    for trigger, (name, (weight, bias)) in enumerate(WEIGHTS.items()):
        state = {"output.weight": torch.tensor(weight), "output.bias": torch.tensor(bias)}
        path = services["root"] / f"{name}_{pipeline_id}.pt"
        torch.save(state, path)
        ids[name] = services["model_storage"].store_model_file(
            path,
            pipeline_id,
            trigger,
            "Dummy",
            {"input_dim": 2, "num_classes": 2},
            parent_model_id=ids[list(ids)[-1]] if ids else None,
            training_set_size=4,
        )
    return ids


def _pipeline(evaluation: dict[str, Any], **sections: Any) -> dict[str, Any]:
    dataset = {
        "dataset_id": "points",
        "bytes_parser_function": PARSER,
        "batch_size": 2,
        "metrics": [{"name": "Accuracy"}],
    }
    return {
        "pipeline": {"name": "runner-test"},
        "evaluation": {"device": "cpu", "datasets": [dataset], **evaluation},
        **sections,
    }


def _trigger(index: int, model_id: int, timestamp: int) -> dict[str, Any]:
    return {
        "trigger_index": index,
        "trigger_id": index,
        "model_id": model_id,
        "first_timestamp": timestamp,
        "last_timestamp": timestamp,
    }


def test_three_trigger_pipeline_after_trigger_offsets_and_full_matrix(services: dict[str, Any], tmp_path: Path) -> None:
    ids = _store_models(services, pipeline_id=1)
    runner = EvaluationRunner(
        services["evaluator"],
        _pipeline(
            {
                "after_trigger": {"strategy": {"name": "OffsetEvalStrategy", "length": "1000s"}},
                "matrix": {"strategy": {"name": "OffsetEvalStrategy"}},
            }
        ),
    )
    runner.bind(1, tmp_path, services["config"])
    triggers = [_trigger(i, ids[name], 1000 * (i + 1)) for i, name in enumerate("ABC")]
    # A on the next 1000 s [1001, 2000]: the t=2000 file; B on [2001, 3000]: t=3000; C on [3001, 4000]: nothing.
    assert runner.after_trigger(ids["A"], triggers[0]) == {"points": {"Accuracy": pytest.approx(0.2)}}
    assert runner.after_trigger(ids["B"], triggers[1]) == {"points": {"Accuracy": 0.0}}
    assert runner.after_trigger(ids["C"], triggers[2]) == {"points": {}}
    assert triggers[2]["evaluation_notes"] == {
        "points": "EMPTY_DATASET: dataset 'points' has no samples in the interval [3001, 4000]"
    }
    log = runner.after_pipeline(triggers)
    matrix = log["evaluation_matrix"]
    assert matrix["intervals"] == [[1000, 1999], [2000, 2999], [3000, 3000]]
    assert [m["model_id"] for m in matrix["models"]] == [ids["A"], ids["B"], ids["C"]]
    assert matrix["results"]["points"]["Accuracy"] == [
        [1.0, pytest.approx(0.2), 1.0],
        [0.0, pytest.approx(0.8), 0.0],
        [0.5, pytest.approx(0.6), 0.5],
    ]
    assert matrix["notes"] == []
    assert matrix["heatmaps"] == ["evaluation_matrix_points_Accuracy.png"]
    assert (tmp_path / "evaluation_matrix_points_Accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(log)  # goes into the pipeline log as is
    # Every result was recorded in model storage.
    recorded = {
        (m.interval_start, m.interval_end): m.value for m in services["model_storage"].get_model_info(ids["B"]).metrics
    }
    assert recorded == {(2001, 3000): 0.0, (1000, 1999): 0.0, (2000, 2999): pytest.approx(0.8), (3000, 3000): 0.0}


def test_promotion_gate_and_deployment_after_each_trigger(services: dict[str, Any], tmp_path: Path) -> None:
    ids = _store_models(services, pipeline_id=2)
    folder = tmp_path / "deploy"
    gate = {"dataset_id": "points", "metric": "Accuracy", "max_regression": 0.1, "higher_is_better": True}
    runner = EvaluationRunner(
        services["evaluator"],
        _pipeline({}, deployment={"folder": str(folder), "alias": "champion", "promotion_gate": gate}),
    )
    runner.bind(2, tmp_path, services["config"])
    entries = [_trigger(i, ids[name], 1000 * (i + 1)) for i, name in enumerate("ABC")]
    assert runner.after_trigger(ids["A"], entries[0]) == {"points": {"Accuracy": pytest.approx(7 / 11, abs=1e-6)}}
    assert entries[0]["promotion"]["promoted"] is True
    assert entries[0]["promotion"]["published_to"] == str(folder / "models" / str(ids["A"]))
    runner.after_trigger(ids["B"], entries[1])  # 4/11 vs 7/11: refused
    assert entries[1]["promotion"]["promoted"] is False
    assert entries[1]["promotion"]["previous_model_id"] == ids["A"]
    assert entries[1]["promotion"]["reason"].startswith("gate refused: points/Accuracy on the whole dataset")
    runner.after_trigger(ids["C"], entries[2])  # 6/11 vs 7/11: 1/11 < 0.1 worse, promoted
    assert entries[2]["promotion"]["promoted"] is True
    assert services["model_storage"].resolve_alias(2, "champion") == ids["C"]
    card = json.loads((folder / "current" / "card.json").read_text())
    assert (card["model_id"], card["lineage"], card["training_set_size"]) == (ids["C"], [ids["B"], ids["A"]], 4)
    assert runner.after_pipeline(entries) == {}


def test_gate_reevaluates_the_champion_on_the_candidates_interval(services: dict[str, Any], tmp_path: Path) -> None:
    ids = _store_models(services, pipeline_id=3)
    gate = {"dataset_id": "points", "metric": "Accuracy", "max_regression": 0.0}
    runner = EvaluationRunner(
        services["evaluator"],
        _pipeline(
            {
                "after_trigger": {
                    "strategy": {"name": "StaticEvalStrategy", "intervals": [{"start": 2000, "end": 2000}]}
                }
            },
            deployment={"folder": str(tmp_path / "deploy"), "promotion_gate": gate},
        ),
    )
    runner.bind(3, tmp_path, services["config"])
    # Only the model holding 'champion' is re-evaluated where needed: first A, then B (0.8 > 0.2) wins.
    first = _trigger(0, ids["A"], 1000)
    runner.after_trigger(ids["A"], first)
    second = _trigger(1, ids["B"], 2000)
    assert runner.after_trigger(ids["B"], second) == {"points": {"Accuracy": pytest.approx(0.8)}}
    assert second["promotion"]["promoted"] is True
    third = _trigger(2, ids["C"], 3000)
    runner.after_trigger(ids["C"], third)  # 0.6 vs 0.8
    assert third["promotion"]["promoted"] is False
    assert "on interval [2000, 2000]" in third["promotion"]["reason"]
