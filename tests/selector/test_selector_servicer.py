"""Every Selector RPC over a real loopback channel, including its error codes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest

from modyn.common.grpc_utils import SHORT_DEADLINE_S, GrpcServer, make_channel
from modyn.generated import selector_pb2 as pb
from modyn.generated import selector_pb2_grpc
from modyn.selector import servicer as servicer_module
from modyn.selector.selector_manager import SelectorManager
from modyn.selector.servicer import add_selector_servicer

STRATEGY = json.dumps({"name": "NewDataStrategy", "tail_triggers": 0, "maximum_keys_in_memory": 4})


@pytest.fixture
def stub(manager: SelectorManager, port: int) -> Iterator[selector_pb2_grpc.SelectorStub]:
    with GrpcServer("selector-test", "127.0.0.1", port, add_selector_servicer(manager)):
        with make_channel("127.0.0.1", port) as channel:
            yield selector_pb2_grpc.SelectorStub(channel)


def _register(stub: selector_pb2_grpc.SelectorStub, num_workers: int = 2, strategy: str = STRATEGY) -> int:
    request = pb.RegisterPipelineRequest(
        pipeline_name="p", num_workers=num_workers, selection_strategy=strategy, pipeline_config='{"a": 1}'
    )
    return int(stub.RegisterPipeline(request, timeout=SHORT_DEADLINE_S).pipeline_id)


def _samples(stub: selector_pb2_grpc.SelectorStub, pipeline_id: int, trigger: int, worker: int, partition: int):
    request = pb.GetSamplesRequest(
        pipeline_id=pipeline_id, trigger_id=trigger, worker_id=worker, partition_id=partition
    )
    return list(stub.GetSampleKeysAndWeights(request, timeout=SHORT_DEADLINE_S))


def _code(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if not isinstance(result, pb.PipelineResponse | pb.DataInformResponse | pb.TriggerResponse):
            list(result)
    return info.value.code(), info.value.details()


def test_full_round_trip(stub: selector_pb2_grpc.SelectorStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servicer_module, "MAX_KEYS_PER_MESSAGE", 2)
    pipeline_id = _register(stub)
    assert _register(stub) == pipeline_id + 1
    informed = stub.InformData(
        pb.DataInformRequest(pipeline_id=pipeline_id, keys=[5, 3, 9], timestamps=[50, 30, 90], labels=[1, 2, 3]),
        timeout=SHORT_DEADLINE_S,
    )
    assert informed.num_keys == 3
    trigger = stub.InformDataAndTrigger(
        pb.DataInformRequest(pipeline_id=pipeline_id, keys=[1, 7], timestamps=[10, 70]), timeout=SHORT_DEADLINE_S
    )
    assert (trigger.trigger_id, trigger.num_samples, trigger.num_partitions) == (0, 5, 2)
    count = pb.GetNumberOfSamplesRequest(pipeline_id=pipeline_id, trigger_id=0)
    assert stub.GetNumberOfSamples(count, timeout=SHORT_DEADLINE_S).num_samples == 5
    parts = pb.GetNumberOfPartitionsRequest(pipeline_id=pipeline_id, trigger_id=0)
    assert stub.GetNumberOfPartitions(parts, timeout=SHORT_DEADLINE_S).num_partitions == 2

    # Partition 0 = [1, 3, 5, 7] → workers [1, 3] and [5, 7]; partition 1 = [9] → [9] and [].
    worker0 = _samples(stub, pipeline_id, 0, 0, 0)
    assert [list(m.training_samples_subset) for m in worker0] == [[1, 3]]
    assert all(len(m.training_samples_weights) == 0 for m in worker0)
    assert [list(m.training_samples_subset) for m in _samples(stub, pipeline_id, 0, 1, 0)] == [[5, 7]]
    assert [list(m.training_samples_subset) for m in _samples(stub, pipeline_id, 0, 0, 1)] == [[9]]
    assert [list(m.training_samples_subset) for m in _samples(stub, pipeline_id, 0, 1, 1)] == [[]]

    # Retrying the trigger call returns the same trigger; an empty trigger is a valid one.
    retry = stub.InformDataAndTrigger(
        pb.DataInformRequest(pipeline_id=pipeline_id, keys=[1, 7], timestamps=[10, 70]), timeout=SHORT_DEADLINE_S
    )
    assert retry == trigger
    empty = stub.InformDataAndTrigger(pb.DataInformRequest(pipeline_id=pipeline_id), timeout=SHORT_DEADLINE_S)
    assert (empty.trigger_id, empty.num_samples, empty.num_partitions) == (1, 0, 0)


def test_shares_stream_in_bounded_messages(
    stub: selector_pb2_grpc.SelectorStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicer_module, "MAX_KEYS_PER_MESSAGE", 3)
    strategy = json.dumps({"name": "NewDataStrategy", "maximum_keys_in_memory": 100})
    pipeline_id = _register(stub, num_workers=1, strategy=strategy)
    keys = list(range(100, 110))
    stub.InformDataAndTrigger(pb.DataInformRequest(pipeline_id=pipeline_id, keys=keys, timestamps=keys), timeout=10)
    messages = _samples(stub, pipeline_id, 0, 0, 0)
    assert [len(m.training_samples_subset) for m in messages] == [3, 3, 3, 1]
    assert [k for m in messages for k in m.training_samples_subset] == keys


def test_error_codes(stub: selector_pb2_grpc.SelectorStub) -> None:
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND

    def register(num_workers: int = 1, strategy: str = STRATEGY, config: str = "") -> tuple[grpc.StatusCode, str]:
        request = pb.RegisterPipelineRequest(
            pipeline_name="p", num_workers=num_workers, selection_strategy=strategy, pipeline_config=config
        )
        return _code(lambda: stub.RegisterPipeline(request, timeout=SHORT_DEADLINE_S))

    assert register(num_workers=0) == (invalid, "num_workers: must be >= 1, got 0")
    assert register(strategy="{nope")[0] == invalid
    assert "selection_strategy: not valid JSON" in register(strategy="{nope")[1]
    assert register(strategy="") == (invalid, "selection_strategy: is required (a JSON object)")
    code, message = register(strategy=json.dumps({"name": "NewDataStrategy", "maximum_keys_in_memory": 0}))
    assert (code, message.split(",")[0]) == (invalid, "selection_strategy.maximum_keys_in_memory: must be > 0")
    assert register(strategy=json.dumps({"name": "X"}))[1].startswith("selection_strategy.name: unknown strategy 'X'")
    assert register(config="[1]") == (invalid, "pipeline_config: must be a JSON object, got list")

    inform = pb.DataInformRequest(pipeline_id=99, keys=[1], timestamps=[1])
    assert _code(lambda: stub.InformData(inform, timeout=SHORT_DEADLINE_S)) == (
        not_found,
        "pipeline 99 is not registered",
    )
    assert _code(lambda: stub.InformDataAndTrigger(inform, timeout=SHORT_DEADLINE_S))[0] == not_found
    pipeline_id = _register(stub)
    bad = pb.DataInformRequest(pipeline_id=pipeline_id, keys=[1, 2], timestamps=[1])
    assert _code(lambda: stub.InformData(bad, timeout=SHORT_DEADLINE_S)) == (
        invalid,
        "timestamps: got 1 values for 2 keys",
    )
    bad = pb.DataInformRequest(pipeline_id=pipeline_id, keys=[1, 2], timestamps=[1, 2], labels=[3])
    assert _code(lambda: stub.InformDataAndTrigger(bad, timeout=SHORT_DEADLINE_S))[0] == invalid

    stub.InformDataAndTrigger(pb.DataInformRequest(pipeline_id=pipeline_id, keys=[1], timestamps=[1]), timeout=10)
    assert _code(lambda: _samples(stub, 99, 0, 0, 0)) == (not_found, "pipeline 99 is not registered")
    assert _code(lambda: _samples(stub, pipeline_id, 3, 0, 0)) == (
        not_found,
        f"trigger 3 of pipeline {pipeline_id} does not exist",
    )
    assert _code(lambda: _samples(stub, pipeline_id, 0, 0, 1))[0] == not_found
    code, message = _code(lambda: _samples(stub, pipeline_id, 0, 2, 0))
    assert (code, message.split(" (")[0]) == (invalid, f"worker_id: 2 is out of range for pipeline {pipeline_id}")
    count = pb.GetNumberOfSamplesRequest(pipeline_id=pipeline_id, trigger_id=7)
    assert _code(lambda: stub.GetNumberOfSamples(count, timeout=SHORT_DEADLINE_S))[0] == not_found
    parts = pb.GetNumberOfPartitionsRequest(pipeline_id=99, trigger_id=0)
    assert _code(lambda: stub.GetNumberOfPartitions(parts, timeout=SHORT_DEADLINE_S)) == (
        not_found,
        "pipeline 99 is not registered",
    )
