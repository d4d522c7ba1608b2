"""Every strategy's training sets, exactly, on small inputs: sizes, membership, balance, no repeats
where promised, reproducibility (same seed, same sets; after a restart, the same sets), on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from selector_test_helpers import full_training_set

from modyn.common.database import Database
from modyn.selector.selector_manager import SelectorManager
from modyn.selector.strategies import STRATEGY_REGISTRY, CoresetStrategy, FreshnessSamplingStrategy, strategy_class

# Keys 0..99 in four batches of 25; label = key % 4, except keys 0..9 (label 9: a small class).
BATCHES = [list(range(b * 25, b * 25 + 25)) for b in range(4)]


def label_of(key: int) -> int:
    return 9 if key < 10 else key % 4


def run(manager: SelectorManager, strategy: dict[str, Any], batches: list[list[int]] = BATCHES) -> list[list[int]]:
    """Inform each batch (timestamp = key) and trigger after it; return the training sets."""
    pipeline_id = manager.register_pipeline("p", 2, {"maximum_keys_in_memory": 7, **strategy})
    sets = []
    for batch in batches:
        info = manager.inform_data_and_trigger(pipeline_id, batch, batch, [label_of(k) for k in batch])
        sets.append(full_training_set(manager, pipeline_id, info.trigger_id))
        assert info.num_samples == len(sets[-1])
    return sets


def test_registry_names_every_strategy() -> None:
    assert sorted(STRATEGY_REGISTRY) == [
        "CoresetStrategy",
        "FreshnessSamplingStrategy",
        "GDumbStrategy",
        "NewDataStrategy",
        "ReservoirStrategy",
    ]
    for name, cls in STRATEGY_REGISTRY.items():
        assert strategy_class(name) is cls and cls.__doc__ and "Parameters" in cls.__doc__


def test_new_data_limit_sample_uar(manager: SelectorManager) -> None:
    sets = run(manager, {"name": "NewDataStrategy", "limit": 10, "limit_reset": "sampleUAR", "seed": 3})
    seen: list[int] = []
    for trigger, keys in enumerate(sets):
        seen += BATCHES[trigger]
        assert len(keys) == 10 and len(set(keys)) == 10 and set(keys) <= set(seen)
        assert keys == sorted(keys)  # (timestamp, key) order: timestamp = key
    assert sets == run(manager, {"name": "NewDataStrategy", "limit": 10, "limit_reset": "sampleUAR", "seed": 3})
    assert sets != run(manager, {"name": "NewDataStrategy", "limit": 10, "limit_reset": "sampleUAR", "seed": 4})
    last = run(manager, {"name": "NewDataStrategy", "tail_triggers": 0, "limit": 5, "limit_reset": "lastX"})
    assert last == [b[-5:] for b in BATCHES]


def test_freshness_sampling_mixes_unused_and_used(manager: SelectorManager) -> None:
    sets = run(manager, {"name": "FreshnessSamplingStrategy", "unused_data_ratio": 50, "seed": 1})
    assert sets[0] == BATCHES[0]  # nothing used yet: all fresh data
    used = set(sets[0])
    for trigger in (1, 2, 3):
        keys = set(sets[trigger])
        fresh = keys - used
        # 25 unused keys and >= 25 used ones at ratio 50%: 25 + 25.
        assert len(sets[trigger]) == 50 and len(keys) == 50
        assert fresh == set(BATCHES[trigger]) and len(keys & used) == 25
        used |= keys
    assert sets == run(manager, {"name": "FreshnessSamplingStrategy", "unused_data_ratio": 50, "seed": 1})


def test_freshness_targets_respect_ratio_and_limit() -> None:
    strategy = FreshnessSamplingStrategy(1, {"name": "FreshnessSamplingStrategy", "unused_data_ratio": 20})
    assert strategy.targets(100, 0) == (100, 0)
    assert strategy.targets(100, 1000) == (100, 400)
    assert strategy.targets(100, 40) == (10, 40)
    limited = FreshnessSamplingStrategy(1, {"name": "FreshnessSamplingStrategy", "unused_data_ratio": 20, "limit": 50})
    assert limited.targets(100, 1000) == (10, 40)
    assert limited.targets(100, 0) == (50, 0)


def test_coreset_no_presampling_is_the_window(manager: SelectorManager) -> None:
    sets = run(manager, {"name": "CoresetStrategy", "tail_triggers": 0})
    assert sets == BATCHES


def test_coreset_random_presampling(manager: SelectorManager) -> None:
    config = {"name": "CoresetStrategy", "presampling_config": {"strategy": "Random", "ratio": 40}, "seed": 5}
    sets = run(manager, config)
    for trigger, keys in enumerate(sets):
        window = (trigger + 1) * 25
        assert len(keys) == window * 40 // 100 and len(set(keys)) == len(keys) and max(keys) < window
    assert sets == run(manager, config)


def test_coreset_random_no_replacement_uses_every_key_before_repeating(manager: SelectorManager) -> None:
    one_batch = [list(range(20))] + [[] for _ in range(5)]
    config = {"name": "CoresetStrategy", "presampling_config": {"strategy": "RandomNoReplacement", "ratio": 25}}
    sets = run(manager, config, one_batch)
    assert [len(s) for s in sets] == [5] * 6
    # Triggers 0-3 cover the 20 keys exactly once; then the pool starts over.
    assert sorted(k for s in sets[:4] for k in s) == list(range(20))
    assert len(set(sets[4]) | set(sets[5])) == 10


def test_coreset_label_balanced(manager: SelectorManager) -> None:
    # Window of 100 keys: label 9 has 10, labels 0..3 have 22/23/22/23 (keys 10..99).
    batches = [list(range(100))]
    base = {"name": "CoresetStrategy", "presampling_config": {"strategy": "LabelBalanced", "ratio": 80}}
    counts = Counter(label_of(k) for k in run(manager, base, batches)[0])
    # Target 80: label 9 gives all 10, the other four share 70 -> 17 each (water level), total 78.
    assert counts == {9: 10, 0: 17, 1: 17, 2: 17, 3: 17}
    forced = {**base, "presampling_config": {**base["presampling_config"], "force_column_balancing": True}}
    assert Counter(label_of(k) for k in run(manager, forced, batches)[0]) == {9: 10, 0: 10, 1: 10, 2: 10, 3: 10}
    exact = {**base, "presampling_config": {**base["presampling_config"], "force_required_target_size": True}}
    keys = run(manager, exact, batches)[0]
    assert len(keys) == 80 and Counter(label_of(k) for k in keys) == {9: 10, 0: 18, 1: 18, 2: 17, 3: 17}


def test_coreset_trigger_balanced(manager: SelectorManager) -> None:
    batches = [list(range(40)), list(range(40, 50)), list(range(50, 100))]
    config = {"name": "CoresetStrategy", "presampling_config": {"strategy": "TriggerBalanced", "ratio": 30}}
    last = run(manager, config, batches)[2]
    # Target 30 of 100 over triggers of 40, 10, 50 keys: 10 each.
    assert [sum(1 for k in last if lo <= k < hi) for lo, hi in [(0, 40), (40, 50), (50, 100)]] == [10, 10, 10]


def test_coreset_hands_out_downsampling_config(manager: SelectorManager) -> None:
    config = {
        "name": "CoresetStrategy",
        "downsampling_config": {"strategy": "Loss", "ratio": 25},
        "warmup_triggers": 2,
    }
    pipeline_id = manager.register_pipeline("p", 1, config)
    strategy = manager.get_strategy(pipeline_id)
    assert isinstance(strategy, CoresetStrategy)
    assert strategy.downsampling_config == {"strategy": "Loss", "ratio": 25}
    assert (strategy.warmup_triggers, strategy.status_bar_scale, strategy.uses_weights) == (2, 25, False)
    plain = manager.get_strategy(manager.register_pipeline("q", 1, {"name": "CoresetStrategy"}))
    assert (plain.downsampling_config, plain.status_bar_scale) == (None, 100)


def test_gdumb_keeps_a_class_balanced_memory(manager: SelectorManager) -> None:
    config = {"name": "GDumbStrategy", "memory_size": 20, "seed": 2}
    sets = run(manager, config)
    # Keys 0..19 fill the memory; keys 20..24 (labels 0, 1, 2, 3, 0) then each push out a key of
    # label 9, the biggest class, as long as their label holds fewer than 20 / 5 = 4 keys.
    assert set(range(10, 25)) <= set(sets[0]) and len(sets[0]) == 20
    assert Counter(label_of(k) for k in sets[0]) == {9: 5, 0: 4, 1: 3, 2: 4, 3: 4}
    for keys in sets[1:]:
        counts = Counter(label_of(k) for k in keys)
        assert len(keys) == 20 == len(set(keys))
        # 5 labels seen: 4 keys each.
        assert counts == {9: 4, 0: 4, 1: 4, 2: 4, 3: 4}
    assert sets == run(manager, config)


def test_reservoir_is_a_uniform_memory(manager: SelectorManager) -> None:
    config = {"name": "ReservoirStrategy", "memory_size": 30, "seed": 7}
    sets = run(manager, config)
    assert sets[0] == list(range(25))
    assert all(len(s) == 30 == len(set(s)) for s in sets[1:])
    assert set(sets[3]) <= set(range(100)) and sets == run(manager, config)
    # Uniformity: over many seeds every key is kept with probability 30/100.
    kept: Counter[int] = Counter()
    for seed in range(25):
        kept.update(run(manager, {**config, "seed": seed}, [list(range(100))])[0])
    early, late = sum(kept[k] for k in range(50)), sum(kept[k] for k in range(50, 100))
    assert abs(early - late) < 0.2 * (early + late)


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "NewDataStrategy", "limit": 12, "limit_reset": "sampleUAR"},
        {"name": "FreshnessSamplingStrategy", "unused_data_ratio": 30},
        {"name": "CoresetStrategy", "presampling_config": {"strategy": "RandomNoReplacement", "ratio": 30}},
        {"name": "CoresetStrategy", "presampling_config": {"strategy": "LabelBalanced", "ratio": 50}},
        {"name": "GDumbStrategy", "memory_size": 15},
        {"name": "ReservoirStrategy", "memory_size": 15},
    ],
)
def test_restart_loses_nothing_and_changes_nothing(db_config: dict[str, Any], strategy: dict[str, Any]) -> None:
    """A selector restarted between triggers computes exactly the sets an uninterrupted one does."""
    database = Database(db_config)
    try:
        uninterrupted = run(SelectorManager(database), strategy)
        first = SelectorManager(database)
        pipeline_id = first.register_pipeline("p", 2, {"maximum_keys_in_memory": 7, **strategy})
        sets = []
        for batch in BATCHES:
            manager = SelectorManager(database)  # a new process for every trigger
            info = manager.inform_data_and_trigger(pipeline_id, batch, batch, [label_of(k) for k in batch])
            sets.append(full_training_set(manager, pipeline_id, info.trigger_id))
        assert sets == uninterrupted
        # Stored sets never change: read again after more triggers.
        assert [full_training_set(SelectorManager(database), pipeline_id, t) for t in range(4)] == sets
    finally:
        database.dispose()


def test_training_sets_are_split_among_workers_in_partitions(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline(
        "p", 3, {"name": "ReservoirStrategy", "memory_size": 50, "maximum_keys_in_memory": 20}
    )
    info = manager.inform_data_and_trigger(pipeline_id, np.arange(200), np.arange(200), None)
    assert (info.num_samples, info.num_partitions) == (50, 3)
    sizes = [[len(manager.get_sample_keys_and_weights(pipeline_id, 0, w, p)[0]) for w in range(3)] for p in range(3)]
    assert sizes == [[7, 7, 6], [7, 7, 6], [4, 3, 3]]
