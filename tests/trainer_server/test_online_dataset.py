"""OnlineDataset against real selector and storage services (started in-process by conftest)."""

from __future__ import annotations

import pickle
import time
from collections import Counter
from typing import Any

import grpc
import pytest
import torch
from torch.utils.data import DataLoader
from trainer_test_helpers import (
    BYTES_PARSER,
    DATASET,
    NUM_RECORDS,
    Services,
    pipeline_config,
    record_features,
    record_label,
)

from modyn.common.testing import free_port
from modyn.common.user_functions import UserFunctionError
from modyn.trainer_server.online_dataset import OnlineDataset, SampleParseError, ServiceCallError


def make_dataset(services: Services, pipeline_id: int, trigger_id: int, **kwargs: Any) -> OnlineDataset:
    options: dict[str, Any] = {
        "bytes_parser_function": BYTES_PARSER,
        "label_transformer_function": "",
        "shuffle": False,
        "seed": 3,
        **kwargs,
    }
    return OnlineDataset(
        pipeline_id=pipeline_id,
        trigger_id=trigger_id,
        dataset_id=DATASET,
        storage=services.storage,
        selector=services.selector,
        **options,
    )


@pytest.fixture(scope="module")
def one_worker_trigger(services: Services) -> tuple[int, int]:
    pipeline_id, trigger_id, num_partitions = services.new_trigger(pipeline_config(dataloader_workers=0))
    assert num_partitions == 4  # 200 samples, 64 keys per partition
    return pipeline_id, trigger_id


def test_every_sample_once_with_parsed_bytes_and_labels(
    services: Services, one_worker_trigger: tuple[int, int]
) -> None:
    items = list(make_dataset(services, *one_worker_trigger))
    record_of_key = services.record_of_key()
    assert len(items) == NUM_RECORDS
    assert sorted(item[0] for item in items) == sorted(record_of_key)
    for item in items:
        key, sample, label = item[0], item[1], item[2]
        if len(item) == 4:
            assert item[3] == pytest.approx(1.0)
        record = record_of_key[key]
        assert torch.equal(sample, torch.tensor(record_features(record), dtype=torch.float32))
        assert label == record_label(record)


