"""The supervisor's logic: validate the cluster, register the pipeline, feed new samples to the
trigger policy and the selector, and for each trigger train, store and evaluate a model."""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import grpc

from modyn.common.clients import describe_rpc_error
from modyn.common.clients.evaluator_client import EvaluatorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.clients.trainer_server_client import TrainerServerClient
from modyn.common.database import Database
from modyn.common.grpc_utils import check_health
from modyn.supervisor.evaluation.evaluation_runner import EvaluationError, EvaluationRunner
from modyn.supervisor.models import SupervisorBase, SupervisorPipeline, SupervisorTrigger
from modyn.supervisor.pipeline_log import PipelineLog
from modyn.supervisor.progress import Progress
from modyn.supervisor.report import write_report
from modyn.supervisor.time_breakdown import TimeBreakdown
from modyn.supervisor.triggers import build_trigger
from modyn.supervisor.triggers.abstract_trigger import drive
from modyn.supervisor.triggers.context import TrainingOutcome, TriggerContext

logger = logging.getLogger(__name__)

SERVICES = ["storage", "selector", "trainer_server", "metadata_processor", "model_storage", "evaluator"]
# Status polls are cheap; a short interval keeps the gap between a job's end and the next step small.
POLL_INTERVAL_S = 0.05
MAX_TIMESTAMP = 2**62
INITIAL_MODES = ("ignore", "train_on_everything", "replay")
STOP_POLICIES = ("finish", "abandon")
# Optional fields of the trainer's status (its time breakdown), copied into the log when present.
TRAINING_TIME_FIELDS = ("time_setup_s", "time_wait_data_s", "time_train_s", "time_downsample_s", "time_finish_s")

KeyChunk = tuple[list[int], list[int], list[int]]


class SupervisorError(Exception):
    """A failure to report to the user as one clear line (exit code 1)."""


class PipelineFinished(SupervisorError):
    """`--resume` of a pipeline that already ran to the end of its data: nothing to do (exit 0)."""


class TriggerAbandoned(Exception):
    """The run was asked to stop and not to wait for the running trigger's training."""


@contextmanager
def calling(service: str) -> Iterator[None]:
    try:
        yield
    except grpc.RpcError as exc:
        raise SupervisorError(describe_rpc_error(service, exc)) from exc
    except EvaluationError as exc:
        raise SupervisorError(str(exc)) from exc


def config_fingerprint(pipeline_config: dict[str, Any]) -> str:
    """sha256 of the pipeline config as canonical JSON: what a resume is checked against."""
    return hashlib.sha256(json.dumps(pipeline_config, sort_keys=True).encode()).hexdigest()


def _status_field(status: Any, name: str) -> Any:
    fields = getattr(getattr(status, "DESCRIPTOR", None), "fields_by_name", {})
    return getattr(status, name) if name in fields else None


