"""NewDataStrategy: which keys each trigger trains on, for tail_triggers absent / 0 / k and limit."""

from __future__ import annotations

from typing import Any

import pytest
from selector_test_helpers import full_training_set

from modyn.selector.selector_manager import SelectorManager
from modyn.selector.strategies import STRATEGY_REGISTRY, NewDataStrategy, strategy_class


def _run_triggers(manager: SelectorManager, strategy: dict[str, Any], batches: list[list[int]]) -> list[list[int]]:
    """Inform each batch (timestamp = key * 10) and trigger after it; return each trigger's training set."""
    pipeline_id = manager.register_pipeline("p", 1, {"name": "NewDataStrategy", **strategy})
    sets = []
    for batch in batches:
        info = manager.inform_data_and_trigger(pipeline_id, batch, [k * 10 for k in batch], [])
        sets.append(full_training_set(manager, pipeline_id, info.trigger_id))
        assert info.num_samples == len(sets[-1])
    return sets


BATCHES = [[3, 1, 2], [5, 4], [6], [8, 7]]


def test_tail_triggers_absent_trains_on_everything_so_far(manager: SelectorManager) -> None:
    assert _run_triggers(manager, {}, BATCHES) == [[1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], list(range(1, 9))]


def test_tail_triggers_zero_trains_only_on_new_data(manager: SelectorManager) -> None:
    assert _run_triggers(manager, {"tail_triggers": 0}, BATCHES) == [[1, 2, 3], [4, 5], [6], [7, 8]]


def test_tail_triggers_one_adds_the_previous_trigger(manager: SelectorManager) -> None:
    assert _run_triggers(manager, {"tail_triggers": 1}, BATCHES) == [[1, 2, 3], [1, 2, 3, 4, 5], [4, 5, 6], [6, 7, 8]]


def test_limit_keeps_the_most_recent_keys(manager: SelectorManager) -> None:
    assert _run_triggers(manager, {"limit": 3}, BATCHES) == [[1, 2, 3], [3, 4, 5], [4, 5, 6], [6, 7, 8]]
    assert _run_triggers(manager, {"tail_triggers": 0, "limit": 1}, BATCHES) == [[3], [5], [6], [8]]


def test_order_and_limit_follow_timestamp_then_key(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline("p", 1, {"name": "NewDataStrategy", "limit": 3})
    # Keys 9 and 2 share timestamp 5: ties are broken by key. Key 1 is the most recent by time.
    info = manager.inform_data_and_trigger(pipeline_id, [9, 2, 1, 7], [5, 5, 8, 0], [0, 1, 0, 1])
    assert full_training_set(manager, pipeline_id, info.trigger_id) == [2, 9, 1]


def test_data_informed_without_trigger_goes_into_the_next_trigger(manager: SelectorManager) -> None:
    pipeline_id = manager.register_pipeline("p", 1, {"name": "NewDataStrategy", "tail_triggers": 0})
    assert manager.inform_data(pipeline_id, [1, 2], [1, 2], [0, 0]) == 2
    assert manager.inform_data(pipeline_id, [3], [3]) == 1
    first = manager.inform_data_and_trigger(pipeline_id, [4], [4], [1])
    assert full_training_set(manager, pipeline_id, first.trigger_id) == [1, 2, 3, 4]
    manager.inform_data(pipeline_id, [5], [5])
    second = manager.inform_data_and_trigger(pipeline_id, [], [], [])
    assert (second.trigger_id, full_training_set(manager, pipeline_id, second.trigger_id)) == (1, [5])


def test_config_validation_names_the_field() -> None:
    assert strategy_class("NewDataStrategy") is NewDataStrategy
    assert STRATEGY_REGISTRY["NewDataStrategy"] is NewDataStrategy
    checked = NewDataStrategy.validate_config({"name": "NewDataStrategy"})
    assert checked == {
        "name": "NewDataStrategy",
        "maximum_keys_in_memory": 100_000,
        "seed": 0,
        "tail_triggers": None,
        "limit": -1,
        "limit_reset": "lastX",
    }
    assert NewDataStrategy.validate_config({"name": "NewDataStrategy"}, default_seed=7)["seed"] == 7
    assert NewDataStrategy.validate_config({"name": "NewDataStrategy", "seed": 3}, default_seed=7)["seed"] == 3
    bad = [
        ({"maximum_keys_in_memory": 0}, "selection_strategy.maximum_keys_in_memory: must be > 0"),
        ({"maximum_keys_in_memory": "10"}, "selection_strategy.maximum_keys_in_memory: must be an integer"),
        ({"tail_triggers": -1}, "selection_strategy.tail_triggers: must be >= 0"),
        ({"tail_triggers": True}, "selection_strategy.tail_triggers: must be an integer"),
        ({"limit": -2}, "selection_strategy.limit: must be >= -1"),
        ({"presampling": 1}, "selection_strategy: unknown key(s) 'presampling'"),
        ({"limit_reset": "first"}, "selection_strategy.limit_reset: must be one of lastX, sampleUAR, got 'first'"),
        ({"seed": -1}, "selection_strategy.seed: must be >= 0"),
    ]
    for extra, message in bad:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            NewDataStrategy.validate_config({"name": "NewDataStrategy", **extra})
    with pytest.raises(ValueError, match="selection_strategy.name: unknown strategy 'Nope'"):
        strategy_class("Nope")
