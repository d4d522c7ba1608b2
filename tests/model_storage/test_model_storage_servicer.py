"""Model storage's RPCs over a real loopback channel, through the typed client and the raw stub."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import torch

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.database import Database
from modyn.common.grpc_utils import SHORT_DEADLINE_S, GrpcServer, make_channel
from modyn.generated import model_storage_pb2 as pb
from modyn.generated.model_storage_pb2_grpc import ModelStorageStub, add_ModelStorageServicer_to_server
from modyn.model_storage.model_storage_manager import ModelStorageManager
from modyn.model_storage.servicer import ModelStorageServicer

MODEL_CONFIG = {"input_dim": 1024, "hidden_dims": [1536], "num_classes": 10}


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def server(db_config: dict[str, Any], port: int, models_dir: Path) -> Iterator[GrpcServer]:
    database = Database(db_config)
    servicer = ModelStorageServicer(ModelStorageManager(database, models_dir))
    grpc_server = GrpcServer(
        "model-storage-test",
        "127.0.0.1",
        port,
        lambda s: add_ModelStorageServicer_to_server(servicer, s),
        max_workers=4,
    )
    with grpc_server:
        yield grpc_server
    database.dispose()


@pytest.fixture
def client(server: GrpcServer) -> Iterator[ModelStorageClient]:
    c = ModelStorageClient("127.0.0.1", server.port)
    yield c
    c.close()


@pytest.fixture
def stub(server: GrpcServer) -> Iterator[ModelStorageStub]:
    with make_channel("127.0.0.1", server.port) as channel:
        yield ModelStorageStub(channel)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real state dict of ~6.4 MB: more than one 4 MB chunk each way."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 1536), torch.nn.ReLU(), torch.nn.Linear(1536, 10))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save(model.state_dict(), path)
    return path


def _rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_store_and_fetch_with_the_client(client: ModelStorageClient, model_file: Path, tmp_path: Path) -> None:
    model_id = client.store_model_file(model_file, 3, 2, "MLP", MODEL_CONFIG)
    destination = tmp_path / "fetched.pt"
    info = client.fetch_model_file(model_id, destination)
    assert destination.read_bytes() == model_file.read_bytes()
    assert (info.model_id, info.pipeline_id, info.trigger_id) == (model_id, 3, 2)
    assert info.model_class_name == "MLP" and info.model_config == MODEL_CONFIG
    fetched = torch.load(destination, weights_only=True)
    original = torch.load(model_file, weights_only=True)
    assert all(torch.equal(fetched[k], original[k]) for k in original)

    # A retried upload answers with the same id.
    assert client.store_model_file(model_file, 3, 2, "MLP", MODEL_CONFIG) == model_id


def test_fetch_streams_chunks_with_metadata(
    client: ModelStorageClient, stub: ModelStorageStub, model_file: Path
) -> None:
    model_id = client.store_model_file(model_file, 1, 0, "MLP", MODEL_CONFIG)
    messages = list(stub.FetchModel(pb.FetchModelRequest(model_id=model_id), timeout=SHORT_DEADLINE_S))
    data = model_file.read_bytes()
    assert len(messages) == -(-len(data) // (4 * 1024 * 1024))
    assert len(messages) >= 2
    assert b"".join(m.chunk for m in messages) == data
    for message in messages:
        assert message.model_id == model_id
        assert message.sha256 == hashlib.sha256(data).hexdigest()
        assert message.model_class_name == "MLP"
        assert json.loads(message.model_config) == MODEL_CONFIG


def test_delete(client: ModelStorageClient, stub: ModelStorageStub, model_file: Path, models_dir: Path) -> None:
    model_id = client.store_model_file(model_file, 1, 0, "MLP", MODEL_CONFIG)
    assert (models_dir / f"{model_id}.pt").exists()
    assert client.delete_model(model_id) is True
    assert not (models_dir / f"{model_id}.pt").exists()
    error = _rpc_error(lambda: client.delete_model(model_id))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = _rpc_error(lambda: list(stub.FetchModel(pb.FetchModelRequest(model_id=model_id), timeout=SHORT_DEADLINE_S)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert f"model {model_id} is not stored" in error.details()


def test_fetch_unknown_is_not_found(stub: ModelStorageStub) -> None:
    error = _rpc_error(lambda: list(stub.FetchModel(pb.FetchModelRequest(model_id=4242), timeout=SHORT_DEADLINE_S)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "model 4242" in error.details()


def _store(stub: ModelStorageStub, messages: list[pb.StoreModelRequest]) -> pb.StoreModelResponse:
    return stub.StoreModel(iter(messages), timeout=SHORT_DEADLINE_S)


def test_checksum_mismatch_is_data_loss(stub: ModelStorageStub, models_dir: Path) -> None:
    messages = [
        pb.StoreModelRequest(
            pipeline_id=1, trigger_id=0, model_class_name="MLP", sha256=hashlib.sha256(b"other").hexdigest(), chunk=b"a"
        ),
        pb.StoreModelRequest(chunk=b"b"),
    ]
    error = _rpc_error(lambda: _store(stub, messages))
    assert error.code() == grpc.StatusCode.DATA_LOSS
    assert "nothing was stored" in error.details()
    assert list(models_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "stream was empty"),
        ([pb.StoreModelRequest(pipeline_id=1, model_class_name="MLP", sha256="xyz", chunk=b"a")], "sha256"),
        (
            [
                pb.StoreModelRequest(
                    pipeline_id=1, model_class_name="MLP", sha256=hashlib.sha256(b"ab").hexdigest(), chunk=b"a"
                ),
                pb.StoreModelRequest(pipeline_id=2, chunk=b"b"),
            ],
            "message 2 of the stream has pipeline_id=2",
        ),
        ([pb.StoreModelRequest(pipeline_id=1, sha256=hashlib.sha256(b"a").hexdigest(), chunk=b"a")], "model_class"),
    ],
)
def test_bad_stream_is_invalid_argument(
    stub: ModelStorageStub, models_dir: Path, messages: list[pb.StoreModelRequest], message: str
) -> None:
    error = _rpc_error(lambda: _store(stub, messages))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.details()
    assert list(models_dir.iterdir()) == []


def test_header_repeated_in_every_message_is_fine(stub: ModelStorageStub) -> None:
    data = b"0123456789" * 1000
    header: dict[str, Any] = {
        "pipeline_id": 4,
        "trigger_id": 1,
        "model_class_name": "Dummy",
        "model_config": "{}",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    messages = [pb.StoreModelRequest(**header, chunk=data[i : i + 999]) for i in range(0, len(data), 999)]
    response = _store(stub, messages)
    assert response.success and response.model_id > 0
    fetched = list(stub.FetchModel(pb.FetchModelRequest(model_id=response.model_id), timeout=SHORT_DEADLINE_S))
    assert b"".join(m.chunk for m in fetched) == data
    assert fetched[0].trigger_id == 1 and fetched[0].pipeline_id == 4


def test_in_memory_state_dict_round_trip(stub: ModelStorageStub) -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(10.0)}, buffer)
    data = buffer.getvalue()
    first = pb.StoreModelRequest(
        pipeline_id=0, trigger_id=0, model_class_name="Dummy", sha256=hashlib.sha256(data).hexdigest(), chunk=data[:50]
    )
    response = _store(stub, [first, pb.StoreModelRequest(chunk=data[50:])])
    fetched = list(stub.FetchModel(pb.FetchModelRequest(model_id=response.model_id), timeout=SHORT_DEADLINE_S))
    loaded = torch.load(io.BytesIO(b"".join(m.chunk for m in fetched)), weights_only=True)
    assert torch.equal(loaded["w"], torch.arange(10.0))