class Supervisor:
    """Runs one pipeline. `progress`: auto | bar | json | none (see modyn.supervisor.progress);
    `stop_policy`: on SIGINT/SIGTERM, `finish` the running trigger (a second signal abandons it) or
    `abandon` it at once."""

    def __init__(
        self,
        pipeline_config: dict[str, Any],
        system_config: dict[str, Any],
        log_dir: Path,
        out: TextIO = sys.stdout,
        progress: str = "auto",
        stop_policy: str = "finish",
    ) -> None:
        if stop_policy not in STOP_POLICIES:
            raise ValueError(f"stop policy must be one of {', '.join(STOP_POLICIES)}")
        self.pipeline = pipeline_config
        self.system = system_config
        self.log_dir = log_dir
        self.out = out
        self.progress = Progress(progress, out)
        self.stop_policy = stop_policy
        self.initial_mode = str(pipeline_config.get("initial_mode", "ignore"))
        self.storage = StorageClient(system_config["storage"]["hostname"], system_config["storage"]["port"])
        self.selector = SelectorClient(system_config["selector"]["hostname"], system_config["selector"]["port"])
        self.trainer = TrainerServerClient(
            system_config["trainer_server"]["hostname"], system_config["trainer_server"]["port"]
        )
        self.model_storage = ModelStorageClient(
            system_config["model_storage"]["hostname"], system_config["model_storage"]["port"]
        )
        self.evaluator = EvaluatorClient(system_config["evaluator"]["hostname"], system_config["evaluator"]["port"])
        self.evaluation = EvaluationRunner(self.evaluator, pipeline_config)
        self.trigger = build_trigger(pipeline_config["trigger"])
        self.context: TriggerContext | None = None
        self.stop_requested = threading.Event()
        self.signals_received = 0
        self.stop_reason: str | None = None
        self.pipeline_id: int | None = None
        self.log: PipelineLog | None = None
        self.report_path: Path | None = None
        self.previous_model_id: int | None = None
        self.num_triggers = 0
        self._seen = 0
        self.times = TimeBreakdown()  # restarted by setup()
        self._pending_first_ts: int | None = None
        self._pending_last_ts: int | None = None
        self._db: Database | None = None
        # --resume: the triggers recorded by the earlier run(s), oldest first, as (stage, log entry). While
        # any is left, the trigger policy's fires are matched to them instead of closing new triggers at
        # the selector, and the samples they cover are not informed again.
        self._recorded: deque[tuple[str, dict[str, Any]]] = deque()
        self._resume_mismatches = 0
        self._resume_key_cursor: int | None = None
        self._inform_while_resuming = False
        self._initial_cursor: int | None = None

    # ---- checks before anything runs ----

    def check_cluster(self) -> None:
        down = [
            f"{name} at {self.system[name]['hostname']}:{self.system[name]['port']}"
            for name in SERVICES
            if not check_health(self.system[name]["hostname"], self.system[name]["port"], timeout_s=5.0)
        ]
        if down:
            raise SupervisorError(
                "these services do not answer their health check: " + "; ".join(down) + " (is modyn-cluster running?)"
            )

    def check_datasets(self) -> None:
        wanted = [("data.dataset_id", self.pipeline["data"]["dataset_id"])]
        for i, ds in enumerate((self.pipeline.get("evaluation") or {}).get("datasets", [])):
            wanted.append((f"evaluation.datasets[{i}].dataset_id", ds["dataset_id"]))
        with calling("storage"):
            missing = [f"{path}: dataset {name!r}" for path, name in wanted if not self.storage.dataset_available(name)]
        if missing:
            raise SupervisorError("unknown dataset(s) in storage: " + "; ".join(missing))

    # ---- the run ----

    def setup(self, mode: str, resume: int | None = None, start: int | None = None, stop: int | None = None) -> None:
        self.times = TimeBreakdown()
        self.check_cluster()
        self.check_datasets()
        self._db = Database(self.system["metadata_database"])
        self._db.create_tables(SupervisorBase.metadata)
        name = self.pipeline["pipeline"]["name"]
        if resume is not None:
            at_trigger = self._load_resume(resume, mode, start, stop)
            self.pipeline_id = resume
            self.log = PipelineLog.resume(self.log_dir, resume, name, mode, at_trigger)
        else:
            with calling("selector"):
                self.pipeline_id = self.selector.register_pipeline(self.pipeline)
            with self._db.session() as session:
                session.add(
                    SupervisorPipeline(
                        pipeline_id=self.pipeline_id,
                        config_fingerprint=config_fingerprint(self.pipeline),
                        mode=mode,
                        start_replay_at=start,
                        stop_replay_at=stop,
                        status="running",
                    )
                )
            self.log = PipelineLog(self.log_dir, self.pipeline_id, name, mode)
        self.evaluation.bind(self.pipeline_id, self.log.path.parent, self.system)  # issue 7: registry, matrix
        self.log.data["initial_mode"] = self.initial_mode
        self.log.data["trigger"] = self.pipeline["trigger"]
        self.report_path = self.log.path.with_name("report.png")
        if self.trigger.uses_model:
            from modyn.supervisor.triggers.inference import ServiceTriggerContext

            self.context = ServiceTriggerContext(
                self.storage, self.model_storage, self.pipeline, device=self.pipeline["training"]["device"]
            )
            self.trigger.bind(self.context)
        self.progress.event(
            "pipeline_started",
            pipeline_id=self.pipeline_id,
            mode=mode,
            log=str(self.log.path),
            resumed=resume is not None,
        )

    def _load_resume(self, pipeline_id: int, mode: str, start: int | None, stop: int | None) -> int:
        """Check that pipeline `pipeline_id` can be resumed with this config and these options, and load its
        recorded triggers. Changes nothing. Returns the index of the first trigger that is not complete."""
        assert self._db is not None
        what = f"--resume {pipeline_id}"
        try:
            self.selector.selection_strategy(pipeline_id)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                raise SupervisorError(f"{what}: the selector has no pipeline {pipeline_id}") from exc
            raise SupervisorError(describe_rpc_error("selector", exc)) from exc
        with self._db.session() as session:
            record = session.get(SupervisorPipeline, pipeline_id)
            rows = (
                session.query(SupervisorTrigger)
                .filter_by(pipeline_id=pipeline_id)
                .order_by(SupervisorTrigger.trigger_id)
                .all()
            )
            if record is None:
                raise SupervisorError(
                    f"{what}: pipeline {pipeline_id} has no supervisor record in the metadata DB "
                    "(it was not started by a modyn-supervisor that records resume state)"
                )
            if record.config_fingerprint != config_fingerprint(self.pipeline):
                raise SupervisorError(
                    f"{what}: the pipeline config differs from the one pipeline {pipeline_id} was started with; "
                    "resume it with the same pipeline YAML"
                )
            if record.mode != mode or (
                mode == "experiment" and (record.start_replay_at, record.stop_replay_at) != (start, stop)
            ):
                started = (
                    f"--start-replay-at {record.start_replay_at}"
                    + ("" if record.stop_replay_at is None else f" --stop-replay-at {record.stop_replay_at}")
                    if record.mode == "experiment"
                    else "no --start-replay-at"
                )
                raise SupervisorError(
                    f"{what}: pipeline {pipeline_id} ran in {record.mode} mode ({started}); "
                    "resume it with the same options"
                )
            if record.status == "done" and record.stop_reason == "end of data":
                raise PipelineFinished(
                    f"pipeline {pipeline_id} already finished (end of data, {len(rows)} trigger(s)); nothing to resume"
                )
            self._initial_cursor = record.initial_cursor
            self._resume_key_cursor = record.key_cursor
            recorded = [(row.stage, json.loads(row.log_entry)) for row in rows]
        ids = [entry["trigger_id"] for _, entry in recorded]
        if ids != list(range(len(ids))):
            raise SupervisorError(f"{what}: the recorded triggers of pipeline {pipeline_id} are not 0..n-1: {ids}")
        if ids:
            with calling("selector"):
                self.selector.number_of_samples(pipeline_id, ids[-1])  # NOT_FOUND: selector and DB disagree
        self._recorded = deque(recorded)
        done = [stage == "evaluated" or (stage == "selected" and e["num_samples"] == 0) for stage, e in recorded]
        return done.index(False) if False in done else len(done)

    def run_experiment(
        self, start: int, stop: int | None, maximum_triggers: int | None, resume: int | None = None
    ) -> PipelineLog:
        """Replay the samples with start <= timestamp <= stop in (timestamp, key) order, then stop.

        `resume`: continue pipeline `resume` (see docs/supervisor.md, Resuming): the same replay runs
        again, with the trigger policy's fires matched to the recorded triggers (not informed again; a
        trigger that did not finish is trained, stored and evaluated now) until none is left."""
        self.setup("experiment", resume, start, stop)
        assert self.log is not None
        with self._run_guard():
            dataset_id = self.pipeline["data"]["dataset_id"]
            with calling("storage"), self.times.phase("reading data from storage"):
                self.storage.update_dataset(dataset_id)
            stopped = self._initial_pass(start - 1, maximum_triggers) if start > 0 else False
            if not stopped:
                with calling("storage"), self.times.phase("reading data from storage"):
                    end = MAX_TIMESTAMP if stop is None else stop
                    chunks = list(self.storage.data_in_interval(dataset_id, start, end))
                if not self._replay(chunks, "replay", maximum_triggers):
                    self._drain_recorded(maximum_triggers)
            if self.stop_reason != "signal":
                with calling("evaluator"), self.times.phase("evaluation matrix"):
                    self.log.data.update(self.evaluation.after_pipeline(self.log.triggers))
            self.log.data["stop_reason"] = self.stop_reason or "end of data"
        return self.log

    def run_production(
        self, poll_interval_s: float, maximum_triggers: int | None, resume: int | None = None
    ) -> PipelineLog:
        """Follow the dataset's new samples until stopped (SIGINT/SIGTERM) or maximum_triggers.

        `resume`: continue pipeline `resume` from its initial key cursor: the data it saw is read again,
        the policy's fires matched to the recorded triggers (see run_experiment)."""
        self.setup("production", resume)
        assert self.log is not None
        dataset_id = self.pipeline["data"]["dataset_id"]
        with self._run_guard():
            if resume is not None and self._initial_cursor is not None:
                cursor = self._initial_cursor
            else:
                with calling("storage"):
                    cursor = self.storage.last_key(dataset_id)
                self._update_record(initial_cursor=cursor, key_cursor=cursor)
            # Samples stored at the start (key <= cursor) are "existing data" for the initial pass; every
            # later key is new. Keys grow in commit order, so following the key cursor never skips a sample
            # that arrives late with a timestamp equal to (or older than) one already handled.
            if self._initial_pass(MAX_TIMESTAMP, maximum_triggers, max_key=cursor):
                self.stop_requested.set()
            # Resumed: the polled data is read again in chunks that need not match the earlier polls, so the
            # (timestamp, key) order, and with it which samples fall before a recorded trigger's fire, may
            # differ. Every sample is informed again: a key the selector has keeps its first record (a closed
            # trigger's key stays there), and a key no closed trigger has lands in the open trigger.
            self._inform_while_resuming = True
            while not self.stop_requested.is_set():
                with calling("storage"):
                    for keys, timestamps, labels in self.storage.new_data_after_key(dataset_id, cursor):
                        if not keys:
                            continue
                        cursor = keys[-1]  # chunks come in key order
                        order = sorted(range(len(keys)), key=lambda i: (timestamps[i], keys[i]))
                        keys = [keys[i] for i in order]
                        timestamps = [timestamps[i] for i in order]
                        labels = [labels[i] for i in order] if labels else []
                        self.progress.event("new_data", samples=len(keys), newest_timestamp=timestamps[-1])
                        if self._feed(keys, timestamps, labels, maximum_triggers):
                            self.stop_requested.set()
                            break
                        if self._resume_key_cursor is None or cursor > self._resume_key_cursor:
                            self._update_record(key_cursor=cursor)
                if self._recorded and (self._resume_key_cursor is None or cursor >= self._resume_key_cursor):
                    # the data the earlier run saw is fed again, and the policy did not fire for every recorded trigger
                    if self._drain_recorded(maximum_triggers):
                        self.stop_requested.set()
                with self.times.phase("waiting for new data"):
                    self.stop_requested.wait(poll_interval_s)
            self.log.data["stop_reason"] = self.stop_reason or "signal"
        return self.log

    @contextmanager
    def _run_guard(self) -> Iterator[None]:
        """Around a run: the log ends `done`, or `failed` with the error (re-raised); then it is closed."""
        assert self.log is not None
        try:
            yield
            self.log.finish("done")
        except BaseException as exc:
            self.log.finish("failed", error=_error_text(exc))
            raise
        finally:
            if self._resume_mismatches:
                self.log.data["resumed"][-1]["policy_mismatches"] = self._resume_mismatches
            self._close()
            status = self.log.data["status"]
            self._update_record(status=status, stop_reason=self.log.data.get("stop_reason"))

    def _close(self) -> None:
        """Write the final log and the report (a report that cannot be drawn is noted, not fatal)."""
        assert self.log is not None
        self.log.set_samples_seen(self._seen)
        self._write_report()
        self.log.write()
        self.progress.event(
            "pipeline_done",
            status=self.log.data["status"],
            triggers=len(self.log.triggers),
            samples_seen=self._seen,
            log=str(self.log.path),
            report=str(self.report_path),
        )

    def _update_record(self, **values: Any) -> None:
        """Update this pipeline's supervisor_pipelines row (best effort at the end of a failed run)."""
        if self._db is None or self.pipeline_id is None:
            return
        with self._db.session() as session:
            record = session.get(SupervisorPipeline, self.pipeline_id)
            if record is not None:
                for name, value in values.items():
                    setattr(record, name, value)

    def _write_report(self) -> None:
        assert self.log is not None and self.report_path is not None
        self.log.data["time_breakdown"] = self.times.summary()
        try:
            write_report(self.log.data, self.report_path)
            self.log.data["report"] = str(self.report_path)
        except Exception as exc:  # noqa: BLE001 - the report is a by-product; the log says why it is missing
            logger.warning("cannot draw the report: %s", exc, exc_info=True)
            self.log.data["report_error"] = f"{type(exc).__name__}: {exc}"

    # ---- feeding samples ----

    def _initial_pass(self, existing_until: int, maximum_triggers: int | None, max_key: int | None = None) -> bool:
        """Handle the data that exists before the start (timestamp <= existing_until, and key <= max_key when
        given) as `initial_mode` says.

        True when the run should stop (maximum_triggers or a signal)."""
        if self.initial_mode == "ignore" or existing_until < 0:
            return False
        dataset_id = self.pipeline["data"]["dataset_id"]
        with calling("storage"), self.times.phase("reading data from storage"):
            chunks = list(self.storage.data_in_interval(dataset_id, 0, existing_until))
        if max_key is not None:
            chunks = [_keep(chunk, [k <= max_key for k in chunk[0]]) for chunk in chunks]
        total = sum(len(c[0]) for c in chunks)
        self.progress.event("initial_pass", mode=self.initial_mode, samples=total)
        if self.initial_mode == "replay":
            return self._replay(chunks, "initial replay", maximum_triggers)
        if total == 0:
            return False
        assert self.pipeline_id is not None
        if self._recorded:  # resumed: the initial trigger was closed at the selector by the earlier run
            self._seen += total
            self._apply_recorded(self._seen)
            return self._should_stop(maximum_triggers)
        # train_on_everything: every existing sample goes to the selector; one trigger trains on all of them
        chunks = [c for c in chunks if c[0]]
        with calling("selector"), self.times.phase("selection"):
            for keys, timestamps, labels in chunks[:-1]:
                self.selector.inform_data(self.pipeline_id, keys, timestamps, labels)
                self._track_range(timestamps)
            keys, timestamps, labels = chunks[-1]
            self._track_range(timestamps)
            trigger_id, num_samples, num_partitions = self.selector.inform_data_and_trigger(
                self.pipeline_id, keys, timestamps, labels
            )
        self._seen += total
        self._run_trigger(
            trigger_id, num_samples, num_partitions, {"reason": "initial pass: train on everything"}, initial=True
        )
        return self._should_stop(maximum_triggers)

    def _replay(self, chunks: Iterable[KeyChunk], description: str, maximum_triggers: int | None) -> bool:
        chunks = list(chunks)
        total = sum(len(c[0]) for c in chunks)
        self.progress.event("replay_started", what=description, samples=total)
        with self.progress.bar(description, total) as bar:
            for keys, timestamps, labels in chunks:
                if self._feed(keys, timestamps, labels, maximum_triggers):
                    return True
                bar.add(len(keys))
                if self.stop_requested.is_set():
                    self.stop_reason = "signal"
                    return True
        return False

    def _should_stop(self, maximum_triggers: int | None) -> bool:
        if self.stop_requested.is_set():
            self.stop_reason = self.stop_reason or "signal"
            return True
        if maximum_triggers is not None and self.num_triggers >= maximum_triggers:
            self.stop_reason = "maximum triggers"
            return True
        return False

    def _feed(self, keys: list[int], timestamps: list[int], labels: list[int], maximum_triggers: int | None) -> bool:
        """Feed one chunk of new samples to the trigger and the selector. True when the run should stop."""
        pipeline_id = self.pipeline_id
        assert pipeline_id is not None
        labels = labels or []
        informed = 0  # samples of the chunk already handed to the selector

        def on_fire(end: int, info: dict[str, Any]) -> bool:
            nonlocal informed
            if self._recorded:  # resumed: this fire is the next recorded trigger (its samples are informed)
                if self._inform_while_resuming:
                    with calling("selector"), self.times.phase("selection"):
                        self.selector.inform_data(
                            pipeline_id, keys[informed:end], timestamps[informed:end], labels[informed:end]
                        )
                self._seen += end - informed
                informed = end
                self._apply_recorded(self._seen)
                return self._should_stop(maximum_triggers)
            self._track_range(timestamps[informed:end])
            with calling("selector"), self.times.phase("selection"):
                trigger_id, num_samples, num_partitions = self.selector.inform_data_and_trigger(
                    pipeline_id, keys[informed:end], timestamps[informed:end], labels[informed:end]
                )
            self._seen += end - informed
            informed = end
            self._run_trigger(trigger_id, num_samples, num_partitions, info)
            return self._should_stop(maximum_triggers)

        if drive(self.trigger, keys, timestamps, labels or None, on_fire):
            return True
        if informed < len(keys) and self._recorded and not self._inform_while_resuming:
            self._seen += len(keys) - informed  # samples of a recorded trigger: the selector has them
        elif informed < len(keys):
            # (after a resume this may inform keys the earlier run informed: the selector keeps a key's
            # first record, so that changes nothing)
            self._track_range(timestamps[informed:])
            with calling("selector"), self.times.phase("selection"):
                self.selector.inform_data(pipeline_id, keys[informed:], timestamps[informed:], labels[informed:])
            self._seen += len(keys) - informed
        return False

    def _track_range(self, timestamps: list[int]) -> None:
        if not timestamps:
            return
        if self._pending_first_ts is None:
            self._pending_first_ts = timestamps[0]
        self._pending_last_ts = timestamps[-1]

    # ---- one trigger ----

    def _record(self, trigger_id: int, stage: str, entry: dict[str, Any]) -> None:
        assert self._db is not None and self.pipeline_id is not None
        with self._db.session() as session:
            session.merge(
                SupervisorTrigger(
                    pipeline_id=self.pipeline_id,
                    trigger_id=trigger_id,
                    stage=stage,
                    num_samples=entry["num_samples"],
                    first_timestamp=entry["first_timestamp"],
                    last_timestamp=entry["last_timestamp"],
                    model_id=entry["model_id"],
                    log_entry=json.dumps(entry),
                )
            )

    def _run_trigger(
        self, trigger_id: int, num_samples: int, num_partitions: int, info: dict[str, Any], initial: bool = False
    ) -> None:
        assert self.log is not None and self.pipeline_id is not None
        entry: dict[str, Any] = {
            "trigger_index": self.num_triggers,
            "trigger_id": trigger_id,
            "num_samples": num_samples,
            "num_partitions": num_partitions,
            "first_timestamp": self._pending_first_ts,
            "last_timestamp": self._pending_last_ts,
            "model_id": None,
            "training": None,
            "evaluation": {},
            "trigger_info": info,
        }
        if initial:
            entry["initial"] = True
        entry["stream_position"] = self._seen  # samples fed up to this trigger's last one (checked on resume)
        self._pending_first_ts = self._pending_last_ts = None
        self._record(trigger_id, "selected", entry)
        self._complete_trigger(entry, "selected")

    def _apply_recorded(self, position: int) -> None:
        """Resume: the policy fired where the earlier run closed the next recorded trigger (at `position` in
        the stream). A complete trigger is restored (model chain, the policy hears of its model); one whose
        training did not finish is trained now, one not evaluated is evaluated."""
        stage, entry = self._recorded.popleft()
        self._pending_first_ts = self._pending_last_ts = None
        recorded_position = entry.get("stream_position")
        if recorded_position is not None and recorded_position != position:
            self._resume_mismatches += 1
            logger.warning(
                "resume: the trigger policy fired at sample %d, trigger %d was closed at sample %d; keeping the "
                "recorded trigger",
                position,
                entry["trigger_id"],
                recorded_position,
            )
        entry["trigger_index"] = self.num_triggers
        if stage == "evaluated" or (stage == "selected" and entry["num_samples"] == 0):
            self.previous_model_id = entry["model_id"] if entry["model_id"] is not None else self.previous_model_id
            if entry["model_id"] is not None:
                if self.context is not None:
                    self.context.latest_model_id = entry["model_id"]
                duration = (entry["training"] or {}).get("duration_s", 0.0)
                self.trigger.inform_new_model(TrainingOutcome(entry["model_id"], entry["num_samples"], duration))
            assert self.log is not None
            self.log.add_trigger(entry)
            self.num_triggers += 1
            self.progress.event(
                "trigger_restored", trigger_index=entry["trigger_index"], trigger_id=entry["trigger_id"], stage=stage
            )
            return
        entry.pop("abandoned", None)
        if stage != "stored":
            entry.update(model_id=None, training=None, evaluation={})
        self._complete_trigger(entry, stage)

    def _drain_recorded(self, maximum_triggers: int | None) -> bool:
        """Resume: recorded triggers the policy did not fire for on the data seen again (a policy whose
        decisions are not reproducible) are still completed, at the end of that data."""
        while self._recorded:
            self._resume_mismatches += 1
            self._apply_recorded(self._seen)
            if self._should_stop(maximum_triggers):
                return True
        return False

    def _complete_trigger(self, entry: dict[str, Any], stage: str) -> None:
        """Train (unless `stage` is `stored`), store and evaluate the trigger of `entry`, then log it."""
        assert self.log is not None
        trigger_id, num_samples = entry["trigger_id"], entry["num_samples"]
        self.progress.event(
            "trigger_started",
            trigger_index=self.num_triggers,
            trigger_id=trigger_id,
            num_samples=num_samples,
            **entry["trigger_info"],
        )
        try:
            if num_samples > 0:
                if stage != "stored":
                    entry["training"] = self._train(trigger_id, num_samples)
                    with calling("trainer server"), self.times.phase("storing models"):
                        entry["model_id"] = self.trainer.store_final_model(entry["training"].pop("training_id"))
                    self._record(trigger_id, "stored", entry)
                self.previous_model_id = entry["model_id"]
                outcome = TrainingOutcome(entry["model_id"], num_samples, entry["training"]["duration_s"])
                if self.context is not None:
                    self.context.latest_model_id = entry["model_id"]
                self.trigger.inform_new_model(outcome)
                with self.times.phase("evaluation after triggers"):
                    entry["evaluation"] = self._evaluate(entry)
                self._record(trigger_id, "evaluated", entry)
        except TriggerAbandoned:
            entry["abandoned"] = True
            entry["training"] = None
            self._record(trigger_id, "abandoned", entry)
            self.stop_reason = "signal"
        self.log.add_trigger(entry)
        self.num_triggers += 1
        self._announce(entry)
        if self.log.data["mode"] == "production" and not entry.get("abandoned"):
            with self.times.phase("drawing the report"):
                self._write_report()

    def _abandon_now(self) -> bool:
        return self.stop_requested.is_set() and (self.stop_policy == "abandon" or self.signals_received >= 2)

    def _train(self, trigger_id: int, num_samples: int) -> dict[str, Any]:
        assert self.pipeline_id is not None
        previous = self.previous_model_id if self.pipeline["training"]["use_previous_model"] else None
        epochs = self.pipeline["training"]["epochs_per_trigger"]
        requested = time.monotonic()
        with calling("trainer server"):
            training_id = self.trainer.start_training(self.pipeline_id, trigger_id, self.pipeline, previous)
            desc = f"trigger {self.num_triggers} training"
            with self.progress.bar(desc, num_samples * epochs) as bar:
                while True:
                    status = self.trainer.status(training_id)
                    if not status.valid:
                        raise SupervisorError(f"trainer server lost training {training_id} of trigger {trigger_id}")
                    bar.set(int(status.samples_seen), loss=f"{status.current_loss:.4f}")
                    if status.failed:
                        raise SupervisorError(f"training of trigger {trigger_id} failed: {status.exception}")
                    if status.is_done:
                        break
                    if self._abandon_now():
                        logger.warning("abandoning training %d of trigger %d", training_id, trigger_id)
                        self.trainer.stop_training(training_id)
                        raise TriggerAbandoned()
                    time.sleep(POLL_INTERVAL_S)
        training: dict[str, Any] = {
            "training_id": training_id,
            "samples_seen": int(status.samples_seen),
            "epochs": epochs,
            "loss_first": status.loss_first,
            "loss_last": status.loss_last,
            "duration_s": round(status.duration_s, 3),
        }
        for name in TRAINING_TIME_FIELDS:
            value = _status_field(status, name)
            if value is not None:
                training[name] = round(float(value), 3)
        self.times.add_training_job(time.monotonic() - requested, training)
        curve = _status_field(status, "loss_curve")
        if curve:
            training["loss_curve"] = [round(float(v), 6) for v in curve]
        return training

    def _evaluate(self, entry: dict[str, Any]) -> dict[str, dict[str, float]]:
        datasets = (self.pipeline.get("evaluation") or {}).get("datasets", [])
        if not datasets:
            return {}
        self.progress.event("evaluation_started", trigger_index=entry["trigger_index"], model_id=entry["model_id"])
        with self.progress.bar(f"trigger {entry['trigger_index']} evaluation", len(datasets), unit="dataset") as bar:
            with calling("evaluator"):
                result = self.evaluation.after_trigger(entry["model_id"], entry)
            bar.set(len(datasets))
        return result

    # ---- output ----

    def _announce(self, entry: dict[str, Any]) -> None:
        training = entry["training"] or {}
        self.progress.event(
            "trigger_done",
            trigger_index=entry["trigger_index"],
            trigger_id=entry["trigger_id"],
            num_samples=entry["num_samples"],
            model_id=entry["model_id"],
            loss_first=training.get("loss_first"),
            loss_last=training.get("loss_last"),
            duration_s=training.get("duration_s"),
            evaluation=entry["evaluation"],
            abandoned=bool(entry.get("abandoned")),
        )
        evals = ", ".join(
            f"{ds} {name}={value:.4f}"
            for ds, metrics in entry["evaluation"].items()
            for name, value in metrics.items()
            if isinstance(value, int | float)
        )
        if entry.get("abandoned"):
            loss = "training abandoned"
        else:
            loss = f"loss {training['loss_first']:.4f} -> {training['loss_last']:.4f}" if training else "no training"
        line = f"trigger {entry['trigger_index']}: {entry['num_samples']} samples, {loss}"
        if training:
            line += f", {training['duration_s']:.1f}s"
        reason = entry["trigger_info"].get("reason")
        self.progress.line(line + (f", {evals}" if evals else "") + (f" [{reason}]" if reason else ""))

    def summary_lines(self) -> list[str]:
        assert self.log is not None
        triggers = self.log.triggers
        metrics = sorted(
            {
                f"{ds}/{m}"
                for t in triggers
                for ds, ms in t["evaluation"].items()
                for m, v in ms.items()
                if isinstance(v, int | float)
            }
        )
        header = ["trigger", "samples", "loss_first", "loss_last", "train_s", *metrics]
        rows = []
        for t in triggers:
            training = t["training"] or {}
            row = [str(t["trigger_index"]) + ("*" if t.get("initial") else ""), str(t["num_samples"])]
            row += [f"{training[k]:.4f}" if training else "-" for k in ("loss_first", "loss_last")]
            row.append(f"{training['duration_s']:.1f}" if training else ("abandoned" if t.get("abandoned") else "-"))
            for m in metrics:
                ds, name = m.split("/", 1)
                value = t["evaluation"].get(ds, {}).get(name)
                row.append("-" if value is None else f"{value:.4f}")
            rows.append(row)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines = [
            "",
            f"pipeline {self.log.data['pipeline_id']} ({self.log.data['pipeline_name']}): "
            f"{len(triggers)} trigger(s), {self.log.data['num_samples_seen']} samples seen"
            + (f", stopped: {self.log.data['stop_reason']}" if self.log.data.get("stop_reason") else ""),
            "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)),
        ]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        if any(t.get("initial") for t in triggers):
            lines.append("(* the initial pass over the data that existed before the start)")
        breakdown = self.log.data.get("time_breakdown")
        if breakdown:
            top = list(breakdown["phases_s"].items())[:4]
            lines.append(
                f"time: {breakdown['wall_s']:.1f} s in all, {100 * breakdown['outside_training_steps_share']:.0f} %"
                " outside training steps; largest phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in top)
            )
        lines.append(f"pipeline log: {self.log.path}")
        if "report" in self.log.data:
            lines.append(f"report: {self.log.data['report']}")
        return lines

    def print_summary(self) -> None:
        print("\n".join(self.summary_lines()), file=self.out, flush=True)

    def install_signal_handlers(self) -> None:
        def _stop(signum: int, _frame: Any) -> None:
            self.signals_received += 1
            self.stop_requested.set()
            if self.signals_received == 1 and self.stop_policy == "finish":
                print(
                    f"modyn-supervisor: received signal {signum}: finishing the running trigger, then stopping "
                    "(send it again to abandon the running trigger)",
                    file=sys.stderr,
                    flush=True,
                )

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__


def _keep(chunk: tuple[list[int], list[int], list[int]], mask: list[bool]) -> tuple[list[int], list[int], list[int]]:
    keys, timestamps, labels = chunk
    return (
        [k for k, m in zip(keys, mask, strict=True) if m],
        [t for t, m in zip(timestamps, mask, strict=True) if m],
        [label for label, m in zip(labels, mask, strict=True) if m] if labels else [],
    )
