"""Evaluation jobs by id: checks a request, snapshots the keys to evaluate, runs the job in a
process, and collects its progress and result."""

from __future__ import annotations

import array
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import torch

from modyn.common.clients import describe_rpc_error
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.data import DataConfigError, build_bytes_parser, build_transform
from modyn.common.job_processes import job_context
from modyn.common.user_functions import UserFunctionError, compile_user_function
from modyn.evaluator.evaluation import DEFAULT_KEYS_PER_GET, EvaluationJob, run_evaluation
from modyn.evaluator.metrics import parse_metric_configs, result_names

logger = logging.getLogger(__name__)


class InvalidEvaluationRequest(ValueError):
    """The request itself is wrong (metric config, parser source, batch size, interval, device)."""


class DatasetNotFound(LookupError):
    """The dataset is not registered at storage."""


class EvaluationNotFound(LookupError):
    """No evaluation has this id."""


class StorageUnavailable(RuntimeError):
    """Storage (or model storage) did not answer while the request was being checked."""


class EvaluationNotStarted(Exception):
    """A well-formed request that cannot be evaluated: `reason` is one of NOT_START_REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in NOT_START_REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        self.reason = reason
        super().__init__(message)


#: Why an evaluation did not start (the names of the EvaluationNotStartReason enum in evaluator.proto).
NOT_START_REASONS = ("EMPTY_DATASET", "MODEL_NOT_FOUND", "DATASET_NOT_FOUND")


@dataclass
class EvaluationRequest:
    """What a caller asks for (the fields of EvaluateModelRequest)."""

    model_id: int
    dataset_id: str
    bytes_parser_function: str
    metrics: list[str]  # JSON objects such as {"name": "Accuracy"}
    batch_size: int = 256
    label_transformer_function: str = ""
    device: str = "cpu"
    interval: tuple[int, int] | None = None
    evaluation_transformer_function: str = ""
    transformations: list[Any] | None = None


@dataclass
class EvaluationStatus:
    """A snapshot of one evaluation's state."""

    is_running: bool
    failed: bool = False
    exception: str = ""
    num_samples: int = 0
    results: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class _Job:
    process: Any
    reports: Any
    status: EvaluationStatus


