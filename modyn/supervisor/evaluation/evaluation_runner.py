from __future__ import annotations

import time
from typing import Any

from modyn.common.clients.evaluator_client import EvaluatorClient

POLL_INTERVAL_S = 0.2


class EvaluationError(Exception):
    """An evaluation could not be done; the message says which model, dataset and why."""


class EvaluationRunner:
    """Runs the pipeline's `evaluation:` section through the evaluator service."""

    def __init__(self, evaluator: EvaluatorClient, pipeline_config: dict[str, Any]) -> None:
        self.evaluator = evaluator
        self.config = pipeline_config.get("evaluation")

    def evaluate(self, model_id: int, dataset: dict[str, Any], interval: tuple[int, int] | None) -> dict[str, float]:
        """Metric name → value for one model on one dataset (optionally a time interval)."""
        assert self.config is not None
        evaluation_id = self.evaluator.start_evaluation(model_id, dataset, self.config["device"], interval)
        while True:
            result = self.evaluator.result(evaluation_id)
            if not result.valid:
                raise EvaluationError(f"evaluator lost evaluation {evaluation_id}")
            if result.failed:
                raise EvaluationError(
                    f"evaluation of model {model_id} on {dataset['dataset_id']} failed: {result.exception}"
                )
            if not result.is_running:
                return {r.name: round(r.value, 6) for r in result.results}
            time.sleep(POLL_INTERVAL_S)

    def after_trigger(self, model_id: int, trigger_entry: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Evaluate the trigger's new model on every evaluation dataset: dataset id → metrics."""
        if not self.config:
            return {}
        return {ds["dataset_id"]: self.evaluate(model_id, ds, None) for ds in self.config["datasets"]}

    def after_pipeline(self, triggers: list[dict[str, Any]]) -> dict[str, Any]:
        """Evaluations once the pipeline is done (none yet); merged into the pipeline log."""
        return {}
