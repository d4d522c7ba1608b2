"""The trainer server's logic: start training jobs as processes (forked from a fork server that has
torch loaded), report on them, upload their final models. No gRPC here; the servicer is a thin
adapter over this class."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.job_processes import job_context
from modyn.config import ConfigError, validate_pipeline_config
from modyn.trainer_server.trainer import ProgressBoard, TrainingJobSpec, run_training_process

logger = logging.getLogger(__name__)

# After a job's process has exited, how long to wait for its outcome message still in the pipe.
_OUTCOME_GRACE_S = 2.0
_TERMINATE_GRACE_S = 5.0
_COUNTER_FILE = "next_training_id"


class UnknownTrainingError(LookupError):
    """No job has this training id."""


class TrainingNotDoneError(RuntimeError):
    """The job has not finished successfully, so there is no final model (the message says why)."""


class InvalidTrainingRequestError(ValueError):
    """The StartTraining request cannot be run (the message names the problem)."""


@dataclass
class TrainingStatus:
    """A snapshot of one job, as GetTrainingStatus reports it."""

    training_id: int
    is_running: bool
    is_done: bool
    failed: bool
    exception: str
    samples_seen: int
    total_samples: int
    current_loss: float
    epoch: int
    loss_first: float
    loss_last: float
    duration_s: float
    samples_trained: int = 0
    time_setup_s: float = 0.0
    time_wait_data_s: float = 0.0
    time_train_s: float = 0.0
    time_downsample_s: float = 0.0
    time_finish_s: float = 0.0
    loss_curve: list[float] = field(default_factory=list)
    record_loss_every: int = 0


@dataclass
class _Job:
    spec: TrainingJobSpec
    process: Any
    progress: ProgressBoard
    outcome_queue: Any
    outcome: str | None = None  # "done" | "failed" once known
    error: str = ""
    model_id: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TrainingManager:
    """Runs one process per training job and keeps each job's state by training id.

    Jobs live in memory; the id counter is kept in the scratch directory so that ids are not
    reused after a restart (a stale id then answers 'unknown' instead of another job's state).
    """

    def __init__(self, system_config: dict[str, Any]) -> None:
        def address(section: str) -> tuple[str, int]:
            return (system_config[section]["hostname"], int(system_config[section]["port"]))

        self.storage = address("storage")
        self.selector = address("selector")
        self.model_storage = address("model_storage")
        self.metadata_processor = address("metadata_processor")
        self.scratch_directory = Path(system_config["trainer_server"]["scratch_directory"])
        self.scratch_directory.mkdir(parents=True, exist_ok=True)
        self._context = job_context(["modyn.trainer_server.trainer"])
        self._jobs: dict[int, _Job] = {}
        self._lock = threading.Lock()
        self._next_id = self._read_counter()

    # --- ids --------------------------------------------------------------------------------

    def _read_counter(self) -> int:
        try:
            return max(1, int((self.scratch_directory / _COUNTER_FILE).read_text().strip()))
        except (FileNotFoundError, ValueError):
            return 1

    def _allocate_id(self) -> int:
        training_id = self._next_id
        self._next_id += 1
        counter = self.scratch_directory / _COUNTER_FILE
        partial = counter.with_name(_COUNTER_FILE + ".partial")
        partial.write_text(str(self._next_id))
        os.replace(partial, counter)
        return training_id

    # --- starting ---------------------------------------------------------------------------

    def start_training(
        self, pipeline_id: int, trigger_id: int, pipeline_config: Any, previous_model_id: int = -1
    ) -> int:
        """Start a job; return its training id. A repeated request for a job that is running or
        done returns that job's id instead of training twice (safe to retry)."""
        try:
            config = validate_pipeline_config(pipeline_config)
        except ConfigError as exc:
            raise InvalidTrainingRequestError(str(exc)) from exc
        previous_model_id = -1 if previous_model_id < 0 else previous_model_id
        fingerprint = json.dumps(config, sort_keys=True)
        with self._lock:
            for training_id, job in self._jobs.items():
                same = (
                    job.spec.pipeline_id == pipeline_id
                    and job.spec.trigger_id == trigger_id
                    and job.spec.previous_model_id == previous_model_id
                    and json.dumps(job.spec.pipeline_config, sort_keys=True) == fingerprint
                )
                if not same:
                    continue
                with job.lock:
                    outcome = self._refresh(job)
                if outcome != "failed":
                    logger.info(
                        "training for pipeline %d trigger %d already exists: %d", pipeline_id, trigger_id, training_id
                    )
                    return training_id
            training_id = self._allocate_id()
            spec = TrainingJobSpec(
                training_id=training_id,
                pipeline_id=pipeline_id,
                trigger_id=trigger_id,
                pipeline_config=config,
                previous_model_id=previous_model_id,
                scratch_directory=str(self.scratch_directory),
                storage=self.storage,
                selector=self.selector,
                model_storage=self.model_storage,
                metadata_processor=self.metadata_processor,
            )
            array = ProgressBoard.new_shared_array(self._context)
            outcome_queue = self._context.Queue()
            process = self._context.Process(
                target=run_training_process,
                args=(spec, array, outcome_queue),
                name=f"modyn-training-{training_id}",
                daemon=False,  # a daemon process may not start DataLoader workers
            )
            job = _Job(spec=spec, process=process, progress=ProgressBoard(array), outcome_queue=outcome_queue)
            process.start()
            self._jobs[training_id] = job
        logger.info(
            "started training %d (pipeline %d, trigger %d, previous model %d), pid %s",
            training_id,
            pipeline_id,
            trigger_id,
            previous_model_id,
            process.pid,
        )
        return training_id

    # --- status -----------------------------------------------------------------------------

    def _job(self, training_id: int) -> _Job:
        with self._lock:
            job = self._jobs.get(training_id)
        if job is None:
            raise UnknownTrainingError(f"training {training_id} is unknown to this trainer server")
        return job

    @staticmethod
    def _refresh(job: _Job) -> str | None:
        """Collect the job's outcome if it has one: 'done', 'failed' or None (still running)."""
        if job.outcome is not None:
            return job.outcome
        message = None
        try:
            message = job.outcome_queue.get_nowait()
        except queue.Empty:
            if not job.process.is_alive():
                # It exited; its message may still be in the pipe for a moment.
                try:
                    message = job.outcome_queue.get(timeout=_OUTCOME_GRACE_S)
                except queue.Empty:
                    job.process.join(timeout=_OUTCOME_GRACE_S)
                    job.outcome = "failed"
                    job.error = f"training process exited with code {job.process.exitcode} before reporting a result"
        if message is not None:
            kind, detail, extras = message
            job.outcome = kind
            job.extras = extras if isinstance(extras, dict) else {}
            if kind == "failed":
                job.error = detail
        if job.outcome is not None:
            # Not waiting for the process to exit: its outcome (and model file) is complete, and tearing down
            # a torch process takes a while; the fork server reaps it.
            if job.outcome == "failed":
                # A job can fail after saving (e.g. metadata not delivered): nobody will upload that file.
                job.spec.model_path.unlink(missing_ok=True)
                job.spec.selection_path.unlink(missing_ok=True)
        return job.outcome

    def status(self, training_id: int) -> TrainingStatus:
        job = self._job(training_id)
        with job.lock:
            outcome = self._refresh(job)
        p = job.progress.get()

        def whole(value: float) -> int:
            return 0 if value != value else int(value)  # NaN -> 0

        return TrainingStatus(
            training_id=training_id,
            is_running=outcome is None,
            is_done=outcome == "done",
            failed=outcome == "failed",
            exception=job.error,
            samples_seen=whole(p["samples_seen"]),
            total_samples=whole(p["total_samples"]),
            current_loss=p["current_loss"],
            epoch=whole(p["epoch"]),
            loss_first=p["loss_first"],
            loss_last=p["loss_last"],
            duration_s=p["duration_s"],
            samples_trained=whole(p["samples_trained"]),
            time_setup_s=p["time_setup_s"],
            time_wait_data_s=p["time_wait_data_s"],
            time_train_s=p["time_train_s"],
            time_downsample_s=p["time_downsample_s"],
            time_finish_s=p["time_finish_s"],
            loss_curve=list(job.extras.get("loss_curve", [])),
            record_loss_every=int(job.extras.get("record_loss_every", 0)),
        )

    def stop_training(self, training_id: int) -> bool:
        """End a running job: SIGTERM, then SIGKILL after a grace period (its DataLoader workers see their
        parent go and exit). True when it was running; afterwards it reports failed, "stopped on request"."""
        job = self._job(training_id)
        with job.lock:
            if self._refresh(job) is not None:
                return False
            job.process.terminate()
            self._reap_terminated(job, f"training {training_id} was stopped on request")
        logger.info("training %d stopped on request", training_id)
        return True

    # --- final model --------------------------------------------------------------------------

    def store_final_model(self, training_id: int) -> int:
        """Upload the finished job's model to model storage; return its model id (the same id on
        every later call). Raises TrainingNotDoneError while the job runs or when it failed."""
        job = self._job(training_id)
        with job.lock:
            if job.model_id is not None:
                return job.model_id
            outcome = self._refresh(job)
            if outcome is None:
                raise TrainingNotDoneError(f"training {training_id} is still running")
            if outcome == "failed":
                raise TrainingNotDoneError(f"training {training_id} failed: {job.error}")
            path = job.spec.model_path
            if not path.exists():
                raise TrainingNotDoneError(f"training {training_id}: its model file {path} is gone")
            spec = job.spec
            model = spec.pipeline_config["model"]
            selector = SelectorClient(*spec.selector)
            client = ModelStorageClient(*self.model_storage)
            try:
                # lineage: the model this training started from, and the size of its training set
                training_set_size = selector.number_of_samples(spec.pipeline_id, spec.trigger_id)
                job.model_id = client.store_model_file(
                    path,
                    spec.pipeline_id,
                    spec.trigger_id,
                    model["id"],
                    model.get("config", {}),
                    parent_model_id=spec.previous_model_id if spec.previous_model_id >= 0 else None,
                    training_set_size=training_set_size,
                )
            finally:
                client.close()
                selector.close()
            path.unlink(missing_ok=True)
            logger.info("training %d: stored final model as model %d", training_id, job.model_id)
            return job.model_id

    # --- shutdown -----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Terminate jobs still running (their DataLoader workers notice and exit too)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.process.is_alive():
                logger.info("terminating training %d", job.spec.training_id)
                job.process.terminate()
        for job in jobs:
            self._reap_terminated(job, "the trainer server shut down during training")

    @staticmethod
    def _reap_terminated(job: _Job, error: str) -> None:
        """Wait for a terminated job's process (SIGKILL after a grace period); a job without an outcome yet
        then failed with `error`, and its output files go."""
        job.process.join(timeout=_TERMINATE_GRACE_S)
        if job.process.is_alive():
            job.process.kill()
            job.process.join(timeout=_TERMINATE_GRACE_S)
        if job.outcome is None:
            job.outcome = "failed"
            job.error = error
            job.spec.model_path.unlink(missing_ok=True)
            job.spec.selection_path.unlink(missing_ok=True)