class EvaluationManager:
    """Starts evaluation jobs and answers for them by id (ids start at 1; they live as long as the service)."""

    def __init__(
        self, storage: StorageClient, model_storage: ModelStorageClient, keys_per_get: int = DEFAULT_KEYS_PER_GET
    ) -> None:
        self._storage = storage
        self._model_storage = model_storage
        self._keys_per_get = keys_per_get
        self._ids = itertools.count(1)
        self._jobs: dict[int, _Job] = {}
        self._lock = threading.Lock()
        self._context = job_context(["modyn.evaluator.evaluation"])

    def start(self, request: EvaluationRequest) -> tuple[int, int]:
        """Check the request, snapshot the keys, start the job; return (evaluation id, number of samples).

        Raises InvalidEvaluationRequest for a malformed request, EvaluationNotStarted (with its reason)
        for an unknown model or dataset or no samples to evaluate, StorageUnavailable when storage or
        model storage does not answer. Starting does not wait for other evaluations: each runs in its
        own process, and only the id counter is shared.
        """
        metric_configs, names = self._check(request)
        self._check_model(request.model_id)
        try:
            keys = self._list_keys(request.dataset_id, request.interval)
        except DatasetNotFound as exc:
            raise EvaluationNotStarted("DATASET_NOT_FOUND", str(exc)) from exc
        if not keys:
            where = f"in the interval [{request.interval[0]}, {request.interval[1]}]" if request.interval else "at all"
            raise EvaluationNotStarted("EMPTY_DATASET", f"dataset '{request.dataset_id}' has no samples {where}")
        with self._lock:
            evaluation_id = next(self._ids)
        # The job is built and spawned outside the lock: a slow spawn does not hold up other requests.
        job = EvaluationJob(
            evaluation_id=evaluation_id,
            model_id=request.model_id,
            dataset_id=request.dataset_id,
            bytes_parser_function=request.bytes_parser_function,
            label_transformer_function=request.label_transformer_function,
            batch_size=request.batch_size,
            device=request.device or "cpu",
            metric_configs=metric_configs,
            result_names=names,
            keys=keys,
            storage=self._storage,
            model_storage=self._model_storage,
            keys_per_get=self._keys_per_get,
            evaluation_transformer_function=request.evaluation_transformer_function,
            transformations=list(request.transformations or []),
        )
        reports = self._context.Queue()
        process = self._context.Process(
            target=run_evaluation, args=(job, reports), name=f"evaluation-{evaluation_id}", daemon=True
        )
        process.start()
        with self._lock:
            self._jobs[evaluation_id] = _Job(process, reports, EvaluationStatus(is_running=True))
        logger.info(
            "evaluation %d: model %d on '%s' (%d samples) started",
            evaluation_id,
            request.model_id,
            request.dataset_id,
            len(keys),
        )
        return evaluation_id, len(keys)

    def status(self, evaluation_id: int) -> EvaluationStatus:
        """The current state of an evaluation; EvaluationNotFound for an unknown id."""
        with self._lock:
            job = self._jobs.get(evaluation_id)
            if job is None:
                raise EvaluationNotFound(f"evaluation {evaluation_id} does not exist")
            if job.status.is_running:
                self._collect(evaluation_id, job)
            return EvaluationStatus(**vars(job.status))

    def wait(self, evaluation_id: int, timeout_s: float) -> EvaluationStatus:
        """Wait until the evaluation is no longer running (or timeout_s passes); return its state."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(evaluation_id)
            remaining = deadline - time.monotonic()
            if not status.is_running or remaining <= 0:
                return status
            with self._lock:
                process = self._jobs[evaluation_id].process
            # Short joins: the queue must be drained meanwhile, or a child with many reports cannot exit.
            process.join(min(0.2, remaining))

    def shutdown(self) -> None:
        """Stop running evaluations and release their processes."""
        with self._lock:
            for evaluation_id, job in self._jobs.items():
                if job.status.is_running:
                    job.process.terminate()
                    job.status = EvaluationStatus(
                        is_running=False,
                        failed=True,
                        exception="the evaluator shut down before the evaluation finished",
                        num_samples=job.status.num_samples,
                    )
                    logger.info("evaluation %d: stopped by shutdown", evaluation_id)
                    self._release(job)

    # --- internals -------------------------------------------------------------------------

    def _check(self, request: EvaluationRequest) -> tuple[list[dict[str, Any]], list[str]]:
        try:
            metric_configs = parse_metric_configs(list(request.metrics))
            names = result_names(metric_configs)
        except ValueError as exc:
            raise InvalidEvaluationRequest(f"metrics: {exc}") from exc
        if request.batch_size <= 0:
            raise InvalidEvaluationRequest(f"batch_size must be > 0, got {request.batch_size}")
        if not request.bytes_parser_function.strip():
            raise InvalidEvaluationRequest("bytes_parser_function is empty")
        try:
            build_bytes_parser(request.bytes_parser_function, "bytes_parser_function")
            build_transform(request.transformations, "transformations")
        except DataConfigError as exc:
            raise InvalidEvaluationRequest(str(exc)) from exc
        for source, name in (
            (request.label_transformer_function, "label_transformer_function"),
            (request.evaluation_transformer_function, "evaluation_transformer_function"),
        ):
            try:
                compile_user_function(source, name)
            except UserFunctionError as exc:
                raise InvalidEvaluationRequest(str(exc)) from exc
        if request.interval is not None and request.interval[0] > request.interval[1]:
            raise InvalidEvaluationRequest(
                f"interval start {request.interval[0]} is after its end {request.interval[1]}"
            )
        self._check_device(request.device or "cpu")
        return metric_configs, names

    def _check_model(self, model_id: int) -> None:
        try:
            self._model_storage.get_model_info(model_id)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise EvaluationNotStarted(
                    "MODEL_NOT_FOUND", f"model {model_id} is not stored in model storage"
                ) from exc
            raise StorageUnavailable(
                f"cannot look up model {model_id}: {describe_rpc_error('model storage', exc)}"
            ) from exc

    @staticmethod
    def _check_device(device: str) -> None:
        try:
            parsed = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise InvalidEvaluationRequest(f"device {device!r} is not a valid torch device") from exc
        if parsed.type == "cpu":
            return
        if parsed.type != "cuda":
            raise InvalidEvaluationRequest(f"device {device!r}: only cpu and cuda are supported")
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = parsed.index or 0
        if index >= count:
            raise InvalidEvaluationRequest(f"device {device!r} is not available on the evaluator ({count} GPUs)")

    def _list_keys(self, dataset_id: str, interval: tuple[int, int] | None) -> array.array:
        keys = array.array("q")
        try:
            if not self._storage.dataset_available(dataset_id):
                raise DatasetNotFound(f"dataset '{dataset_id}' is not registered at storage")
            chunks = (
                self._storage.data_in_interval(dataset_id, *interval)
                if interval is not None
                else self._storage.new_data_since(dataset_id, -1)
            )
            for chunk_keys, _timestamps, _labels in chunks:
                keys.extend(chunk_keys)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise DatasetNotFound(f"dataset '{dataset_id}': {exc.details()}") from exc
            raise StorageUnavailable(
                f"cannot list the keys of dataset '{dataset_id}': {describe_rpc_error('storage', exc)}"
            ) from exc
        return keys

    def _collect(self, evaluation_id: int, job: _Job) -> None:
        """Apply the job's reports to its status; notice a process that died without reporting."""
        alive = job.process.is_alive()
        self._drain(job)
        if job.status.is_running and not alive:
            # The process is gone: whatever it put on the queue is in the pipe by now.
            try:
                self._apply(job, job.reports.get(timeout=1.0))
                self._drain(job)
            except queue.Empty:
                pass
            if job.status.is_running:
                job.status.is_running = False
                job.status.failed = True
                job.status.exception = (
                    f"evaluation {evaluation_id}: its process ended with exit code {job.process.exitcode} "
                    "without a result"
                )
        if not job.status.is_running:
            logger.info(
                "evaluation %d: %s", evaluation_id, job.status.exception if job.status.failed else job.status.results
            )
            # The result is in; the process's teardown (a while, for a torch process) is waited for aside.
            threading.Thread(
                target=self._release, args=(job,), name=f"evaluation-{evaluation_id}-reap", daemon=True
            ).start()

    def _drain(self, job: _Job) -> None:
        while job.status.is_running:
            try:
                report = job.reports.get_nowait()
            except queue.Empty:
                return
            self._apply(job, report)

    @staticmethod
    def _apply(job: _Job, report: tuple[Any, ...]) -> None:
        kind = report[0]
        if kind == "progress":
            job.status.num_samples = int(report[1])
        elif kind == "done":
            job.status.is_running = False
            job.status.num_samples = int(report[1])
            job.status.results = [(str(name), float(value)) for name, value in report[2]]
        elif kind == "failed":
            job.status.is_running = False
            job.status.failed = True
            job.status.exception = str(report[1])

    @staticmethod
    def _release(job: _Job) -> None:
        job.process.join(5.0)
        if job.process.is_alive():
            job.process.kill()
            job.process.join(5.0)
        job.reports.close()
        job.reports.join_thread()
