"""OnlineDataset's batch mode (batches built in the dataset, vectorized parsing of fixed-width
built-in parsers) and its epoch cache, against the real selector and storage services (conftest).
The Trainer runs in-process for the cache's end-to-end checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_online_dataset import make_dataset
from test_trainer_server import local_spec, training_config
from torch.utils.data import DataLoader, default_collate
from trainer_test_helpers import DATASET, NUM_RECORDS, Services, pipeline_config, record_features, record_label

from modyn.common.data import build_bytes_parser
from modyn.common.data.parsers import CHUNK_PARSERS, build_chunk_parser
from modyn.common.grpc_utils import GrpcServer
from modyn.common.testing import free_port
from modyn.trainer_server.online_dataset import OnlineDataset, ServiceCallError, approx_nbytes, save_selection
from modyn.trainer_server.trainer import Trainer

_next_id = iter(range(30_000, 40_000))
LABEL_PLUS_ONE = "def label_transformer_function(label):\n    return label + 1\n"


@pytest.fixture(scope="module")
def trigger(services: Services) -> tuple[int, int]:
    pipeline_id, trigger_id, _ = services.new_trigger(pipeline_config(dataloader_workers=0))
    return pipeline_id, trigger_id


def collated(items: list[tuple[Any, ...]], batch_size: int, drop_last: bool = False) -> list[tuple[Any, ...]]:
    batches = [default_collate(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
    if drop_last and len(items) % batch_size:
        batches.pop()
    return batches


def assert_same_batches(got: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert isinstance(x, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)


# --- chunk parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CHUNK_PARSERS))
def test_chunk_parsers_equal_the_per_sample_parsers(name: str) -> None:
    rng = np.random.default_rng(0)
    samples = [rng.integers(0, 256, 24, dtype=np.uint8).tobytes() for _ in range(5)]
    if name.startswith("float"):  # finite values, so that equality means something
        dtype = np.dtype(("<" if not name.endswith("_be") else ">") + "f" + str(int(name[5:7]) // 8))
        samples = [rng.standard_normal(24 // dtype.itemsize).astype(dtype).tobytes() for _ in range(5)]
    data = b"xx" + b"".join(samples)  # a leading offset: chunks need not start at byte 0
    offsets = np.cumsum([2] + [len(s) for s in samples])
    rows = build_chunk_parser(name)(data, offsets)  # type: ignore[misc]
    one = build_bytes_parser(name)
    expected = torch.stack([one(s) for s in samples])
    assert rows.dtype == expected.dtype and torch.equal(rows, expected)


def test_chunk_parser_declines_uneven_samples_and_other_parsers() -> None:
    parse = build_chunk_parser(" float32 ")
    assert parse is not None
    assert parse(b"\0" * 12, np.array([0, 4, 12])) is None  # 4 and 8 bytes: not one row width
    assert parse(b"\0" * 6, np.array([0, 3, 6])) is None  # not a multiple of 4 bytes
    assert parse(b"", np.array([0])) is None
    for other in ("image", "utf8", "csv_floats", "def bytes_parser_function(data):\n    return data\n"):
        assert build_chunk_parser(other) is None


def test_a_repeated_key_in_a_request_gets_its_sample_each_time(services: Services, trigger: tuple[int, int]) -> None:
    """Storage answers each key once; the dataset matches samples to the requested keys."""
    record_of_key = services.record_of_key()
    a, b = sorted(record_of_key)[:2]
    dataset = make_dataset(services, *trigger, bytes_parser_function="float32")
    fetched = dataset._fetch_from_storage(np.array([a, b, a], dtype=np.int64), None)
    assert fetched.keys.tolist() == [a, b, a]
    assert fetched.labels.tolist() == [record_label(record_of_key[k]) for k in (a, b, a)]
    rows = build_chunk_parser("float32")(fetched.data, fetched.offsets)  # type: ignore[misc]
    assert torch.equal(rows, torch.tensor([record_features(record_of_key[k]) for k in (a, b, a)]))
    with pytest.raises(ServiceCallError, match="storage"):
        dataset._fetch_from_storage(np.array([a, 10**12], dtype=np.int64), None)


# --- batches ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parser", "options"),
    [
        ("float32", {}),
        ("float32", {"shuffle": True, "keys_per_request": 50, "num_prefetched_partitions": 0}),
        ("float32", {"shuffle": True, "label_transformer_function": LABEL_PLUS_ONE, "drop_last": True}),
        ("source", {"shuffle": True, "parallel_prefetch_requests": 2, "num_prefetched_partitions": 2}),
        ("float32", {"transformations": ["ToFloat"], "keys_per_request": 30}),
    ],
)
def test_batches_are_the_collated_samples(
    services: Services, trigger: tuple[int, int], parser: str, options: dict[str, Any]
) -> None:
    kwargs = dict(options)
    drop_last = kwargs.pop("drop_last", False)
    if parser != "source":
        kwargs["bytes_parser_function"] = parser
    samples = list(make_dataset(services, *trigger, **kwargs))
    for batch_size in (16, 64, 7):
        batched = make_dataset(services, *trigger, batch_size=batch_size, drop_last=drop_last, **kwargs)
        assert_same_batches(list(batched), collated(samples, batch_size, drop_last))
    record_of_key = services.record_of_key()
    first = next(iter(make_dataset(services, *trigger, batch_size=16, **kwargs)))
    records = [record_of_key[k] for k in first[0].tolist()]
    assert torch.equal(first[1], torch.tensor([record_features(r) for r in records]))
    shift = 1 if "label_transformer_function" in kwargs else 0
    assert first[2].tolist() == [record_label(r) + shift for r in records]


def test_batches_carry_selection_weights_and_keep_only_selected_keys(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    keys = sorted(services.record_of_key())
    selection = {k: 0.5 + i for i, k in enumerate(keys[::3])}
    path = str(tmp_path / "selection.npz")
    save_selection(path, selection)
    samples = list(make_dataset(services, *trigger, bytes_parser_function="float32", selection_path=path))
    assert {s[0]: s[3] for s in samples} == selection
    batches = list(
        make_dataset(services, *trigger, bytes_parser_function="float32", selection_path=path, batch_size=10)
    )
    assert_same_batches(batches, collated(samples, 10))
    assert batches[0][3].dtype == torch.float64
    assert sum(len(b[0]) for b in batches) == len(selection)
    # The scoring pass reads every share in one process, filtered the same way.
    dataset = make_dataset(services, *trigger, bytes_parser_function="float32")
    assert_same_batches(list(dataset.iterate_all(selection, batch_size=10)), batches)


def test_batches_through_two_spawned_workers_with_drop_last(services: Services) -> None:
    pipeline_id, trigger_id, _ = services.new_trigger(pipeline_config(dataloader_workers=2))
    dataset = make_dataset(
        services,
        pipeline_id,
        trigger_id,
        bytes_parser_function="float32",
        shuffle=True,
        num_shares=2,
        batch_size=16,
        drop_last=True,
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    record_of_key = services.record_of_key()
    seen: list[int] = []
    for keys, inputs, labels in loader:
        assert len(keys) == 16  # each worker's short last batch is dropped
        records = [record_of_key[k] for k in keys.tolist()]
        assert torch.equal(inputs[:, 0], torch.tensor(records, dtype=torch.float32))
        assert labels.tolist() == [record_label(r) for r in records]
        seen += keys.tolist()
    assert len(seen) == len(set(seen)) == 2 * (NUM_RECORDS // 2 // 16) * 16


# --- the epoch cache ----------------------------------------------------------------------------


def epochs(dataset: OnlineDataset, n: int) -> list[list[tuple[Any, ...]]]:
    result = []
    for epoch in range(n):
        dataset.set_epoch(epoch)
        result.append(list(dataset))
    return result


@pytest.mark.parametrize("parser", ["float32", "source"])
def test_later_epochs_come_from_the_cache_without_storage_calls(
    services: Services, trigger: tuple[int, int], parser: str
) -> None:
    options: dict[str, Any] = {"shuffle": True, "seed": 9, "batch_size": 16, "keys_per_request": 40}
    if parser != "source":
        options["bytes_parser_function"] = parser
    cached = make_dataset(services, *trigger, sample_cache_bytes=2**20, **options)
    cached.set_epoch(0)
    first = list(cached)
    fetches = cached.storage_fetches
    assert fetches > 0 and cached.cache_hits == 0
    assert len(cached.cache) == NUM_RECORDS  # type: ignore[arg-type]
    later = epochs(cached, 3)[1:]
    assert cached.storage_fetches == fetches  # epochs 1 and 2: no Get call at all
    assert cached.cache_hits > 0
    # The same batches as without the cache, epoch by epoch (orders differ per epoch).
    plain = epochs(make_dataset(services, *trigger, **options), 3)
    for got, expected in zip([first, *later], plain, strict=True):
        assert_same_batches(got, expected)
    assert [b[0].tolist() for b in plain[1]] != [b[0].tolist() for b in plain[2]]


def test_a_cache_too_small_keeps_what_fits_and_fetches_the_rest(services: Services, trigger: tuple[int, int]) -> None:
    options: dict[str, Any] = {"bytes_parser_function": "float32", "batch_size": 16, "keys_per_request": 32}
    # 200 samples of 32 bytes (+ overhead): room for a few chunks only.
    small = make_dataset(services, *trigger, sample_cache_bytes=8000, **options)
    runs = epochs(small, 2)
    assert small.cache is not None and small.cache.full and 0 < len(small.cache) < NUM_RECORDS
    assert small.cache.used_bytes <= 8000
    assert small.cache_hits > 0 and small.storage_fetches > small.cache_hits
    for got, expected in zip(runs, epochs(make_dataset(services, *trigger, **options), 2), strict=True):
        assert_same_batches(got, expected)


def test_random_transformations_still_differ_per_epoch_with_the_cache(
    services: Services, trigger: tuple[int, int]
) -> None:
    parser = (
        "def bytes_parser_function(data):\n    import numpy as np, torch\n"
        "    return torch.from_numpy(np.frombuffer(data, dtype='<f4').copy()).view(1, 2, 4)\n"
    )
    options: dict[str, Any] = {
        "bytes_parser_function": parser,
        "transformations": [{"name": "RandomHorizontalFlip", "p": 0.5}],
        "batch_size": 200,
    }

    def flipped_per_epoch(dataset: OnlineDataset) -> list[dict[int, bool]]:
        torch.manual_seed(5)
        flips = []
        for keys, inputs, _ in (batch for run in epochs(dataset, 2) for batch in run):
            # A sample is flipped when its first feature is not its smallest one.
            flips.append(dict(zip(keys.tolist(), (inputs[:, 0, 0, 0] > inputs[:, 0, 0, 3]).tolist(), strict=True)))
        return flips

    cached = make_dataset(services, *trigger, sample_cache_bytes=2**20, **options)
    with_cache = flipped_per_epoch(cached)
    assert cached.cache_hits > 0
    assert with_cache[0] != with_cache[1]  # augmented anew, not cached after the transformation
    assert with_cache == flipped_per_epoch(make_dataset(services, *trigger, **options))


def test_persistent_workers_cache_their_own_share(services: Services, tmp_path: Path) -> None:
    """A second storage server over the same database serves epoch 0 and then stops: epoch 1 of two
    persistent spawned workers must come entirely from their caches."""
    from modyn.storage.storage_entrypoint import build as build_storage

    pipeline_id, trigger_id, _ = services.new_trigger(pipeline_config(dataloader_workers=2))
    port = free_port()
    config = json.loads(json.dumps(services.system_config))
    config["storage"]["port"] = port
    parts = build_storage(config)
    server = GrpcServer("storage", "127.0.0.1", port, parts.add_servicers)
    server.start()
    options: dict[str, Any] = {
        "bytes_parser_function": "float32",
        "shuffle": True,
        "seed": 2,
        "num_shares": 2,
        "batch_size": 16,
    }
    dataset = OnlineDataset(
        pipeline_id,
        trigger_id,
        DATASET,
        options.pop("bytes_parser_function"),
        "",
        ("127.0.0.1", port),
        services.selector,
        max_retries=0,
        sample_cache_bytes=2**20,
        **options,
    )
    loader = DataLoader(
        dataset, batch_size=None, num_workers=2, multiprocessing_context="spawn", persistent_workers=True
    )
    runs: list[list[tuple[Any, ...]]] = []
    try:
        dataset.set_epoch(0)
        runs.append(list(loader))
    finally:
        server.stop(grace_s=0.5)
        for hook in parts.on_shutdown:
            hook()
    dataset.set_epoch(1)
    runs.append(list(loader))
    reference = make_dataset(services, pipeline_id, trigger_id, bytes_parser_function="float32", **options)
    plain = DataLoader(
        reference, batch_size=None, num_workers=2, multiprocessing_context="spawn", persistent_workers=True
    )
    for epoch, got in enumerate(runs):
        reference.set_epoch(epoch)
        assert_same_batches(got, list(plain))
    # Without the cache, the stopped storage fails the next epoch, naming the service.
    uncached = OnlineDataset(
        pipeline_id, trigger_id, DATASET, "float32", "", ("127.0.0.1", port), services.selector, max_retries=0
    )
    with pytest.raises(ServiceCallError, match="storage"):
        list(uncached)


def test_approx_nbytes_counts_data_not_views() -> None:
    rows = torch.zeros(100, 10)
    assert approx_nbytes(rows[3]) == 40
    assert approx_nbytes({"a": np.zeros(4), "b": "xyz"}) == 32 + 3 + 128
    assert approx_nbytes((torch.zeros(2, dtype=torch.int64), b"abcd")) == 16 + 4 + 16


# --- the trainer --------------------------------------------------------------------------------


def test_trainer_epochs_after_the_first_read_from_the_cache_and_train_the_same(
    services: Services, tmp_path: Path
) -> None:
    config = training_config(epochs_per_trigger=3, batch_size=16, shuffle=True, seed=4)
    config["data"]["bytes_parser_function"] = "float32"
    config["model"]["config"]["input_dim"] = 8
    pipeline_id, trigger_id, _ = services.new_trigger(config)
    states, trainers = [], []
    for cache_mb in (0, 1):
        config["training"]["sample_cache_mb"] = cache_mb
        trainer = Trainer(local_spec(services, config, pipeline_id, trigger_id, next(_next_id), tmp_path))
        result = trainer.run()
        assert result.samples_seen == 3 * NUM_RECORDS
        states.append(torch.load(result.model_path, weights_only=True))
        trainers.append(trainer)
    uncached, cached = trainers[0].dataset, trainers[1].dataset
    assert uncached.cache is None and uncached.cache_hits == 0
    assert cached.storage_fetches * 3 == uncached.storage_fetches  # only epoch 0 read from storage
    assert cached.cache_hits == 2 * cached.storage_fetches
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
