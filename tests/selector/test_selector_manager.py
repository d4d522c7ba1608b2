"""SelectorManager: partitions and worker splits, restart continuity, retries, duplicates, errors."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from selector_test_helpers import full_training_set

from modyn.common.database import Database
from modyn.selector import selector_manager as manager_module
from modyn.selector.errors import UnknownPartitionError, UnknownPipelineError, UnknownTriggerError
from modyn.selector.selector_manager import SelectorManager, worker_share_bounds

TAIL0 = {"name": "NewDataStrategy", "tail_triggers": 0}


def test_worker_share_bounds_are_contiguous_and_near_equal() -> None:
    assert worker_share_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert worker_share_bounds(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    assert worker_share_bounds(0, 2) == [(0, 0), (0, 0)]
    for n, w in [(1000, 7), (5, 5), (3, 1)]:
        sizes = [end - start for start, end in worker_share_bounds(n, w)]
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1


def test_partitions_and_worker_shares_cover_the_ordered_set(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline("p", 3, {**TAIL0, "maximum_keys_in_memory": 10})
    rng = np.random.default_rng(1)
    keys = rng.permutation(np.arange(100, 125, dtype=np.int64))
    timestamps = rng.integers(0, 5, len(keys))  # many equal timestamps: order falls back to the key
    info = manager.inform_data_and_trigger(pipeline_id, keys, timestamps, keys % 10)
    assert (info.trigger_id, info.num_samples, info.num_partitions) == (0, 25, 3)
    assert manager.get_number_of_samples(pipeline_id, 0) == 25
    assert manager.get_number_of_partitions(pipeline_id, 0) == 3

    expected = keys[np.lexsort((keys, timestamps))].tolist()
    shares = {
        (p, w): manager.get_sample_keys_and_weights(pipeline_id, 0, w, p)[0].tolist()
        for p in range(3)
        for w in range(3)
    }
    # Partition sizes 10, 10, 5; each split 4/3/3 and 2/2/1 among the 3 workers.
    assert [len(shares[(p, w)]) for p in range(3) for w in range(3)] == [4, 3, 3, 4, 3, 3, 2, 2, 1]
    concatenated = [k for p in range(3) for w in range(3) for k in shares[(p, w)]]
    assert concatenated == expected  # union == training set, no overlap, in (timestamp, key) order
    assert manager.get_sample_keys_and_weights(pipeline_id, 0, 0, 0)[1] is None  # NewDataStrategy: no weights


def test_more_workers_than_keys_gives_empty_shares(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline("p", 4, TAIL0)
    manager.inform_data_and_trigger(pipeline_id, [7, 8], [1, 2], [])
    shares = [manager.get_sample_keys_and_weights(pipeline_id, 0, w, 0)[0].tolist() for w in range(4)]
    assert shares == [[7], [8], [], []]


def test_large_share_is_stored_in_chunks(manager: SelectorManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager_module, "SHARE_CHUNK_KEYS", 7)
    pipeline_id = manager.register_pipeline("p", 2, {**TAIL0, "maximum_keys_in_memory": 40})
    keys = np.arange(1, 101, dtype=np.int64)
    info = manager.inform_data_and_trigger(pipeline_id, keys, keys, [])
    assert (info.num_samples, info.num_partitions) == (100, 3)
    assert manager.get_sample_keys_and_weights(pipeline_id, 0, 1, 0)[0].tolist() == list(range(21, 41))
    assert full_training_set(manager, pipeline_id, 0) == keys.tolist()


def test_empty_trigger_is_valid(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline("p", 2, TAIL0)
    info = manager.inform_data_and_trigger(pipeline_id, [], [], [])
    assert (info.trigger_id, info.num_samples, info.num_partitions) == (0, 0, 0)
    with pytest.raises(UnknownPartitionError, match="partition 0 of trigger 0 of pipeline .* has 0 partition"):
        manager.get_sample_keys_and_weights(pipeline_id, 0, 0, 0)
    assert manager.inform_data_and_trigger(pipeline_id, [1], [1], []).trigger_id == 1


def test_a_key_informed_twice_is_not_duplicated(manager: SelectorManager) -> None:
    all_data = manager.register_pipeline("all", 1, {"name": "NewDataStrategy"})
    assert manager.inform_data(all_data, [1, 2, 2, 3], [10, 20, 21, 30], [0, 0, 0, 0]) == 3
    assert manager.inform_data(all_data, [2, 3, 4], [20, 30, 40], []) == 1  # a retried/overlapping call
    assert manager.inform_data_and_trigger(all_data, [1, 5], [10, 50], []).num_samples == 5
    assert manager.inform_data_and_trigger(all_data, [5, 6], [50, 60], []).num_samples == 6
    assert full_training_set(manager, all_data, 1) == [1, 2, 3, 4, 5, 6]
    # With tail_triggers 0, a key already seen stays with its first trigger.
    tail0 = manager.register_pipeline("tail0", 1, TAIL0)
    manager.inform_data_and_trigger(tail0, [1, 2], [1, 2], [])
    assert full_training_set(manager, tail0, manager.inform_data_and_trigger(tail0, [2, 3], [2, 3], []).trigger_id) == [
        3
    ]


def test_retried_trigger_call_returns_the_same_trigger(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline("p", 1, TAIL0)
    first = manager.inform_data_and_trigger(pipeline_id, [1, 2], [1, 2], [5, 5])
    assert manager.inform_data_and_trigger(pipeline_id, [1, 2], [1, 2], [5, 5]) == first
    assert manager.get_pipeline(pipeline_id).next_trigger_id == 1
    # New data in between: the same call is a new trigger (with nothing new in it).
    manager.inform_data(pipeline_id, [3], [3])
    second = manager.inform_data_and_trigger(pipeline_id, [1, 2], [1, 2], [5, 5])
    assert (second.trigger_id, full_training_set(manager, pipeline_id, 1)) == (1, [3])


def test_restarted_manager_continues(db_config: dict[str, Any]) -> None:
    db = Database(db_config)
    try:
        first = SelectorManager(db)
        pipeline_id = first.register_pipeline(
            "p", 2, {**TAIL0, "maximum_keys_in_memory": 2}, {"pipeline": {"name": "p"}}
        )
        first.inform_data_and_trigger(pipeline_id, [1, 2, 3], [1, 2, 3], [])
        first.inform_data(pipeline_id, [4, 5], [4, 5], [])
    finally:
        db.dispose()
    db = Database(db_config)
    try:
        second = SelectorManager(db)
        info = second.get_pipeline(pipeline_id)
        assert (info.name, info.num_workers, info.next_trigger_id) == ("p", 2, 1)
        assert info.selection_strategy["maximum_keys_in_memory"] == 2
        assert full_training_set(second, pipeline_id, 0) == [1, 2, 3]
        assert second.get_number_of_partitions(pipeline_id, 0) == 2
        trigger = second.inform_data_and_trigger(pipeline_id, [6], [6], [])
        assert (trigger.trigger_id, trigger.num_samples) == (1, 3)
        assert full_training_set(second, pipeline_id, 1) == [4, 5, 6]
        assert second.register_pipeline("q", 1, TAIL0) == pipeline_id + 1
    finally:
        db.dispose()


def test_pipelines_are_independent(manager: SelectorManager) -> None:
    a = manager.register_pipeline("a", 1, TAIL0)
    b = manager.register_pipeline("b", 1, TAIL0)
    manager.inform_data(a, [1, 2], [1, 2])
    manager.inform_data(b, [2, 3], [2, 3])
    assert manager.inform_data_and_trigger(b, [], [], []).trigger_id == 0
    assert manager.inform_data_and_trigger(a, [], [], []).trigger_id == 0
    assert full_training_set(manager, a, 0) == [1, 2]
    assert full_training_set(manager, b, 0) == [2, 3]


def test_concurrent_inform_and_trigger_lose_nothing(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline("p", 1, TAIL0)
    errors: list[BaseException] = []

    def inform(offset: int) -> None:
        try:
            for i in range(5):
                keys = np.arange(offset + i * 100, offset + i * 100 + 100, dtype=np.int64)
                manager.inform_data(pipeline_id, keys, keys)
                manager.inform_data_and_trigger(pipeline_id, [], [], [])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=inform, args=(t * 10_000,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    manager.inform_data_and_trigger(pipeline_id, [], [], [])
    sets = [
        full_training_set(manager, pipeline_id, t) for t in range(manager.get_pipeline(pipeline_id).next_trigger_id)
    ]
    union = [k for s in sets for k in s]
    assert len(union) == len(set(union)) == 1500


def test_bad_input_is_rejected_with_the_field_named(manager: SelectorManager) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"num_workers": 0}, "num_workers: must be >= 1"),
        ({"name": ""}, "pipeline_name: must not be empty"),
        ({"strategy": {"maximum_keys_in_memory": 5}}, "selection_strategy.name: is required"),
        ({"strategy": {"name": "Nope"}}, "selection_strategy.name: unknown strategy 'Nope'"),
        (
            {"strategy": {**TAIL0, "maximum_keys_in_memory": 0}},
            "selection_strategy.maximum_keys_in_memory: must be > 0",
        ),
    ]
    for change, message in cases:
        args = {"name": "p", "num_workers": 1, "strategy": TAIL0, **change}
        with pytest.raises(ValueError, match=message):
            manager.register_pipeline(args["name"], args["num_workers"], args["strategy"])
    pipeline_id = manager.register_pipeline("p", 2, TAIL0)
    with pytest.raises(ValueError, match="timestamps: got 1 values for 2 keys"):
        manager.inform_data(pipeline_id, [1, 2], [1])
    with pytest.raises(ValueError, match="labels: got 1 values for 2 keys"):
        manager.inform_data_and_trigger(pipeline_id, [1, 2], [1, 2], [0])
    assert manager.get_pipeline(pipeline_id).next_trigger_id == 0  # nothing changed by the failed call


def test_unknown_things_raise_lookup_errors(manager: SelectorManager) -> None:
    with pytest.raises(UnknownPipelineError, match="pipeline 42 is not registered"):
        manager.inform_data(42, [1], [1])
    with pytest.raises(KeyError, match="pipeline 42 is not registered"):
        manager.inform_data_and_trigger(42, [], [], [])
    with pytest.raises(UnknownPipelineError):
        manager.get_number_of_samples(42, 0)
    pipeline_id = manager.register_pipeline("p", 2, TAIL0)
    manager.inform_data_and_trigger(pipeline_id, [1, 2, 3], [1, 2, 3], [])
    with pytest.raises(UnknownTriggerError, match=f"trigger 1 of pipeline {pipeline_id} does not exist"):
        manager.get_number_of_partitions(pipeline_id, 1)
    with pytest.raises(UnknownTriggerError):
        manager.get_sample_keys_and_weights(pipeline_id, 5, 0, 0)
    with pytest.raises(UnknownPartitionError, match="partition 1 of trigger 0"):
        manager.get_sample_keys_and_weights(pipeline_id, 0, 0, 1)
    with pytest.raises(ValueError, match="worker_id: 2 is out of range"):
        manager.get_sample_keys_and_weights(pipeline_id, 0, 2, 0)
    with pytest.raises(ValueError, match="worker_id: -1 is out of range"):
        manager.get_sample_keys_and_weights(pipeline_id, 0, -1, 0)
