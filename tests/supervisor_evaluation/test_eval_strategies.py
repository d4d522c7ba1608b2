"""Evaluation strategies turn triggers into intervals (pure logic, no services)."""

from __future__ import annotations

from typing import Any

import pytest

from modyn.config import ConfigError, validate_pipeline_config
from modyn.supervisor.evaluation.full_matrix import build_matrix
from modyn.supervisor.evaluation.registry import build_eval_strategy

TRIGGERS = [
    {"trigger_index": 0, "model_id": 7, "first_timestamp": 100, "last_timestamp": 199},
    {"trigger_index": 1, "model_id": 8, "first_timestamp": 250, "last_timestamp": 299},
    {"trigger_index": 2, "model_id": 9, "first_timestamp": 300, "last_timestamp": 420},
]


def test_offset_strategy_next_period_and_trigger_periods() -> None:
    strategy = build_eval_strategy({"name": "OffsetEvalStrategy"})
    assert strategy.after_trigger(TRIGGERS[0], TRIGGERS[:1]) == [(200, 299)]
    assert strategy.after_trigger(TRIGGERS[1], TRIGGERS[:2]) == [(300, 349)]
    assert build_eval_strategy({"name": "OffsetEvalStrategy", "length": "1m"}).after_trigger(TRIGGERS[2], []) == [
        (421, 480)
    ]
    assert strategy.for_matrix(TRIGGERS) == [(100, 249), (250, 299), (300, 420)]
    assert strategy.after_trigger({"first_timestamp": None, "last_timestamp": None}, []) == []


def test_static_strategy_is_the_same_everywhere() -> None:
    strategy = build_eval_strategy(
        {"name": "StaticEvalStrategy", "intervals": [{"start": 0, "end": 10}, {"start": 11}]}
    )
    assert strategy.after_trigger(TRIGGERS[0], TRIGGERS) == [(0, 10), (11, 2**62)]
    assert strategy.for_matrix(TRIGGERS) == [(0, 10), (11, 2**62)]
    with pytest.raises(ValueError, match="intervals\\[0\\]: start 5 is after end 1"):
        build_eval_strategy({"name": "StaticEvalStrategy", "intervals": [{"start": 5, "end": 1}]})


def test_periodic_strategy_sliding_windows() -> None:
    strategy = build_eval_strategy({"name": "PeriodicEvalStrategy", "every": "100s", "window": "150s"})
    assert strategy.for_matrix(TRIGGERS) == [(100, 249), (200, 349), (300, 449), (400, 549)]
    # After trigger 1: windows from the first sample up to this trigger's last sample.
    assert strategy.after_trigger(TRIGGERS[1], TRIGGERS[:2]) == [(100, 249), (200, 349)]
    bounded = build_eval_strategy(
        {"name": "PeriodicEvalStrategy", "every": "1m", "start_timestamp": 0, "end_timestamp": 150}
    )
    assert bounded.for_matrix([]) == [(0, 59), (60, 119), (120, 179)]
    with pytest.raises(ValueError, match="unknown evaluation strategy 'Nope'"):
        build_eval_strategy({"name": "Nope"})


def test_matrix_structure_with_missing_cells() -> None:
    models = [{"model_id": 7, "trigger_index": 0}, {"model_id": 8, "trigger_index": 1}]
    cells: dict[Any, Any] = {
        (0, 0, "d"): {"Accuracy": 0.5},
        (0, 1, "d"): "EMPTY_DATASET: no samples",
        (1, 0, "d"): {"Accuracy": 0.25},
        (1, 1, "d"): {"Accuracy": 1.0},
    }
    matrix = build_matrix(models, [(0, 9), (10, 19)], ["d"], cells)
    assert matrix["results"] == {"d": {"Accuracy": [[0.5, None], [0.25, 1.0]]}}
    assert matrix["intervals"] == [[0, 9], [10, 19]]
    assert matrix["notes"] == ["model 7 on d [10, 19]: EMPTY_DATASET: no samples"]


def _pipeline(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "pipeline": {"name": "p"},
        "model": {"id": "Dummy"},
        "training": {
            "device": "cpu",
            "batch_size": 4,
            "optimizers": [
                {
                    "name": "default",
                    "algorithm": "SGD",
                    "source": "PyTorch",
                    "param_groups": [{"module": "model", "config": {"lr": 0.1}}],
                }
            ],
            "optimization_criterion": {"name": "CrossEntropyLoss"},
        },
        "data": {"dataset_id": "d", "bytes_parser_function": "float32"},
        "trigger": {"id": "DataAmountTrigger", "num_samples": 10},
        "selection_strategy": {"name": "NewDataStrategy"},
        "evaluation": {
            "datasets": [{"dataset_id": "test", "bytes_parser_function": "float32", "metrics": [{"name": "Accuracy"}]}]
        },
    }
    base.update(sections)
    return base


def test_config_accepts_strategies_matrix_and_deployment() -> None:
    config = _pipeline(
        model_storage={"incremental_model_strategy": {"name": "WeightsDifference", "config": {"operator": "sub"}}},
        deployment={"folder": "deploy", "promotion_gate": {"dataset_id": "test", "metric": "Accuracy"}},
    )
    config["evaluation"]["after_trigger"] = {"strategy": {"name": "OffsetEvalStrategy", "length": "1d"}}
    config["evaluation"]["matrix"] = {"strategy": {"name": "PeriodicEvalStrategy", "every": "1d"}, "datasets": ["test"]}
    filled = validate_pipeline_config(config)
    assert filled["deployment"]["alias"] == "champion"
    assert filled["deployment"]["promotion_gate"]["max_regression"] == 0.0
    assert filled["model_storage"]["incremental_model_strategy"]["full_model_interval"] == 5
    assert filled["model_storage"]["incremental_model_strategy"]["config"] == {
        "operator": "sub",
        "rle": True,
        "zip": True,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"deployment": {"folder": "d", "promotion_gate": {"dataset_id": "other", "metric": "Accuracy"}}},
            "deployment.promotion_gate.dataset_id: 'other' is not evaluated after each trigger",
        ),
        (
            {"deployment": {"folder": "d", "promotion_gate": {"dataset_id": "test", "metric": "F1Score"}}},
            "deployment.promotion_gate.metric: 'F1Score' is not a metric of dataset 'test' (its metrics: Accuracy)",
        ),
        ({"deployment": {"folder": "d", "alias": "latest"}}, "deployment.alias"),
        (
            {"model_storage": {"incremental_model_strategy": {"full_model_interval": 0}}},
            "model_storage.incremental_model_strategy.full_model_interval: must be >= 1",
        ),
    ],
)
def test_config_problems_name_their_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate_pipeline_config(_pipeline(**change))
    assert any(message in problem for problem in error.value.problems), error.value.problems


def test_matrix_dataset_must_be_an_evaluation_dataset() -> None:
    config = _pipeline()
    config["evaluation"]["matrix"] = {"strategy": {"name": "OffsetEvalStrategy"}, "datasets": ["nope"]}
    with pytest.raises(ConfigError) as error:
        validate_pipeline_config(config)
    assert error.value.problems == ["evaluation.matrix.datasets[0]: 'nope' is not one of evaluation.datasets (test)"]
