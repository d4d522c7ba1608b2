"""The supervisor's logic: validate the cluster, register the pipeline, feed new samples to the
trigger policy and the selector, and for each trigger train, store and evaluate a model."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import grpc
from tqdm import tqdm

from modyn.common.clients import describe_rpc_error
from modyn.common.clients.evaluator_client import EvaluatorClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.clients.trainer_server_client import TrainerServerClient
from modyn.common.database import Database
from modyn.common.grpc_utils import check_health
from modyn.supervisor.evaluation.evaluation_runner import EvaluationError, EvaluationRunner
from modyn.supervisor.models import SupervisorBase, SupervisorTrigger
from modyn.supervisor.pipeline_log import PipelineLog
from modyn.supervisor.triggers import build_trigger

SERVICES = ["storage", "selector", "trainer_server", "metadata_processor", "model_storage", "evaluator"]
POLL_INTERVAL_S = 0.2
MAX_TIMESTAMP = 2**62


class SupervisorError(Exception):
    """A failure to report to the user as one clear line (exit code 1)."""


@contextmanager
def calling(service: str) -> Iterator[None]:
    try:
        yield
    except grpc.RpcError as exc:
        raise SupervisorError(describe_rpc_error(service, exc)) from exc
    except EvaluationError as exc:
        raise SupervisorError(str(exc)) from exc


class Supervisor:
    def __init__(
        self,
        pipeline_config: dict[str, Any],
        system_config: dict[str, Any],
        log_dir: Path,
        out: TextIO = sys.stdout,
    ) -> None:
        self.pipeline = pipeline_config
        self.system = system_config
        self.log_dir = log_dir
        self.out = out
        self.show_progress = sys.stderr.isatty()
        self.storage = StorageClient(system_config["storage"]["hostname"], system_config["storage"]["port"])
        self.selector = SelectorClient(system_config["selector"]["hostname"], system_config["selector"]["port"])
        self.trainer = TrainerServerClient(
            system_config["trainer_server"]["hostname"], system_config["trainer_server"]["port"]
        )
        self.evaluator = EvaluatorClient(system_config["evaluator"]["hostname"], system_config["evaluator"]["port"])
        self.evaluation = EvaluationRunner(self.evaluator, pipeline_config)
        self.stop_requested = threading.Event()
        self.pipeline_id: int | None = None
        self.log: PipelineLog | None = None
        self.previous_model_id: int | None = None
        self.num_triggers = 0
        self._db: Database | None = None

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
        for i, ds in enumerate(self.pipeline.get("evaluation", {}).get("datasets", [])):
            wanted.append((f"evaluation.datasets[{i}].dataset_id", ds["dataset_id"]))
        with calling("storage"):
            missing = [f"{path}: dataset {name!r}" for path, name in wanted if not self.storage.dataset_available(name)]
        if missing:
            raise SupervisorError("unknown dataset(s) in storage: " + "; ".join(missing))

    # ---- the run ----

    def setup(self, mode: str) -> None:
        self.check_cluster()
        self.check_datasets()
        self._db = Database(self.system["metadata_database"])
        self._db.create_tables(SupervisorBase.metadata)
        with calling("selector"):
            self.pipeline_id = self.selector.register_pipeline(self.pipeline)
        self.log = PipelineLog(self.log_dir, self.pipeline_id, self.pipeline["pipeline"]["name"], mode)
        self.trigger = build_trigger(self.pipeline["trigger"])
        self._seen = 0
        self._pending_first_ts: int | None = None
        self._pending_last_ts: int | None = None

    def run_experiment(self, start: int, stop: int | None, maximum_triggers: int | None) -> PipelineLog:
        """Replay the samples with start <= timestamp <= stop in (timestamp, key) order, then stop."""
        self.setup("experiment")
        assert self.log is not None
        try:
            dataset_id = self.pipeline["data"]["dataset_id"]
            with calling("storage"):
                self.storage.update_dataset(dataset_id)
                chunks = list(self.storage.data_in_interval(dataset_id, start, MAX_TIMESTAMP if stop is None else stop))
            total = sum(len(c[0]) for c in chunks)
            with tqdm(total=total, desc="replay", unit="sample", disable=not self.show_progress, position=0) as bar:
                for keys, timestamps, labels in chunks:
                    if self._handle_new_data(keys, timestamps, labels, maximum_triggers):
                        break
                    bar.update(len(keys))
            with calling("evaluator"):
                self.log.data.update(self.evaluation.after_pipeline(self.log.triggers))
            self.log.finish("done")
        except BaseException as exc:
            self.log.finish("failed", error=_error_text(exc))
            raise
        finally:
            self.log.set_samples_seen(self._seen)
            self.log.write()
        return self.log

    def run_production(self, poll_interval_s: float, maximum_triggers: int | None) -> PipelineLog:
        """Follow the dataset's new samples until stopped (SIGINT/SIGTERM) or maximum_triggers."""
        self.setup("production")
        assert self.log is not None
        dataset_id = self.pipeline["data"]["dataset_id"]
        try:
            with calling("storage"):
                last_ts = self.storage.current_timestamp()
            keys_at_last_ts: set[int] = set()
            while not self.stop_requested.is_set():
                with calling("storage"):
                    # Ask from last_ts inclusive (last_ts - 1 exclusive) so a sample arriving later with the
                    # same timestamp as the last one served is not skipped; drop the keys already handled.
                    for keys, timestamps, labels in self.storage.new_data_since(dataset_id, last_ts - 1):
                        fresh = [
                            i for i, k in enumerate(keys) if not (timestamps[i] == last_ts and k in keys_at_last_ts)
                        ]
                        if not fresh:
                            continue
                        keys = [keys[i] for i in fresh]
                        timestamps = [timestamps[i] for i in fresh]
                        labels = [labels[i] for i in fresh] if labels else []
                        newest = max(timestamps)
                        if newest > last_ts:
                            last_ts, keys_at_last_ts = newest, set()
                        keys_at_last_ts.update(k for k, t in zip(keys, timestamps, strict=True) if t == last_ts)
                        if self._handle_new_data(keys, timestamps, labels, maximum_triggers):
                            self.stop_requested.set()
                            break
                self.stop_requested.wait(poll_interval_s)
            self.log.finish("done")
        except BaseException as exc:
            self.log.finish("failed", error=_error_text(exc))
            raise
        finally:
            self.log.set_samples_seen(self._seen)
            self.log.write()
        return self.log

    def _handle_new_data(
        self, keys: list[int], timestamps: list[int], labels: list[int], maximum_triggers: int | None
    ) -> bool:
        """Feed one chunk of new samples to the trigger and the selector. True when the run should stop."""
        assert self.pipeline_id is not None
        labels = labels or []
        start = 0
        for end_index in self.trigger.inform(keys, timestamps):
            end = end_index + 1
            self._track_range(timestamps[start:end])
            with calling("selector"):
                trigger_id, num_samples, num_partitions = self.selector.inform_data_and_trigger(
                    self.pipeline_id, keys[start:end], timestamps[start:end], labels[start:end]
                )
            self._seen += end - start
            self._run_trigger(trigger_id, num_samples, num_partitions)
            start = end
            if (maximum_triggers is not None and self.num_triggers >= maximum_triggers) or self.stop_requested.is_set():
                return True
        if start < len(keys):
            self._track_range(timestamps[start:])
            with calling("selector"):
                self.selector.inform_data(self.pipeline_id, keys[start:], timestamps[start:], labels[start:])
            self._seen += len(keys) - start
        return False

    def _track_range(self, timestamps: list[int]) -> None:
        if not timestamps:
            return
        if self._pending_first_ts is None:
            self._pending_first_ts = timestamps[0]
        self._pending_last_ts = timestamps[-1]

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

    def _run_trigger(self, trigger_id: int, num_samples: int, num_partitions: int) -> None:
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
        }
        self._pending_first_ts = self._pending_last_ts = None
        self._record(trigger_id, "selected", entry)
        if num_samples > 0:
            entry["training"] = self._train(trigger_id, num_samples)
            with calling("trainer server"):
                entry["model_id"] = self.trainer.store_final_model(entry["training"].pop("training_id"))
            self.previous_model_id = entry["model_id"]
            self._record(trigger_id, "stored", entry)
            with calling("evaluator"):
                entry["evaluation"] = self.evaluation.after_trigger(entry["model_id"], entry)
            self._record(trigger_id, "evaluated", entry)
        self.log.add_trigger(entry)
        self.num_triggers += 1
        self._print_trigger(entry)

    def _train(self, trigger_id: int, num_samples: int) -> dict[str, Any]:
        assert self.pipeline_id is not None
        previous = self.previous_model_id if self.pipeline["training"]["use_previous_model"] else None
        epochs = self.pipeline["training"]["epochs_per_trigger"]
        with calling("trainer server"):
            training_id = self.trainer.start_training(self.pipeline_id, trigger_id, self.pipeline, previous)
            desc = f"trigger {self.num_triggers} training"
            with tqdm(total=num_samples * epochs, desc=desc, unit="sample", disable=not self.show_progress) as bar:
                while True:
                    status = self.trainer.status(training_id)
                    if not status.valid:
                        raise SupervisorError(f"trainer server lost training {training_id} of trigger {trigger_id}")
                    bar.n = min(status.samples_seen, bar.total)
                    bar.set_postfix(loss=f"{status.current_loss:.4f}")
                    bar.refresh()
                    if status.failed:
                        raise SupervisorError(f"training of trigger {trigger_id} failed: {status.exception}")
                    if status.is_done:
                        break
                    time.sleep(POLL_INTERVAL_S)
        return {
            "training_id": training_id,
            "samples_seen": int(status.samples_seen),
            "epochs": epochs,
            "loss_first": status.loss_first,
            "loss_last": status.loss_last,
            "duration_s": round(status.duration_s, 3),
        }

    def _print_trigger(self, entry: dict[str, Any]) -> None:
        training = entry["training"] or {}
        evals = ", ".join(
            f"{ds} {name}={value:.4f}" for ds, metrics in entry["evaluation"].items() for name, value in metrics.items()
        )
        loss = f"loss {training['loss_first']:.4f} -> {training['loss_last']:.4f}" if training else "no training"
        line = f"trigger {entry['trigger_index']}: {entry['num_samples']} samples, {loss}"
        if training:
            line += f", {training['duration_s']:.1f}s"
        print(line + (f", {evals}" if evals else ""), file=self.out, flush=True)

    def print_summary(self) -> None:
        assert self.log is not None
        triggers = self.log.triggers
        metrics = sorted({f"{ds}/{m}" for t in triggers for ds, ms in t["evaluation"].items() for m in ms})
        header = ["trigger", "samples", "loss_first", "loss_last", "train_s", *metrics]
        rows = []
        for t in triggers:
            training = t["training"] or {}
            row = [str(t["trigger_index"]), str(t["num_samples"])]
            row += [f"{training[k]:.4f}" if training else "-" for k in ("loss_first", "loss_last")]
            row.append(f"{training['duration_s']:.1f}" if training else "-")
            for m in metrics:
                ds, name = m.split("/", 1)
                value = t["evaluation"].get(ds, {}).get(name)
                row.append("-" if value is None else f"{value:.4f}")
            rows.append(row)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        print(
            f"\npipeline {self.log.data['pipeline_id']} ({self.log.data['pipeline_name']}): "
            f"{len(triggers)} trigger(s), {self.log.data['num_samples_seen']} samples seen",
            file=self.out,
        )
        print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)), file=self.out)
        for r in rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)), file=self.out)
        print(f"pipeline log: {self.log.path}", file=self.out, flush=True)

    def install_signal_handlers(self) -> None:
        def _stop(_signum: int, _frame: Any) -> None:
            self.stop_requested.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__
