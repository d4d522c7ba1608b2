"""The supervisor's evaluation: after each trigger (the new model on the strategy's intervals, recorded in
model storage, then promoted to the deployment alias behind the promotion gate) and after the pipeline
(the full matrix: every model on every interval, written into the pipeline log and drawn as heatmaps).

The supervisor creates `EvaluationRunner(evaluator, pipeline_config)` and, once it knows the pipeline id
and the log folder, calls `bind(pipeline_id, log_folder, system_config)`: that connects model storage
(to record metrics, promote and publish) and tells it the pipeline's storage policy and deployment.
Unbound, the runner only evaluates (and draws no heatmap).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import Any

import grpc

from modyn.common.clients.evaluator_client import EvaluationNotStartedError, EvaluatorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.supervisor.evaluation.eval_strategy import EvalStrategy, Interval
from modyn.supervisor.evaluation.full_matrix import Cells, build_matrix, draw_heatmaps
from modyn.supervisor.evaluation.registry import build_eval_strategy

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.05
WHOLE_DATASET: Interval = (-(2**63), 2**63 - 1)

#: One evaluation to run: (model id, dataset entry of evaluation.datasets, interval or None for all).
Job = tuple[int, dict[str, Any], Interval | None]


class EvaluationError(Exception):
    """An evaluation could not be done; the message says which model, dataset and why."""


def _result_key(dataset_id: str, interval: Interval | None, several: bool) -> str:
    return f"{dataset_id}[{interval[0]},{interval[1]}]" if several and interval is not None else dataset_id


class EvaluationRunner:
    """Runs the pipeline's `evaluation:` section through the evaluator service."""

    def __init__(
        self,
        evaluator: EvaluatorClient,
        pipeline_config: dict[str, Any],
        model_storage: ModelStorageClient | None = None,
        log_folder: Path | None = None,
        pipeline_id: int | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.pipeline = pipeline_config
        self.config: dict[str, Any] | None = pipeline_config.get("evaluation")
        self.deployment: dict[str, Any] | None = pipeline_config.get("deployment")
        self.model_storage = model_storage
        self.log_folder = log_folder
        self.pipeline_id = pipeline_id
        self._history: list[dict[str, Any]] = []
        config = self.config or {}
        self.datasets = {d["dataset_id"]: d for d in config.get("datasets", [])}
        self.max_parallel = int(config.get("max_parallel_evaluations", 4))
        after = config.get("after_trigger") or {}
        self.after_strategy: EvalStrategy | None = (
            build_eval_strategy(after["strategy"]) if after.get("strategy") else None
        )
        self.after_datasets: list[str] = list(after.get("datasets") or self.datasets)
        matrix = config.get("matrix") or {}
        self.matrix_strategy: EvalStrategy | None = (
            build_eval_strategy(matrix["strategy"]) if matrix.get("strategy") else None
        )
        self.matrix_datasets: list[str] = list(matrix.get("datasets") or self.datasets)

    # ---- wiring ------------------------------------------------------------------------------------

    def bind(self, pipeline_id: int, log_folder: Path, system_config: dict[str, Any] | None = None) -> None:
        """Know the pipeline and where its log lies; with the system config, connect model storage and
        register the pipeline's `model_storage:` policy and `deployment:` there."""
        self.pipeline_id = pipeline_id
        self.log_folder = Path(log_folder)
        if system_config is not None and self.model_storage is None:
            section = system_config["model_storage"]
            self.model_storage = ModelStorageClient(section["hostname"], section["port"])
        if self.model_storage is None:
            return
        deployment = dict(self.deployment or {})
        if deployment:
            deployment["folder"] = str(Path(deployment["folder"]).expanduser().resolve())
        try:
            self.model_storage.set_pipeline(
                pipeline_id, self.pipeline["pipeline"]["name"], self.pipeline.get("model_storage"), deployment
            )
        except grpc.RpcError as exc:
            raise EvaluationError(f"model storage refused pipeline {pipeline_id}'s settings: {exc.details()}") from exc

    # ---- running evaluations -------------------------------------------------------------------------

    def evaluate_many(self, jobs: list[Job]) -> list[dict[str, float] | str]:
        """Run the jobs, up to `max_parallel_evaluations` at once; per job its metrics, or why there are none
        (an empty interval, say). A failed evaluation raises EvaluationError."""
        assert self.config is not None
        results: list[dict[str, float] | str] = ["not run"] * len(jobs)
        pending = deque(enumerate(jobs))
        running: dict[int, int] = {}
        while pending or running:
            while pending and len(running) < self.max_parallel:
                index, (model_id, dataset, interval) = pending.popleft()
                try:
                    evaluation_id = self.evaluator.start_evaluation(model_id, dataset, self.config["device"], interval)
                except EvaluationNotStartedError as exc:
                    results[index] = f"{exc.reason}: {exc}"
                    continue
                running[evaluation_id] = index
            for evaluation_id, index in list(running.items()):
                result = self.evaluator.result(evaluation_id)
                model_id, dataset, _ = jobs[index]
                if not result.valid:
                    raise EvaluationError(f"evaluator lost evaluation {evaluation_id}")
                if result.failed:
                    raise EvaluationError(
                        f"evaluation of model {model_id} on {dataset['dataset_id']} failed: {result.exception}"
                    )
                if not result.is_running:
                    results[index] = {r.name: round(r.value, 6) for r in result.results}
                    del running[evaluation_id]
            if running:
                time.sleep(POLL_INTERVAL_S)
        return results

    def evaluate(self, model_id: int, dataset: dict[str, Any], interval: tuple[int, int] | None) -> dict[str, float]:
        """Metric name → value for one model on one dataset (optionally a time interval)."""
        result = self.evaluate_many([(model_id, dataset, interval)])[0]
        if isinstance(result, str):
            raise EvaluationError(f"model {model_id} on {dataset['dataset_id']}: {result}")
        return result

    def _record(self, model_id: int, dataset_id: str, interval: Interval | None, metrics: dict[str, float]) -> None:
        if self.model_storage is None or not metrics:
            return
        try:
            self.model_storage.record_metrics(model_id, dataset_id, interval, metrics)
        except grpc.RpcError as exc:
            raise EvaluationError(f"cannot record the metrics of model {model_id}: {exc.details()}") from exc

    # ---- after each trigger ----------------------------------------------------------------------------

    def after_trigger(self, model_id: int, trigger_entry: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Evaluate the trigger's new model: result key → metrics.

        The key is the dataset id, or `dataset_id[start,end]` when the strategy gives several intervals.
        Why an evaluation did not happen (e.g. an empty interval) goes into the trigger entry's
        `evaluation_notes`; the promotion's outcome into its `promotion`.
        """
        self._history.append(trigger_entry)
        results: dict[str, dict[str, float]] = {}
        evaluated: dict[str, list[tuple[Interval | None, dict[str, float]]]] = {}
        if self.config:
            jobs: list[Job] = []
            keys: list[str] = []
            for dataset_id in self.after_datasets:
                intervals: list[Interval | None] = (
                    list(self.after_strategy.after_trigger(trigger_entry, self._history))
                    if self.after_strategy is not None
                    else [None]
                )
                for interval in intervals:
                    jobs.append((model_id, self.datasets[dataset_id], interval))
                    keys.append(_result_key(dataset_id, interval, len(intervals) > 1))
            for key, (_, dataset, interval), outcome in zip(keys, jobs, self.evaluate_many(jobs), strict=True):
                if isinstance(outcome, str):
                    trigger_entry.setdefault("evaluation_notes", {})[key] = outcome
                    results[key] = {}
                    continue
                results[key] = outcome
                evaluated.setdefault(dataset["dataset_id"], []).append((interval, outcome))
                self._record(model_id, dataset["dataset_id"], interval, outcome)
        if self.deployment and self.model_storage is not None:
            trigger_entry["promotion"] = self._promote(model_id, evaluated)
        return results

    def _promote(
        self, model_id: int, evaluated: dict[str, list[tuple[Interval | None, dict[str, float]]]]
    ) -> dict[str, Any]:
        assert self.deployment is not None and self.model_storage is not None
        alias = self.deployment.get("alias", "champion")
        gate = self.deployment.get("promotion_gate")
        interval: Interval | None = None
        try:
            if gate is not None:
                candidates = evaluated.get(gate["dataset_id"], [])
                if candidates:
                    chosen = candidates[0][0]
                    interval = chosen if chosen is not None else WHOLE_DATASET
                    self._evaluate_champion_on(alias, gate, chosen)
                else:
                    return {
                        "alias": alias,
                        "promoted": False,
                        "reason": f"model {model_id} has no evaluation on {gate['dataset_id']} to pass the gate with",
                    }
            response = self.model_storage.promote(model_id, alias, gate, interval)
        except grpc.RpcError as exc:
            raise EvaluationError(f"promoting model {model_id} to {alias!r} failed: {exc.details()}") from exc
        outcome: dict[str, Any] = {"alias": alias, "promoted": response.promoted, "reason": response.reason}
        if response.HasField("previous_model_id"):
            outcome["previous_model_id"] = response.previous_model_id
        if response.published_to:
            outcome["published_to"] = response.published_to
        return outcome

    def _evaluate_champion_on(self, alias: str, gate: dict[str, Any], interval: Interval | None) -> None:
        """Make sure the current holder of the alias has a value on the candidate's evaluation data."""
        assert self.model_storage is not None and self.pipeline_id is not None
        try:
            champion = self.model_storage.resolve_alias(self.pipeline_id, alias)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise
        wanted = interval if interval is not None else WHOLE_DATASET
        for metric in self.model_storage.get_model_info(champion).metrics:
            have = (metric.interval_start, metric.interval_end) if metric.has_interval else WHOLE_DATASET
            if metric.dataset_id == gate["dataset_id"] and metric.metric == gate["metric"] and have == wanted:
                return
        outcome = self.evaluate_many([(champion, self.datasets[gate["dataset_id"]], interval)])[0]
        if isinstance(outcome, dict):
            self._record(champion, gate["dataset_id"], interval, outcome)

    # ---- after the pipeline ----------------------------------------------------------------------------

    def after_pipeline(self, triggers: list[dict[str, Any]]) -> dict[str, Any]:
        """The full evaluation matrix (when `evaluation.matrix` is configured), merged into the pipeline log;
        its heatmaps are drawn next to the log."""
        if not self.config or self.matrix_strategy is None:
            return {}
        models = [
            {"model_id": t["model_id"], "trigger_index": t.get("trigger_index"), "trigger_id": t.get("trigger_id")}
            for t in triggers
            if t.get("model_id") is not None
        ]
        intervals = self.matrix_strategy.for_matrix(triggers)
        jobs: list[Job] = []
        positions: list[tuple[int, int, str]] = []
        for row, model in enumerate(models):
            for column, interval in enumerate(intervals):
                for dataset_id in self.matrix_datasets:
                    jobs.append((int(model["model_id"]), self.datasets[dataset_id], interval))
                    positions.append((row, column, dataset_id))
        cells: Cells = {}
        for position, job, outcome in zip(positions, jobs, self.evaluate_many(jobs), strict=True):
            cells[position] = outcome
            if isinstance(outcome, dict):
                self._record(job[0], position[2], job[2], outcome)
        matrix = build_matrix(models, intervals, self.matrix_datasets, cells)
        matrix["strategy"] = dict(self.config["matrix"]["strategy"])
        if self.log_folder is not None:
            matrix["heatmaps"] = draw_heatmaps(matrix, self.log_folder)
        return {"evaluation_matrix": matrix}
