"""The evaluator against REAL storage and model storage services, all in-process on free ports.

Dataset: three BinaryFileWrapper files of 2-d float32 points (label: 4 bytes little-endian), with file
times 1000, 2000, 3000. The stored Dummy model's weights make it predict class 1 exactly when x0 > 0,
so every expected metric below is counted by hand from the tables.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import torch
import yaml

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.grpc_utils import SHORT_DEADLINE_S, GrpcServer, make_channel, wait_for_health
from modyn.common.testing import free_port
from modyn.config import validate_system_config
from modyn.evaluator.evaluation_manager import (
    EvaluationManager,
    EvaluationNotFound,
    EvaluationNotStarted,
    EvaluationRequest,
    InvalidEvaluationRequest,
)
from modyn.evaluator.evaluator_entrypoint import build as build_evaluator
from modyn.generated import evaluator_pb2 as pb
from modyn.generated.evaluator_pb2_grpc import EvaluatorStub
from modyn.model_storage.model_storage_entrypoint import build as build_model_storage
from modyn.storage.storage_entrypoint import build as build_storage

# (x0, label) per file time; x1 is noise the model ignores. Predictions: 1 iff x0 > 0.
FILES = {
    # predictions 0 0 1 1 1 0 -> 4 of 6 right; class 1: TP 2, FP 1, FN 1
    1000: [(-2.0, 0), (-1.0, 0), (1.0, 1), (2.0, 1), (3.0, 0), (-3.0, 1)],
    # predictions 1 1 0 0 1 -> 3 of 5 right; class 1: TP 2, FP 1, FN 1; class 0: TP 1, FP 1, FN 1
    2000: [(1.0, 1), (2.0, 1), (-1.0, 0), (-2.0, 1), (0.5, 0)],
    # all 4 right; class 1: TP 2
    3000: [(5.0, 1), (-5.0, 0), (6.0, 1), (-6.0, 0)],
}
# Whole dataset (15): 11 right. Class 1: TP 6, FP 2, FN 2 -> F1 12/16. Class 0: TP 5, FP 2, FN 2 -> 10/14.
FULL_ACCURACY = 11 / 15
FULL_F1_BINARY = 12 / 16
FULL_F1_MACRO = (12 / 16 + 10 / 14) / 2
# Interval [1500, 2500] = the file of time 2000: class 1 F1 4/6, class 0 F1 2/4.
INTERVAL_ACCURACY = 3 / 5
INTERVAL_F1_MACRO = (4 / 6 + 2 / 4) / 2

PARSER = """
import struct
import torch

def bytes_parser_function(data: bytes):
    return torch.tensor(struct.unpack("<2f", data), dtype=torch.float32)
