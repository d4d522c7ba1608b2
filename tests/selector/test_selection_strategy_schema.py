"""The pipeline schema's `selection_strategy` section branches per strategy: a misspelt or misplaced
parameter is an error naming its YAML path; the selector's own validation agrees with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modyn.config import ConfigError, validate_pipeline_config
from modyn.selector.strategies import strategy_class

BASE = yaml.safe_load((Path(__file__).parents[2] / "benchmarks" / "mnist" / "pipeline.yaml").read_text())

VALID = [
    {"name": "NewDataStrategy", "tail_triggers": 2, "limit": 10, "limit_reset": "sampleUAR", "seed": 1},
    {"name": "FreshnessSamplingStrategy", "unused_data_ratio": 30, "limit": 100},
    {
        "name": "CoresetStrategy",
        "tail_triggers": 0,
        "presampling_config": {"strategy": "LabelBalanced", "ratio": 50, "force_column_balancing": True},
        "downsampling_config": {"strategy": "Loss", "ratio": 20},
        "warmup_triggers": 1,
    },
    {"name": "GDumbStrategy", "memory_size": 1000},
    {"name": "ReservoirStrategy", "memory_size": 1000, "maximum_keys_in_memory": 10},
]


def _problems(strategy: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_pipeline_config({**BASE, "selection_strategy": strategy})
    return info.value.problems


@pytest.mark.parametrize("strategy", VALID, ids=lambda s: s["name"])
def test_valid_configs_pass_schema_and_selector(strategy: dict[str, Any]) -> None:
    checked = validate_pipeline_config({**BASE, "selection_strategy": strategy})["selection_strategy"]
    assert checked["maximum_keys_in_memory"] == strategy.get("maximum_keys_in_memory", 100_000)
    selector_checked = strategy_class(strategy["name"]).validate_config(checked, default_seed=42)
    assert selector_checked["seed"] == strategy.get("seed", 42)


def test_errors_name_the_yaml_path() -> None:
    assert _problems({"name": "NewDataStrategy", "tail_trigers": 0}) == [
        "selection_strategy: unknown key 'tail_trigers' "
        "(allowed: limit, limit_reset, maximum_keys_in_memory, name, seed, tail_triggers)"
    ]
    assert _problems({"name": "GDumbStrategy"}) == ["selection_strategy.memory_size: is required"]
    assert _problems({"name": "FreshnessSamplingStrategy", "unused_data_ratio": 101}) == [
        "selection_strategy.unused_data_ratio: must be <= 100"
    ]
    assert _problems({"name": "CoresetStrategy", "presampling_config": {"strategy": "Random", "ratio": 0}}) == [
        "selection_strategy.presampling_config.ratio: must be >= 1"
    ]
    assert _problems({"name": "ReservoirStrategy", "memory_size": 5, "limit": 3})[0].startswith(
        "selection_strategy: unknown key 'limit'"
    )
    assert _problems({"name": "Typo"})[0].startswith("selection_strategy.name: must be one of NewDataStrategy")


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"name": "GDumbStrategy"}, "selection_strategy.memory_size: is required"),
        ({"name": "ReservoirStrategy", "memory_size": 0}, "selection_strategy.memory_size: must be > 0"),
        ({"name": "FreshnessSamplingStrategy"}, "selection_strategy.unused_data_ratio: is required"),
        (
            {"name": "CoresetStrategy", "presampling_config": {"strategy": "Nope"}},
            "selection_strategy.presampling_config.strategy: unknown presampling strategy 'Nope'",
        ),
        (
            {"name": "CoresetStrategy", "presampling_config": {"strategy": "No", "ratio": 50}},
            "selection_strategy.presampling_config.ratio: must be 100 with strategy No",
        ),
        (
            {
                "name": "CoresetStrategy",
                "presampling_config": {
                    "strategy": "TriggerBalanced",
                    "force_column_balancing": True,
                    "force_required_target_size": True,
                },
            },
            "selection_strategy.presampling_config: force_column_balancing and force_required_target_size",
        ),
        (
            {"name": "CoresetStrategy", "presampling_config": {"strategy": "Random", "force_column_balancing": True}},
            "selection_strategy.presampling_config: unknown key(s) 'force_column_balancing' for Random",
        ),
        ({"name": "CoresetStrategy", "warmup_triggers": -1}, "selection_strategy.warmup_triggers: must be >= 0"),
    ],
)
def test_selector_validation_names_the_field(strategy: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        strategy_class(strategy["name"]).validate_config(strategy)
    assert str(info.value).startswith(message)
