"""Every Selector RPC over a real loopback channel, including its error codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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


def test_packed_inform_and_retrieval(stub: selector_pb2_grpc.SelectorStub) -> None:
    import numpy as np

    pipeline_id = _register(stub, num_workers=1)
    keys = np.array([5, 3, 9], dtype="<i8")
    request = pb.DataInformRequest(
        pipeline_id=pipeline_id,
        keys_packed=keys.tobytes(),
        timestamps_packed=(keys * 10).tobytes(),
        labels_packed=np.array([1, 2, 1], dtype="<i8").tobytes(),
    )
    assert stub.InformData(request, timeout=SHORT_DEADLINE_S).num_keys == 3
    trigger = stub.InformDataAndTrigger(pb.DataInformRequest(pipeline_id=pipeline_id), timeout=SHORT_DEADLINE_S)
    assert (trigger.trigger_id, trigger.num_samples) == (0, 3)
    packed = pb.GetSamplesRequest(pipeline_id=pipeline_id, trigger_id=0, worker_id=0, partition_id=0, packed=True)
    messages = list(stub.GetSampleKeysAndWeights(packed, timeout=SHORT_DEADLINE_S))
    assert np.frombuffer(b"".join(m.keys_packed for m in messages), dtype="<i8").tolist() == [3, 5, 9]
    assert all(not m.training_samples_subset and not m.weights_packed for m in messages)
    labels = stub.GetAvailableLabels(pb.PipelineRequest(pipeline_id=pipeline_id), timeout=SHORT_DEADLINE_S)
    assert list(labels.available_labels) == [1, 2]

    def inform(**fields: Any) -> tuple[grpc.StatusCode, str]:
        request = pb.DataInformRequest(pipeline_id=pipeline_id, **fields)
        return _code(lambda: stub.InformData(request, timeout=SHORT_DEADLINE_S))

    assert inform(keys=[1], keys_packed=keys.tobytes(), timestamps=[1]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "keys: give either keys or keys_packed, not both",
    )
    assert inform(keys_packed=b"123", timestamps=[1]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "keys_packed: 3 bytes is not a whole number of int64 values",
    )


def test_strategy_rpcs(stub: selector_pb2_grpc.SelectorStub) -> None:
    coreset = json.dumps(
        {
            "name": "CoresetStrategy",
            "presampling_config": {"strategy": "Random", "ratio": 50},
            "downsampling_config": {"strategy": "Loss", "ratio": 20},
            "warmup_triggers": 1,
        }
    )
    pipeline_id = _register(stub, strategy=coreset)
    ask = pb.PipelineRequest(pipeline_id=pipeline_id)
    info = stub.GetSelectionStrategy(ask, timeout=SHORT_DEADLINE_S)
    assert (info.strategy_name, info.downsampling_enabled, info.warmup_triggers) == ("CoresetStrategy", True, 1)
    assert json.loads(info.downsampling_config) == {"strategy": "Loss", "ratio": 20}
    stored = json.loads(info.selection_strategy)
    assert stored["presampling_config"] == {"strategy": "Random", "ratio": 50}
    assert (stored["seed"], stored["maximum_keys_in_memory"]) == (0, 100_000)
    assert stub.GetStatusBarScale(ask, timeout=SHORT_DEADLINE_S).status_bar_scale == 20
    assert stub.UsesWeights(ask, timeout=SHORT_DEADLINE_S).uses_weights is False
    plain = pb.PipelineRequest(pipeline_id=_register(stub))
    info = stub.GetSelectionStrategy(plain, timeout=SHORT_DEADLINE_S)
    assert (info.strategy_name, info.downsampling_enabled, info.downsampling_config) == ("NewDataStrategy", False, "{}")
    assert stub.GetStatusBarScale(plain, timeout=SHORT_DEADLINE_S).status_bar_scale == 100
    assert list(stub.GetAvailableLabels(plain, timeout=SHORT_DEADLINE_S).available_labels) == []
    unknown = pb.PipelineRequest(pipeline_id=999)
    for rpc in (stub.GetSelectionStrategy, stub.GetStatusBarScale, stub.UsesWeights, stub.GetAvailableLabels):
        assert _code(lambda rpc=rpc: rpc(unknown, timeout=SHORT_DEADLINE_S)) == (
            grpc.StatusCode.NOT_FOUND,
            "pipeline 999 is not registered",
        )
    seeded = json.dumps({"name": "NewDataStrategy"})
    request = pb.RegisterPipelineRequest(
        pipeline_name="p", num_workers=1, selection_strategy=seeded, pipeline_config='{"training": {"seed": 17}}'
    )
    seeded_id = stub.RegisterPipeline(request, timeout=SHORT_DEADLINE_S).pipeline_id
    info = stub.GetSelectionStrategy(pb.PipelineRequest(pipeline_id=seeded_id), timeout=SHORT_DEADLINE_S)
    assert json.loads(info.selection_strategy)["seed"] == 17


def test_selector_client_keeps_its_signatures(manager: SelectorManager, port: int) -> None:
    from modyn.common.clients.selector_client import SelectorClient

    with GrpcServer("selector-test", "127.0.0.1", port, add_selector_servicer(manager)):
        client = SelectorClient("127.0.0.1", port)
        config = {
            "pipeline": {"name": "c"},
            "training": {"dataloader_workers": 2, "seed": 3},
            "selection_strategy": {"name": "NewDataStrategy", "maximum_keys_in_memory": 3},
        }
        pipeline_id = client.register_pipeline(config)
        assert client.inform_data(pipeline_id, [4, 2, 6], [4, 2, 6], [1, 1, 0]) == 3
        assert client.inform_data_and_trigger(pipeline_id, [1], [1], []) == (0, 4, 2)
        assert client.get_sample_keys_and_weights(pipeline_id, 0, 0, 0) == ([1, 2], [])
        assert client.get_sample_keys_and_weights(pipeline_id, 0, 1, 0) == ([4], [])
        keys, weights = client.get_sample_keys_and_weights_arrays(pipeline_id, 0, 0, 1)
        assert (keys.tolist(), weights) == ([6], None)
        assert (client.number_of_samples(pipeline_id, 0), client.number_of_partitions(pipeline_id, 0)) == (4, 2)
        assert client.available_labels(pipeline_id) == [0, 1]
        assert client.selection_strategy(pipeline_id)["config"]["seed"] == 3
        assert (client.uses_weights(pipeline_id), client.status_bar_scale(pipeline_id)) == (False, 100)
        client.close()
