"""The registry RPCs over a real loopback channel, through the typed client."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import torch

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.database import Database
from modyn.common.grpc_utils import GrpcServer
from modyn.generated.model_storage_pb2_grpc import add_ModelStorageServicer_to_server
from modyn.model_storage.model_storage_manager import ModelStorageManager
from modyn.model_storage.servicer import ModelStorageServicer
from modyn.model_storage.strategies.state_dict import load_state_dict, save_state_dict, state_sha256


@pytest.fixture
def client(sqlite_db_config: dict[str, Any], port: int, tmp_path: Path) -> Iterator[ModelStorageClient]:
    database = Database(sqlite_db_config)
    servicer = ModelStorageServicer(ModelStorageManager(database, tmp_path / "models"))
    server = GrpcServer(
        "model-storage-test", "127.0.0.1", port, lambda s: add_ModelStorageServicer_to_server(servicer, s)
    )
    with server:
        c = ModelStorageClient("127.0.0.1", port)
        yield c
        c.close()
    database.dispose()


def _upload(
    client: ModelStorageClient, tmp_path: Path, trigger: int, value: float, parent: int | None
) -> tuple[int, Any]:
    state = OrderedDict([("w", torch.full((1000,), value)), ("step", torch.tensor(trigger))])
    path = tmp_path / f"upload_{trigger}.pt"
    path.write_bytes(save_state_dict(state))
    return client.store_model_file(path, 5, trigger, "Dummy", {}, parent_model_id=parent, training_set_size=10), state


def test_registry_round_trip_over_grpc(client: ModelStorageClient, tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    client.set_pipeline(
        5,
        "pipe",
        {"incremental_model_strategy": {"name": "WeightsDifference", "config": {"operator": "sub"}}},
        {"folder": str(deploy)},
    )
    first, _ = _upload(client, tmp_path, 0, 1.0, None)
    second, state = _upload(client, tmp_path, 1, 1.5, first)
    info = client.get_model_info(second)
    assert (info.parent_model_id, info.training_set_size, info.base_model_id) == (first, 10, first)
    assert info.storage == f"diff(sub) of model {first}" and list(info.aliases) == ["latest"]
    assert info.HasField("parent_model_id") and not client.get_model_info(first).HasField("parent_model_id")
    client.fetch_model_file(second, tmp_path / "fetched.pt")
    assert state_sha256(load_state_dict((tmp_path / "fetched.pt").read_bytes())) == state_sha256(state)

    client.record_metrics(second, "test", (0, 9), {"Accuracy": 0.5})
    client.record_metrics(first, "test", (0, 9), {"Accuracy": 0.7})
    assert client.promote(first, "champion").promoted
    gate = {"dataset_id": "test", "metric": "Accuracy", "max_regression": 0.1}
    refused = client.promote(second, "champion", gate)
    assert (refused.promoted, refused.previous_model_id) == (False, first)
    assert "gate refused" in refused.reason
    assert client.resolve_alias(5, "champion") == first
    assert json.loads((deploy / "current.json").read_text())["model_id"] == first
    metrics = client.get_model_info(second).metrics
    assert [(m.dataset_id, m.metric, m.has_interval, m.interval_start, m.interval_end, m.value) for m in metrics] == [
        ("test", "Accuracy", True, 0, 9, 0.5)
    ]
    assert [m.model_id for m in client.list_models(5)] == [first, second]
    assert client.list_models(6) == []

    with pytest.raises(grpc.RpcError) as error:
        client.delete_model(first)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"model(s) {second} are stored as differences to it" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        client.resolve_alias(5, "nope")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        client.get_model_info(999)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND and "model 999 is not stored" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        client.promote(second, "latest")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as error:
        client.set_pipeline(5, "pipe", {"incremental_model_strategy": {"full_model_interval": 0}}, None)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "full_model_interval" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        client.record_metrics(999, "test", None, {"Accuracy": 1.0})
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert client.delete_model(second) and client.list_models(5)[0].model_id == first
