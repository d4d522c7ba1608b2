"""Every trigger policy's config goes through the pipeline schema and the supervisor's own checks,
and each problem is named by its YAML path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from modyn.config import ConfigError, validate_pipeline_config
from modyn.supervisor.supervisor_entrypoint import pipeline_problems
from modyn.supervisor.triggers import TRIGGER_REGISTRY, build_trigger

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "benchmarks" / "mnist" / "pipeline.yaml").read_text())

VALID_TRIGGERS: list[dict[str, Any]] = [
    {"id": "DataAmountTrigger", "num_samples": 10},
    {"id": "TimeTrigger", "every": "1d"},
    {
        "id": "DataDriftTrigger",
        "window": {"every": "1h"},
        "features": "raw",
        "metric": "ks",
        "threshold_type": "calibrated",
        "warmup_windows": 4,
        "alpha": 0.01,
    },
    {"id": "DataDriftTrigger"},
    {"id": "PerformanceTrigger", "window": {"num_samples": 500}, "min_accuracy": 0.8, "max_drop": 0.05},
    {"id": "CostTrigger", "conversion_factor": 0.01, "initial_training_cost_s": 30},
    {
        "id": "EnsembleTrigger",
        "subtriggers": [
            {"id": "DataAmountTrigger", "num_samples": 100},
            {"id": "ErrorRateTrigger", "detector": "PageHinkley", "detector_config": {"threshold": 20}},
            {"id": "EnsembleTrigger", "subtriggers": [{"id": "TimeTrigger", "every": "2h"}] * 2},
        ],
        "policy": {"id": "AtLeastN", "n": 2},
    },
    {"id": "ErrorRateTrigger", "detector": "ADWIN", "detector_config": {"delta": 0.01}, "warmup_samples": 50},
]


def with_trigger(trigger: dict[str, Any], **top: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    config["trigger"] = trigger
    config.update(top)
    return config


@pytest.mark.parametrize("trigger", VALID_TRIGGERS, ids=lambda t: t["id"])
def test_valid_trigger_configs(trigger: dict[str, Any]) -> None:
    config = validate_pipeline_config(with_trigger(trigger))
    assert pipeline_problems(config) == []
    assert type(build_trigger(config["trigger"])).__name__ == trigger["id"]


def test_every_registered_trigger_is_in_the_schema() -> None:
    assert {t["id"] for t in VALID_TRIGGERS} == set(TRIGGER_REGISTRY)


def test_initial_mode_default_and_values() -> None:
    assert validate_pipeline_config(with_trigger(VALID_TRIGGERS[0]))["initial_mode"] == "ignore"
    config = validate_pipeline_config(with_trigger(VALID_TRIGGERS[0], initial_mode="train_on_everything"))
    assert config["initial_mode"] == "train_on_everything"
    with pytest.raises(ConfigError, match="initial_mode: must be one of ignore, train_on_everything, replay"):
        validate_pipeline_config(with_trigger(VALID_TRIGGERS[0], initial_mode="everything"))


@pytest.mark.parametrize(
    ("trigger", "problem"),
    [
        ({"id": "DataDriftTrigger", "window": {"num_samples": 1}}, "trigger.window.num_samples: must be >= 2"),
        ({"id": "DataDriftTrigger", "metric": "l2"}, "trigger.metric: must be one of mmd, ks, cvm, got 'l2'"),
        ({"id": "DataDriftTrigger", "windows": 3}, "trigger: unknown key 'windows'"),
        ({"id": "CostTrigger"}, "trigger.conversion_factor: is required"),
        ({"id": "PerformanceTrigger", "min_accuracy": 1.5}, "trigger.min_accuracy: must be <= 1"),
        ({"id": "ErrorRateTrigger", "detector": "EDDM"}, "trigger.detector: must be one of ADWIN, DDM, PageHinkley"),
        (
            {"id": "EnsembleTrigger", "subtriggers": [{"id": "TimeTrigger", "every": "1d"}, {"id": "TimeTrigger"}]},
            "trigger.subtriggers[1].every: is required",
        ),
    ],
)
def test_schema_problems_name_the_path(trigger: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_pipeline_config(with_trigger(trigger))
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(
    ("trigger", "problem"),
    [
        ({"id": "DataDriftTrigger", "threshold_type": "static"}, "trigger.threshold: is required"),
        ({"id": "PerformanceTrigger"}, "trigger: give min_accuracy, max_drop or both"),
        (
            {"id": "ErrorRateTrigger", "detector": "DDM", "detector_config": {"delta": 1}},
            "trigger.detector_config: unknown parameter(s) delta",
        ),
        (
            {
                "id": "EnsembleTrigger",
                "subtriggers": [{"id": "TimeTrigger", "every": "1d"}] * 2,
                "policy": {"id": "AtLeastN", "n": 3},
            },
            "trigger.policy.n: must be an integer from 1 to 2",
        ),
    ],
)
def test_semantic_problems_name_the_path(trigger: dict[str, Any], problem: str) -> None:
    config = validate_pipeline_config(with_trigger(trigger))
    problems = pipeline_problems(config)
    assert any(p.startswith(problem) for p in problems), problems


def test_bad_bytes_parser_is_a_config_problem() -> None:
    config = validate_pipeline_config(with_trigger(VALID_TRIGGERS[0]))
    config["data"]["bytes_parser_function"] = "def bytes_parser_function(data):\n    return ("
    problems = pipeline_problems(config)
    assert len(problems) == 1 and problems[0].startswith("data.bytes_parser_function:")