"""
METRICS = [
    json.dumps({"name": "Accuracy"}),
    json.dumps({"name": "F1Score", "num_classes": 2, "average": "macro"}),
    json.dumps({"name": "F1Score", "average": "binary"}),
]
WAIT_S = 120.0


def write_dataset(folder: Path) -> None:
    folder.mkdir(parents=True)
    for timestamp, points in FILES.items():
        path = folder / f"points_{timestamp}.bin"
        path.write_bytes(
            b"".join(struct.pack("<I2f", label, x0, 0.37 * i - 1.0) for i, (x0, label) in enumerate(points))
        )
        os.utime(path, (timestamp, timestamp))


@dataclass
class Cluster:
    config: dict[str, Any]
    storage: StorageClient
    model_storage: ModelStorageClient
    model_id: int
    config_path: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("evaluator_e2e")
    write_dataset(root / "points")
    raw = {
        "storage": {
            "hostname": "127.0.0.1",
            "port": free_port(),
            "database": {"drivername": "sqlite", "database": str(root / "storage.db")},
            "datasets": [
                {
                    "name": "points",
                    "base_path": str(root / "points"),
                    "file_wrapper_type": "BinaryFileWrapper",
                    "file_wrapper_config": {
                        "file_extension": ".bin",
                        "record_size": 12,
                        "label_size": 4,
                        "byteorder": "little",
                    },
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
    config_path = root / "system.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    config = validate_system_config(raw, root)
    storage_parts = build_storage(config)
    model_storage_parts = build_model_storage(config)
    servers = [
        GrpcServer("storage", "127.0.0.1", config["storage"]["port"], storage_parts.add_servicers),
        GrpcServer("model-storage", "127.0.0.1", config["model_storage"]["port"], model_storage_parts.add_servicers),
    ]
    for server in servers:
        server.start()
    storage = StorageClient("127.0.0.1", config["storage"]["port"])
    model_storage = ModelStorageClient("127.0.0.1", config["model_storage"]["port"])
    assert storage.dataset_size("points") == 15

    model = torch.nn.Module()
    model.output = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.output.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        model.output.bias.zero_()
    torch.save(model.state_dict(), root / "dummy.pt")
    model_id = model_storage.store_model_file(root / "dummy.pt", 1, 0, "Dummy", {"input_dim": 2, "num_classes": 2})
    try:
        yield Cluster(config, storage, model_storage, model_id, config_path)
    finally:
        storage.close()
        model_storage.close()
        for server in servers:
            server.stop()
        for hook in storage_parts.on_shutdown + model_storage_parts.on_shutdown:
            hook()


@pytest.fixture(scope="module")
def evaluator(cluster: Cluster) -> Iterator[EvaluatorStub]:
    """The evaluator as its entrypoint builds it, served on a free port."""
    parts = build_evaluator(cluster.config)
    server = GrpcServer("evaluator", "127.0.0.1", cluster.config["evaluator"]["port"], parts.add_servicers)
    server.start()
    channel = make_channel("127.0.0.1", cluster.config["evaluator"]["port"])
    try:
        yield EvaluatorStub(channel)
    finally:
        channel.close()
        server.stop()
        for hook in parts.on_shutdown:
            hook()


@pytest.fixture
def manager(cluster: Cluster) -> Iterator[EvaluationManager]:
    """A manager with tiny storage requests, so batches straddle Get chunks."""
    manager = EvaluationManager(cluster.storage, cluster.model_storage, keys_per_get=4)
    yield manager
    manager.shutdown()


def request(cluster: Cluster, **overrides: Any) -> pb.EvaluateModelRequest:
    fields: dict[str, Any] = {
        "model_id": cluster.model_id,
        "dataset_id": "points",
        "bytes_parser_function": PARSER,
        "batch_size": 4,
        "device": "cpu",
        "metrics": METRICS,
    }
    fields.update(overrides)
    return pb.EvaluateModelRequest(**fields)


def wait_result(stub: EvaluatorStub, evaluation_id: int) -> pb.EvaluationResultResponse:
    """Poll GetEvaluationResult until the job is no longer running (deadline WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        response = stub.GetEvaluationResult(
            pb.EvaluationResultRequest(evaluation_id=evaluation_id), timeout=SHORT_DEADLINE_S
        )
        assert response.valid
        if not response.is_running:
            return response
        assert time.monotonic() < deadline, f"evaluation {evaluation_id} still running after {WAIT_S}s"
        time.sleep(0.05)


def results(response: pb.EvaluationResultResponse) -> dict[str, float]:
    return {r.name: r.value for r in response.results}


def test_whole_dataset_over_grpc(cluster: Cluster, evaluator: EvaluatorStub) -> None:
    started = evaluator.EvaluateModel(request(cluster), timeout=SHORT_DEADLINE_S)
    assert started.evaluation_started
    assert started.dataset_size == 15
    response = wait_result(evaluator, started.evaluation_id)
    assert not response.failed, response.exception
    assert response.num_samples == 15
    assert [r.name for r in response.results] == ["Accuracy", "F1Score", "F1Score(average=binary)"]
    values = results(response)
    assert values["Accuracy"] == pytest.approx(FULL_ACCURACY)
    assert values["F1Score"] == pytest.approx(FULL_F1_MACRO)
    assert values["F1Score(average=binary)"] == pytest.approx(FULL_F1_BINARY)


def test_interval_restriction_over_grpc(cluster: Cluster, evaluator: EvaluatorStub) -> None:
    started = evaluator.EvaluateModel(
        request(cluster, has_interval=True, start_timestamp=1500, end_timestamp=2500, batch_size=2),
        timeout=SHORT_DEADLINE_S,
    )
    assert started.dataset_size == 5
    response = wait_result(evaluator, started.evaluation_id)
    assert not response.failed, response.exception
    assert response.num_samples == 5
    values = results(response)
    assert values["Accuracy"] == pytest.approx(INTERVAL_ACCURACY)
    assert values["F1Score"] == pytest.approx(INTERVAL_F1_MACRO)


def test_empty_interval_is_not_started_with_its_reason(cluster: Cluster, evaluator: EvaluatorStub) -> None:
    started = evaluator.EvaluateModel(
        request(cluster, has_interval=True, start_timestamp=5000, end_timestamp=6000), timeout=SHORT_DEADLINE_S
    )
    assert not started.evaluation_started
    assert started.dataset_size == 0
    assert started.not_start_reason == pb.EMPTY_DATASET
    assert started.message == "dataset 'points' has no samples in the interval [5000, 6000]"


def test_cuda_device_evaluates_on_the_gpu_or_is_rejected_without_one(
    cluster: Cluster, evaluator: EvaluatorStub
) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(grpc.RpcError) as info:
            evaluator.EvaluateModel(request(cluster, device="cuda:0"), timeout=SHORT_DEADLINE_S)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "device 'cuda:0' is not available on the evaluator" in info.value.details()
        return
    started = evaluator.EvaluateModel(request(cluster, device="cuda:0"), timeout=SHORT_DEADLINE_S)
    response = wait_result(evaluator, started.evaluation_id)
    assert not response.failed, response.exception
    assert results(response)["Accuracy"] == pytest.approx(FULL_ACCURACY)


def test_parser_failing_at_run_time_fails_the_job(cluster: Cluster, evaluator: EvaluatorStub) -> None:
    bad_parser = "def bytes_parser_function(data):\n    raise ValueError('cannot read ' + str(len(data)) + ' bytes')\n"
    started = evaluator.EvaluateModel(request(cluster, bytes_parser_function=bad_parser), timeout=SHORT_DEADLINE_S)
    response = wait_result(evaluator, started.evaluation_id)
    assert response.failed
    assert "bytes_parser_function failed on sample" in response.exception
    assert "ValueError: cannot read 8 bytes" in response.exception
    assert not response.results


def test_unknown_model_and_dataset_are_not_started_naming_them(cluster: Cluster, evaluator: EvaluatorStub) -> None:
    started = evaluator.EvaluateModel(request(cluster, model_id=987654), timeout=SHORT_DEADLINE_S)
    assert (started.evaluation_started, started.not_start_reason) == (False, pb.MODEL_NOT_FOUND)
    assert started.message == "model 987654 is not stored in model storage"
    started = evaluator.EvaluateModel(request(cluster, dataset_id="nope"), timeout=SHORT_DEADLINE_S)
    assert (started.evaluation_started, started.not_start_reason) == (False, pb.DATASET_NOT_FOUND)
    assert "dataset 'nope' is not registered" in started.message


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        ({"metrics": [json.dumps({"name": "Precision"})]}, grpc.StatusCode.INVALID_ARGUMENT, "unknown metric"),
        (
            {"metrics": [json.dumps({"name": "F1Score", "average": "samples"})]},
            grpc.StatusCode.INVALID_ARGUMENT,
            "F1Score: average must be one of",
        ),
        ({"metrics": ["not json"]}, grpc.StatusCode.INVALID_ARGUMENT, "not valid JSON"),
        ({"metrics": []}, grpc.StatusCode.INVALID_ARGUMENT, "no metrics requested"),
        (
            {"bytes_parser_function": "def bytes_parser_function(data:\n"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "bytes_parser_function: cannot compile",
        ),
        (
            {"bytes_parser_function": "def parse(data):\n    return data\n"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "must define a function named 'bytes_parser_function'",
        ),
        ({"bytes_parser_function": ""}, grpc.StatusCode.INVALID_ARGUMENT, "bytes_parser_function is empty"),
        (
            {"label_transformer_function": "label_transformer_function = 3"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "label_transformer_function",
        ),
        ({"batch_size": 0}, grpc.StatusCode.INVALID_ARGUMENT, "batch_size must be > 0"),
        (
            {"has_interval": True, "start_timestamp": 10, "end_timestamp": 5},
            grpc.StatusCode.INVALID_ARGUMENT,
            "interval start 10 is after its end 5",
        ),
        ({"device": "tpu"}, grpc.StatusCode.INVALID_ARGUMENT, "device 'tpu'"),
        ({"bytes_parser_function": "imagex"}, grpc.StatusCode.INVALID_ARGUMENT, "unknown built-in parser 'imagex'"),
        ({"transformations": '["Blur"]'}, grpc.StatusCode.INVALID_ARGUMENT, "transformations[0]"),
        ({"transformations": "{"}, grpc.StatusCode.INVALID_ARGUMENT, "transformations is not a JSON list"),
        (
            {"evaluation_transformer_function": "def f(x):\n    return x\n"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "must define a function named 'evaluation_transformer_function'",
        ),
    ],
)
def test_bad_requests_are_rejected_before_a_job_starts(
    cluster: Cluster, evaluator: EvaluatorStub, overrides: dict[str, Any], code: grpc.StatusCode, message: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        evaluator.EvaluateModel(request(cluster, **overrides), timeout=SHORT_DEADLINE_S)
    assert info.value.code() == code
    assert message in info.value.details()


def test_unknown_evaluation_id_is_not_found(evaluator: EvaluatorStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        evaluator.GetEvaluationResult(pb.EvaluationResultRequest(evaluation_id=424242), timeout=SHORT_DEADLINE_S)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "evaluation 424242 does not exist" in info.value.details()


def test_manager_with_small_chunks_and_label_transformer(cluster: Cluster, manager: EvaluationManager) -> None:
    # Flipping every label turns each right prediction wrong and vice versa: 4 of 15 right.
    evaluation_id, size = manager.start(
        EvaluationRequest(
            model_id=cluster.model_id,
            dataset_id="points",
            bytes_parser_function=PARSER,
            metrics=[json.dumps({"name": "Accuracy"})],
            batch_size=3,
            label_transformer_function="def label_transformer_function(labels):\n    return 1 - labels\n",
        )
    )
    assert size == 15
    status = manager.wait(evaluation_id, WAIT_S)
    assert not status.is_running and not status.failed, status.exception
    assert status.num_samples == 15
    assert status.results == [("Accuracy", pytest.approx(4 / 15))]


def test_manager_errors(cluster: Cluster, manager: EvaluationManager) -> None:
    with pytest.raises(EvaluationNotFound, match="evaluation 1 does not exist"):
        manager.status(1)
    with pytest.raises(EvaluationNotStarted, match="dataset 'missing'") as info:
        manager.start(EvaluationRequest(cluster.model_id, "missing", PARSER, METRICS))
    assert info.value.reason == "DATASET_NOT_FOUND"
    with pytest.raises(InvalidEvaluationRequest, match="requested twice"):
        manager.start(EvaluationRequest(cluster.model_id, "points", PARSER, [METRICS[0], METRICS[0]]))


def test_shutdown_stops_a_running_evaluation(cluster: Cluster, manager: EvaluationManager) -> None:
    # A parser that never returns keeps the job running until the manager shuts down.
    slow = "import time\ndef bytes_parser_function(data):\n    time.sleep(3600)\n"
    evaluation_id, _ = manager.start(EvaluationRequest(cluster.model_id, "points", slow, METRICS))
    assert manager.status(evaluation_id).is_running
    manager.shutdown()
    status = manager.status(evaluation_id)
    assert not status.is_running and status.failed
    assert "shut down" in status.exception


def test_entrypoint_serves_and_exits_cleanly_on_sigterm(cluster: Cluster, tmp_path: Path) -> None:
    config = yaml.safe_load(cluster.config_path.read_text())
    config["evaluator"]["port"] = free_port()
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "modyn.evaluator.evaluator_entrypoint", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for_health("127.0.0.1", config["evaluator"]["port"], timeout_s=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_entrypoint_rejects_an_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text("storage: {port: 1}\n")
    process = subprocess.run(
        [sys.executable, "-m", "modyn.evaluator.evaluator_entrypoint", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2
    assert "modyn-evaluator" in process.stderr


def test_evaluation_transformer_and_roc_auc_over_grpc(cluster: Cluster, evaluator: EvaluatorStub) -> None:
    # Swapping the two output columns turns every prediction around: 4 of 15 right, and the AUC of the
    # class-1 score becomes 1 - AUC. Scores (softmax of (-x0, x0)) rank samples by x0.
    swap = "def evaluation_transformer_function(outputs):\n    return outputs.flip(1)\n"
    metrics = [json.dumps({"name": "Accuracy"}), json.dumps({"name": "RocAuc"})]
    plain = evaluator.EvaluateModel(request(cluster, metrics=metrics), timeout=SHORT_DEADLINE_S)
    swapped = evaluator.EvaluateModel(
        request(cluster, metrics=metrics, evaluation_transformer_function=swap), timeout=SHORT_DEADLINE_S
    )
    plain_values = results(wait_result(evaluator, plain.evaluation_id))
    swapped_values = results(wait_result(evaluator, swapped.evaluation_id))
    # x0 of positives: 1 2 -3 1 2 -2 5 6 (8); negatives: -2 -1 3 -1 0.5 -5 -6 (7). Negatives below each
    # positive: 6 6 2 6 6 2.5 (a tie counts half) 7 7 = 42.5 of 56 pairs.
    assert plain_values["RocAuc"] == pytest.approx(42.5 / 56)
    assert swapped_values["RocAuc"] == pytest.approx(13.5 / 56)
    assert swapped_values["Accuracy"] == pytest.approx(4 / 15)


def test_several_evaluations_run_at_once(cluster: Cluster, evaluator: EvaluatorStub) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        started = list(
            pool.map(lambda _: evaluator.EvaluateModel(request(cluster), timeout=SHORT_DEADLINE_S), range(4))
        )
    ids = [s.evaluation_id for s in started]
    assert len(set(ids)) == 4
    for evaluation_id in ids:
        assert results(wait_result(evaluator, evaluation_id))["Accuracy"] == pytest.approx(FULL_ACCURACY)