def test_unshuffled_order_is_the_selectors_and_shuffling_is_seeded(
    services: Services, one_worker_trigger: tuple[int, int]
) -> None:
    plain = [item[0] for item in make_dataset(services, *one_worker_trigger)]
    expected: list[int] = []
    for partition in range(4):
        keys, _ = services.selector.get_sample_keys_and_weights(*one_worker_trigger, 0, partition)
        expected += keys
    assert plain == expected

    def order(seed: int, epoch: int = 0) -> list[int]:
        dataset = make_dataset(services, *one_worker_trigger, shuffle=True, seed=seed)
        dataset.set_epoch(epoch)
        return [item[0] for item in dataset]

    first = order(11)
    assert first == order(11)
    assert first != plain and sorted(first) == sorted(plain)
    assert first != order(12)
    assert first != order(11, epoch=1)

    # Partitions are shuffled as wholes and inside: each partition's keys stay one contiguous block.
    def block_order(keys: list[int]) -> list[int]:
        blocks = [plain.index(k) // 64 for k in keys]
        runs = [b for i, b in enumerate(blocks) if i == 0 or blocks[i - 1] != b]
        assert sorted(runs) == [0, 1, 2, 3], runs  # each partition exactly one run
        return runs

    orders = {tuple(block_order(order(seed))) for seed in (11, 12, 13, 14)}
    assert len(orders) > 1  # the partition order is shuffled too


def test_each_iteration_is_the_next_epoch(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    dataset = make_dataset(services, *one_worker_trigger, shuffle=True, seed=4)
    epoch0 = [item[0] for item in dataset]
    epoch1 = [item[0] for item in dataset]
    assert epoch0 != epoch1 and sorted(epoch0) == sorted(epoch1)
    dataset.set_epoch(1)
    assert [item[0] for item in dataset] == epoch1
    dataset.set_epoch(0)
    assert [item[0] for item in dataset] == epoch0


@pytest.mark.parametrize(
    ("prefetched", "parallel", "keys_per_request"),
    [(0, 1, 7), (1, 1, 2000), (2, 2, 13), (10, 3, 64)],
)
def test_prefetch_and_chunking_settings_yield_the_same_samples(
    services: Services, one_worker_trigger: tuple[int, int], prefetched: int, parallel: int, keys_per_request: int
) -> None:
    dataset = make_dataset(
        services,
        *one_worker_trigger,
        num_prefetched_partitions=prefetched,
        parallel_prefetch_requests=parallel,
        keys_per_request=keys_per_request,
    )
    keys = [item[0] for item in dataset]
    assert keys == [item[0] for item in make_dataset(services, *one_worker_trigger)]


def test_label_transformer_is_applied(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    transformer = "def label_transformer_function(label):\n    return label * 10 + 1\n"
    dataset = make_dataset(services, *one_worker_trigger, label_transformer_function=transformer)
    record_of_key = services.record_of_key()
    labels = {item[0]: item[2] for item in dataset}
    assert labels == {key: record_label(record) * 10 + 1 for key, record in record_of_key.items()}


def test_dataset_pickles_without_compiled_functions(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    dataset = make_dataset(services, *one_worker_trigger)
    next(iter(dataset))  # compiles the parser and opens channels
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._parser is None
    assert len(list(clone)) == NUM_RECORDS


def test_two_spawned_workers_see_every_key_exactly_once_per_epoch(services: Services) -> None:
    pipeline_id, trigger_id, _ = services.new_trigger(pipeline_config(dataloader_workers=2))
    dataset = make_dataset(services, pipeline_id, trigger_id, shuffle=True, seed=5)
    # As the trainer does it: persistent spawned workers, which count epochs themselves.
    loader = DataLoader(dataset, batch_size=10, num_workers=2, multiprocessing_context="spawn", persistent_workers=True)
    orders = []
    record_of_key = services.record_of_key()
    for epoch in range(2):
        dataset.set_epoch(epoch)
        keys: list[int] = []
        for batch in loader:
            batch_keys = batch[0].tolist()
            keys += batch_keys
            records = torch.tensor([record_of_key[k] for k in batch_keys], dtype=torch.float32)
            assert torch.equal(batch[1][:, 0], records)  # each sample's bytes belong to its key
            assert batch[2].tolist() == [record_label(int(r)) for r in records]
        counts = Counter(keys)
        assert set(counts) == set(record_of_key) and set(counts.values()) == {1}
        orders.append(keys)
    assert orders[0] != orders[1]  # reshuffled per epoch


def test_bad_parser_names_the_sample(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    parser = "def bytes_parser_function(data):\n    raise KeyError('no such field')\n"
    dataset = make_dataset(services, *one_worker_trigger, bytes_parser_function=parser)
    with pytest.raises(SampleParseError, match=r"bytes_parser_function failed on sample \d+ .*KeyError"):
        list(dataset)


def test_broken_parser_source_fails_at_construction(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    with pytest.raises(UserFunctionError, match="cannot compile"):
        make_dataset(services, *one_worker_trigger, bytes_parser_function="def bytes_parser_function(:\n")
    with pytest.raises(UserFunctionError, match="must define a function named 'bytes_parser_function'"):
        make_dataset(services, *one_worker_trigger, bytes_parser_function="def parse(data):\n    return data\n")


def test_unknown_trigger_is_reported_by_the_selector(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    pipeline_id, _ = one_worker_trigger
    with pytest.raises(ServiceCallError, match="selector: NOT_FOUND") as info:
        list(make_dataset(services, pipeline_id, 999))
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_a_service_that_is_down_is_named(one_worker_trigger: tuple[int, int]) -> None:
    dataset = OnlineDataset(
        pipeline_id=one_worker_trigger[0],
        trigger_id=one_worker_trigger[1],
        dataset_id=DATASET,
        bytes_parser_function=BYTES_PARSER,
        label_transformer_function="",
        storage=("127.0.0.1", free_port()),
        selector=("127.0.0.1", free_port()),
        max_retries=2,
        initial_backoff_s=0.01,
    )
    with pytest.raises(ServiceCallError, match=r"selector is unavailable .*\(after 3 attempts\)"):
        list(dataset)


def test_builtin_parser_and_transformations(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    builtin = {
        item[0]: item[1] for item in make_dataset(services, *one_worker_trigger, bytes_parser_function="float32")
    }
    source = {item[0]: item[1] for item in make_dataset(services, *one_worker_trigger)}
    assert builtin.keys() == source.keys() and all(torch.equal(builtin[k], source[k]) for k in source)
    # An image-shaped parser output through Normalize and a (p=1) flip.
    parser = (
        "def bytes_parser_function(data):\n    import numpy as np, torch\n"
        "    return torch.from_numpy(np.frombuffer(data, dtype='<f4').copy()).view(1, 2, 4)\n"
    )
    dataset = make_dataset(
        services,
        *one_worker_trigger,
        bytes_parser_function=parser,
        transformations=["transforms.Normalize((1.0,), (2.0,))", {"name": "RandomHorizontalFlip", "p": 1.0}],
    )
    record_of_key = services.record_of_key()
    for key, sample, _label in dataset:
        expected = ((torch.tensor(record_features(record_of_key[key])).view(1, 2, 4) - 1.0) / 2.0).flip(-1)
        assert torch.equal(sample, expected)
    # A transformation that does not fit the samples names the sample.
    flat = make_dataset(services, *one_worker_trigger, transformations=["RandomVerticalFlip"])
    with pytest.raises(SampleParseError, match=r"data.transformations failed on sample \d+ .*at least 2 dimensions"):
        list(flat)
    with pytest.raises(UserFunctionError, match="unknown built-in parser 'float33'"):
        make_dataset(services, *one_worker_trigger, bytes_parser_function="float33")


def test_a_selector_blip_is_retried(services: Services, one_worker_trigger: tuple[int, int]) -> None:
    """The selector is down when the dataset starts; it comes up after the first failed attempt."""
    import json
    import threading

    from modyn.common.grpc_utils import GrpcServer
    from modyn.selector.selector_entrypoint import build as build_selector

    port = free_port()
    dataset = OnlineDataset(
        pipeline_id=one_worker_trigger[0],
        trigger_id=one_worker_trigger[1],
        dataset_id=DATASET,
        bytes_parser_function=BYTES_PARSER,
        label_transformer_function="",
        storage=services.storage,
        selector=("127.0.0.1", port),
        max_retries=30,
        initial_backoff_s=0.05,
    )
    config = json.loads(json.dumps(services.system_config))
    config["selector"]["port"] = port
    parts = build_selector(config)  # a second selector over the same database
    server = GrpcServer("selector", "127.0.0.1", port, parts.add_servicers)
    items: list[Any] = []
    reader = threading.Thread(target=lambda: items.extend(dataset))
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while dataset.retries == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dataset.retries > 0
        server.start()
        reader.join(timeout=60)
        assert not reader.is_alive()
    finally:
        server.stop(grace_s=0.5)
        for hook in parts.on_shutdown:
            hook()
    assert sorted(item[0] for item in items) == sorted(services.record_of_key())
