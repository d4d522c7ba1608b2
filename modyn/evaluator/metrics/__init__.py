"""Evaluation metrics, registered by name. A new metric is one file plus one line in METRIC_REGISTRY."""

from __future__ import annotations

import json
from typing import Any

from modyn.evaluator.metrics.accuracy import Accuracy
from modyn.evaluator.metrics.base import Metric
from modyn.evaluator.metrics.f1_score import F1Score
from modyn.evaluator.metrics.roc_auc import RocAuc

METRIC_REGISTRY: dict[str, type[Metric]] = {
    "Accuracy": Accuracy,
    "F1Score": F1Score,
    "RocAuc": RocAuc,
}


def build_metric(config: dict[str, Any]) -> Metric:
    """A fresh metric from its config ({"name": ..., other keys}); ValueError naming what is wrong."""
    if not isinstance(config, dict):
        raise ValueError(f'a metric config must be an object such as {{"name": "Accuracy"}}, got {config!r}')
    name = config.get("name")
    if name not in METRIC_REGISTRY:
        raise ValueError(f"unknown metric {name!r} (known: {', '.join(sorted(METRIC_REGISTRY))})")
    return METRIC_REGISTRY[name](config)


def parse_metric_configs(raw: list[str]) -> list[dict[str, Any]]:
    """Parse and check the JSON metric configs of a request; ValueError naming the bad one."""
    if not raw:
        raise ValueError('no metrics requested (give at least one, e.g. {"name": "Accuracy"})')
    configs = []
    for text in raw:
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"metric config {text!r} is not valid JSON: {exc}") from exc
        build_metric(config)  # validates
        configs.append(config)
    return configs


def result_names(configs: list[dict[str, Any]]) -> list[str]:
    """The names metrics are reported under: the metric's name, with its config appended when the
    same metric is requested more than once (e.g. "F1Score" and "F1Score(average=weighted)")."""
    names: list[str] = []
    for config in configs:
        name = str(config["name"])
        if name in names:
            details = ",".join(f"{k}={v}" for k, v in sorted(config.items()) if k != "name")
            name = f"{name}({details})" if details else name
        if name in names:
            raise ValueError(f"metric {config['name']!r} is requested twice with the same config")
        names.append(name)
    return names


__all__ = [
    "METRIC_REGISTRY",
    "Accuracy",
    "F1Score",
    "Metric",
    "RocAuc",
    "build_metric",
    "parse_metric_configs",
    "result_names",
]
