"""Checks of the `evaluation:` and `deployment:` sections that the schema cannot express.

Imported by modyn.config while validating a pipeline: keep it free of heavy imports.
"""

from __future__ import annotations

from typing import Any


def _reported_names(metrics: list[dict[str, Any]]) -> list[str]:
    # The names the evaluator reports results under (see modyn.evaluator.metrics.result_names).
    names: list[str] = []
    for config in metrics:
        name = str(config["name"])
        if name in names:
            details = ",".join(f"{k}={v}" for k, v in sorted(config.items()) if k != "name")
            name = f"{name}({details})" if details else name
        names.append(name)
    return names


def evaluation_problems(config: dict[str, Any]) -> list[str]:
    """'yaml.path: what is wrong' lines for the evaluation and deployment sections."""
    problems: list[str] = []
    evaluation = config.get("evaluation") or {}
    datasets = {d["dataset_id"]: d for d in evaluation.get("datasets", [])}
    ids = [d["dataset_id"] for d in evaluation.get("datasets", [])]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"evaluation.datasets: dataset id(s) {', '.join(duplicates)} appear more than once")
    for section in ("after_trigger", "matrix"):
        for i, dataset_id in enumerate((evaluation.get(section) or {}).get("datasets") or []):
            if dataset_id not in datasets:
                problems.append(
                    f"evaluation.{section}.datasets[{i}]: {dataset_id!r} is not one of evaluation.datasets "
                    f"({', '.join(datasets) or 'none'})"
                )
        strategy = (evaluation.get(section) or {}).get("strategy") or {}
        for i, interval in enumerate(strategy.get("intervals") or []):
            if "start" in interval and "end" in interval and interval["start"] > interval["end"]:
                problems.append(f"evaluation.{section}.strategy.intervals[{i}]: start is after end")
    deployment = config.get("deployment") or {}
    gate = deployment.get("promotion_gate")
    if gate:
        after_ids = (evaluation.get("after_trigger") or {}).get("datasets") or list(datasets)
        if gate["dataset_id"] not in datasets or gate["dataset_id"] not in after_ids:
            problems.append(
                f"deployment.promotion_gate.dataset_id: {gate['dataset_id']!r} is not evaluated after each trigger "
                f"(evaluation.datasets / evaluation.after_trigger.datasets: {', '.join(after_ids) or 'none'})"
            )
        else:
            names = _reported_names(datasets[gate["dataset_id"]]["metrics"])
            if gate["metric"] not in names:
                problems.append(
                    f"deployment.promotion_gate.metric: {gate['metric']!r} is not a metric of dataset "
                    f"{gate['dataset_id']!r} (its metrics: {', '.join(names)})"
                )
    return problems
