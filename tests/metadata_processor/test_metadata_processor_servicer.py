"""The metadata processor's RPCs over a real loopback channel, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.database import Database
from modyn.common.grpc_utils import SHORT_DEADLINE_S, GrpcServer, make_channel
from modyn.generated import metadata_processor_pb2 as pb
from modyn.generated.metadata_processor_pb2_grpc import MetadataProcessorStub, add_MetadataProcessorServicer_to_server
from modyn.metadata_processor.metadata_processor_manager import MetadataProcessorManager
from modyn.metadata_processor.servicer import MetadataProcessorServicer


@pytest.fixture
def server(db_config: dict[str, Any], port: int) -> Iterator[GrpcServer]:
    database = Database(db_config)
    servicer = MetadataProcessorServicer(MetadataProcessorManager(database))
    grpc_server = GrpcServer(
        "metadata-processor-test",
        "127.0.0.1",
        port,
        lambda s: add_MetadataProcessorServicer_to_server(servicer, s),
        max_workers=4,
    )
    with grpc_server:
        yield grpc_server
    database.dispose()


@pytest.fixture
def client(server: GrpcServer) -> Iterator[MetadataProcessorClient]:
    c = MetadataProcessorClient("127.0.0.1", server.port)
    yield c
    c.close()


@pytest.fixture
def stub(server: GrpcServer) -> Iterator[MetadataProcessorStub]:
    with make_channel("127.0.0.1", server.port) as channel:
        yield MetadataProcessorStub(channel)


def test_process_and_get(client: MetadataProcessorClient) -> None:
    stored = client.send_training_metadata(1, 0, 0.25, 3, sample_keys=[10, 11, 12], sample_losses=[0.1, 0.2, math.nan])
    assert stored == 3

    response = client.get_training_metadata(1, 0)
    assert response.found
    assert response.trigger_metadata.loss == 0.25
    assert response.trigger_metadata.num_samples == 3
    assert [s.sample_key for s in response.sample_metadata] == [10, 11, 12]
    losses = [s.loss for s in response.sample_metadata]
    assert losses[:2] == [0.1, 0.2] and math.isnan(losses[2])


def test_retried_request_replaces(client: MetadataProcessorClient) -> None:
    for _ in range(2):
        client.send_training_metadata(2, 5, 1.0, 2, sample_keys=[1, 2], sample_losses=[0.5, 0.6])
    response = client.get_training_metadata(2, 5)
    assert [s.sample_key for s in response.sample_metadata] == [1, 2]


def test_trigger_only_metadata(client: MetadataProcessorClient) -> None:
    assert client.send_training_metadata(3, 0, 0.9, 1000) == 0
    response = client.get_training_metadata(3, 0)
    assert response.found and response.trigger_metadata.num_samples == 1000
    assert len(response.sample_metadata) == 0


def test_unknown_trigger_is_not_found(client: MetadataProcessorClient) -> None:
    response = client.get_training_metadata(99, 0)
    assert not response.found
    assert len(response.sample_metadata) == 0


def test_negative_ids_are_invalid_argument(stub: MetadataProcessorStub) -> None:
    request = pb.TrainingMetadataRequest(
        pipeline_id=-1, trigger_id=0, trigger_metadata=pb.TriggerMetadata(loss=1.0, num_samples=1)
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.ProcessTrainingMetadata(request, timeout=SHORT_DEADLINE_S)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pipeline_id must be >= 0" in info.value.details()

    request = pb.TrainingMetadataRequest(
        pipeline_id=0, trigger_id=0, trigger_metadata=pb.TriggerMetadata(loss=1.0, num_samples=-5)
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.ProcessTrainingMetadata(request, timeout=SHORT_DEADLINE_S)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "num_samples" in info.value.details()
    assert not stub.GetTrainingMetadata(
        pb.GetTrainingMetadataRequest(pipeline_id=0, trigger_id=0), timeout=SHORT_DEADLINE_S
    ).found


def test_bulk_store_in_several_messages_and_query_by_pipeline_and_trigger(
    client: MetadataProcessorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modyn.common.clients.metadata_processor_client as client_module

    monkeypatch.setattr(client_module, "SAMPLES_PER_MESSAGE", 1000)  # 2,500 samples: a stream of 3 messages
    keys = list(range(2500))
    assert client.send_training_metadata(6, 1, 0.7, 2500, keys, [k / 1000 for k in keys]) == 2500
    assert client.send_training_metadata(6, 0, 0.9, 5, [1], [0.5]) == 1
    # retried: replaced, not duplicated
    assert client.send_training_metadata(6, 1, 0.7, 2500, keys, [k / 1000 for k in keys]) == 2500

    summaries = client.get_pipeline_metadata(6)
    assert [
        (t.trigger_id, t.trigger_metadata.loss, t.trigger_metadata.num_samples, t.num_sample_rows) for t in summaries
    ] == [
        (0, 0.9, 5, 1),
        (1, 0.7, 2500, 2500),
    ]
    assert client.get_pipeline_metadata(99) == []
    got = client.get_sample_metadata(6, 1)
    assert got is not None and got[0] == keys and got[1] == [k / 1000 for k in keys]
    assert client.get_sample_metadata(6, 1, keys=[2499, 5]) == ([5, 2499], [0.005, 2.499])
    assert client.get_sample_metadata(6, 7) is None


def test_columnar_samples_must_pair_up(stub: MetadataProcessorStub) -> None:
    request = pb.TrainingMetadataRequest(pipeline_id=1, trigger_id=0, sample_keys=[1, 2], sample_losses=[0.1])
    with pytest.raises(grpc.RpcError) as info:
        stub.ProcessTrainingMetadata(request, timeout=SHORT_DEADLINE_S)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "2 sample_keys but 1 sample_losses" in info.value.details()
