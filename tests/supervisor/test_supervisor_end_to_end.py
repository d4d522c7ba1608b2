"""The supervisor against a real cluster (modyn-cluster on SQLite): experiment mode with each initial
mode and a model-based trigger, production mode with files arriving while it runs, and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from integrationtests.cluster_support import bin_script
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.database import Database
from modyn.supervisor.models import SupervisorTrigger
from modyn.supervisor.triggers.inference import ServiceTriggerContext
from tests.supervisor.cluster_helpers import (
    BASE_TIMESTAMP,
    Cluster,
    dataset,
    json_events,
    mnist_arrays,
    pipeline,
    wait_for,
    write_samples,
)

pytestmark = pytest.mark.integration

HISTORY, HISTORY_TEST, LIVE_OLD, LIVE_NEW = 120, 30, 30, 40


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("supervisor_cluster")
    images, labels = mnist_arrays()
    spacing = [BASE_TIMESTAMP + 60 * i for i in range(HISTORY)]
    write_samples(workdir / "hist", images[:HISTORY], labels[:HISTORY], 0, spacing)
    write_samples(
        workdir / "hist_test", images[-HISTORY_TEST:], labels[-HISTORY_TEST:], 0, [BASE_TIMESTAMP] * HISTORY_TEST
    )
    live = slice(HISTORY, HISTORY + LIVE_OLD)
    write_samples(workdir / "live", images[live], labels[live], 0, spacing[:LIVE_OLD])
    write_samples(workdir / "busy", images[:200], labels[:200], 0, [BASE_TIMESTAMP] * 200)
    datasets = [dataset(name, workdir / name) for name in ("hist", "hist_test", "live", "busy")]
    running = Cluster(workdir, datasets)
    storage = StorageClient("127.0.0.1", running.port("storage"))
    for name, size in (("hist", HISTORY), ("hist_test", HISTORY_TEST), ("live", LIVE_OLD), ("busy", 200)):
        storage.update_dataset(name)
        assert storage.dataset_size(name) == size
    running.images, running.labels = images, labels  # type: ignore[attr-defined]
    yield running
    running.stop()


class SupervisorRun:
    """modyn-supervisor as a child process with stdout/stderr in files (stdout is not a terminal)."""

    def __init__(self, cluster: Cluster, workdir: Path, config: dict[str, Any], *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.pipeline_path = workdir / "pipeline.yaml"
        self.pipeline_path.write_text(yaml.safe_dump(config))
        self.stdout_path, self.stderr_path = workdir / "stdout.txt", workdir / "stderr.txt"
        self.log_dir = workdir / "logs"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [bin_script("modyn-supervisor"), str(self.pipeline_path), str(cluster.path)]
                + ["--log-dir", str(self.log_dir), *args],
                stdout=out,
                stderr=err,
            )

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in json_events(self.stdout()) if e["event"] == name]

    def log(self) -> dict[str, Any]:
        path = self.events("pipeline_started")[0]["log"]
        return json.loads(Path(path).read_text())

    def triggers_done(self) -> int:
        return len(self.events("trigger_done"))

    def wait(self, timeout_s: float = 300) -> int:
        code = self.process.wait(timeout=timeout_s)
        return int(code)

    def output(self) -> str:
        return f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr_path.read_text()}"


@pytest.fixture(scope="module")
def experiment(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> SupervisorRun:
    config = pipeline(
        "hist", {"id": "DataAmountTrigger", "num_samples": 80}, "hist_test", initial_mode="train_on_everything"
    )
    run = SupervisorRun(
        cluster,
        tmp_path_factory.mktemp("experiment"),
        config,
        "--start-replay-at",
        str(BASE_TIMESTAMP + 60 * 40),
    )
    assert run.wait() == 0, run.output() + cluster.logs()
    return run


def test_experiment_with_an_initial_training_on_everything(experiment: SupervisorRun, cluster: Cluster) -> None:
    log = experiment.log()
    assert (log["status"], log["mode"], log["initial_mode"], log["stop_reason"]) == (
        "done",
        "experiment",
        "train_on_everything",
        "end of data",
    )
    assert log["num_samples_seen"] == HISTORY
    triggers = log["triggers"]
    assert [t["num_samples"] for t in triggers] == [40, 80]
    assert [bool(t.get("initial")) for t in triggers] == [True, False]
    # the initial pass covers the samples before --start-replay-at; the stream the rest
    assert (triggers[0]["first_timestamp"], triggers[0]["last_timestamp"]) == (BASE_TIMESTAMP, BASE_TIMESTAMP + 60 * 39)
    assert (triggers[1]["first_timestamp"], triggers[1]["last_timestamp"]) == (
        BASE_TIMESTAMP + 60 * 40,
        BASE_TIMESTAMP + 60 * 119,
    )
    for t in triggers:
        assert t["model_id"] is not None and t["training"]["samples_seen"] == t["num_samples"]
        assert 0.0 <= t["evaluation"]["hist_test"]["Accuracy"] <= 1.0
        assert {"time_train_s", "time_wait_data_s"} <= set(t["training"])
    assert len({t["model_id"] for t in triggers}) == 2

    # where the wall time went: the supervisor's phases plus each job's own split, within the run's wall time
    breakdown = log["time_breakdown"]
    phases = breakdown["phases_s"]
    assert {"training steps", "training: job start and polling", "selection", "evaluation after triggers"} <= set(
        phases
    )
    steps = sum(t["training"]["time_train_s"] for t in triggers)
    assert abs(phases["training steps"] - steps) < 0.01
    assert sum(phases.values()) <= breakdown["wall_s"] + 0.01
    assert breakdown["outside_training_steps_share"] == round(1 - phases["training steps"] / breakdown["wall_s"], 4)
    assert "outside training steps" in experiment.stdout()

    # progress as JSON lines (stdout is a file), then the summary table
    names = [e["event"] for e in json_events(experiment.stdout())]
    assert names[0] == "pipeline_started" and names[-1] == "pipeline_done"
    assert names.count("trigger_done") == 2 and names.count("trigger_started") == 2
    assert "initial_pass" in names
    assert f"pipeline log: {experiment.events('pipeline_started')[0]['log']}" in experiment.stdout()
    assert "hist_test/Accuracy" in experiment.stdout()

    report = Path(log["report"])
    assert report.parent == Path(experiment.events("pipeline_started")[0]["log"]).parent
    assert report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and report.stat().st_size > 10_000

    # each trigger's progress is in the metadata DB, with its log entry
    database = Database({"drivername": "sqlite", "database": cluster.config["metadata_database"]["database"]})
    with database.session() as session:
        rows = session.query(SupervisorTrigger).filter_by(pipeline_id=log["pipeline_id"]).all()
        stored = sorted((r.trigger_id, r.stage, r.model_id) for r in rows)
    database.dispose()
    assert stored == sorted((t["trigger_id"], "evaluated", t["model_id"]) for t in triggers)


def test_service_trigger_context_runs_the_stored_model(experiment: SupervisorRun, cluster: Cluster) -> None:
    config = yaml.safe_load(experiment.pipeline_path.read_text())
    storage = StorageClient("127.0.0.1", cluster.port("storage"))
    context = ServiceTriggerContext(storage, ModelStorageClient("127.0.0.1", cluster.port("model_storage")), config)
    keys = [k for chunk, _, _ in storage.data_in_interval("hist", 0, 2**62) for k in chunk][:50]
    raw = context.raw_features(keys)
    assert raw.shape == (50, 784) and 0.0 <= raw.min() and raw.max() <= 1.0
    first, last = (t["model_id"] for t in experiment.log()["triggers"])
    context.latest_model_id = first
    first_embeddings = context.embeddings(keys)
    context.latest_model_id = last
    embeddings = context.embeddings(keys)
    # SmallCNN's last linear layer takes its 128-d penultimate representation
    assert embeddings.shape == (50, 128) and first_embeddings.shape == (50, 128)
    assert not np.allclose(embeddings, first_embeddings)  # each model id loads its own weights
    predicted, labels = context.predictions(keys)
    assert predicted.shape == (50,) and set(predicted) <= set(range(10))
    assert list(labels) == list(cluster.labels[:50])  # type: ignore[attr-defined]


def test_replay_initial_mode_with_a_performance_trigger(cluster: Cluster, tmp_path: Path) -> None:
    trigger = {"id": "PerformanceTrigger", "window": {"num_samples": 30}, "min_accuracy": 1.0}
    config = pipeline("hist", trigger, None, initial_mode="replay")
    run = SupervisorRun(
        cluster, tmp_path, config, "--start-replay-at", str(BASE_TIMESTAMP + 60 * 60), "--maximum-triggers", "2"
    )
    assert run.wait() == 0, run.output()
    log = run.log()
    assert log["stop_reason"] == "maximum triggers"
    triggers = log["triggers"]
    # no model: the first window fires; then each 30-sample window is judged by the newest model, which
    # is not perfect after so little data, so each fires; the replay of existing data counts like the stream
    assert [t["num_samples"] for t in triggers] == [30, 30]
    assert triggers[0]["trigger_info"]["reason"] == "first window: no model yet"
    for t in triggers[1:]:
        assert t["trigger_info"]["reason"] == "accuracy below min_accuracy"
        assert 0.0 <= t["trigger_info"]["accuracy"] < 1.0
    assert triggers[1]["last_timestamp"] == BASE_TIMESTAMP + 60 * 59
    assert log["num_samples_seen"] == 60


def test_production_follows_new_files_and_stops_on_sigterm(cluster: Cluster, tmp_path: Path) -> None:
    config = pipeline(
        "live", {"id": "DataAmountTrigger", "num_samples": LIVE_NEW}, None, initial_mode="train_on_everything"
    )
    started = int(time.time())
    run = SupervisorRun(cluster, tmp_path, config, "--poll-interval", "0.2")
    wait_for(lambda: run.triggers_done() >= 1, 120, "the initial training", alive=run.process)
    images, labels = cluster.images, cluster.labels  # type: ignore[attr-defined]
    new = slice(HISTORY + LIVE_OLD, HISTORY + LIVE_OLD + LIVE_NEW)
    write_samples(Path(cluster.config["storage"]["datasets"][2]["base_path"]), images[new], labels[new], LIVE_OLD, None)
    wait_for(lambda: run.triggers_done() >= 2, 180, "a trigger on the new files", alive=run.process)
    os.kill(run.process.pid, signal.SIGTERM)
    assert run.wait(60) == 0, run.output()
    log = run.log()
    assert (log["status"], log["mode"], log["stop_reason"]) == ("done", "production", "signal")
    triggers = log["triggers"]
    assert [t["num_samples"] for t in triggers] == [LIVE_OLD, LIVE_NEW]
    assert triggers[0]["initial"] and triggers[0]["last_timestamp"] == BASE_TIMESTAMP + 60 * (LIVE_OLD - 1)
    assert all(t["first_timestamp"] >= started for t in triggers[1:])
    assert log["num_samples_seen"] == LIVE_OLD + LIVE_NEW
    assert Path(log["report"]).exists()
    assert "pipeline log:" in run.stdout()


@pytest.mark.parametrize(("policy", "signals"), [("abandon", 1), ("finish", 2), ("finish", 1)])
def test_sigterm_during_training(cluster: Cluster, tmp_path: Path, policy: str, signals: int) -> None:
    """abandon (or a second signal): stop waiting for the running training; finish: complete it. Exit 0 either way."""
    config = pipeline(
        "busy", {"id": "DataAmountTrigger", "num_samples": 1000}, None, initial_mode="train_on_everything"
    )
    # the signal, sent when the trigger starts, comes while the job runs (10 epochs of 200 samples take seconds;
    # an abandoned job is stopped on the trainer server)
    config["training"]["epochs_per_trigger"] = 10
    run = SupervisorRun(cluster, tmp_path, config, "--stop-policy", policy, "--poll-interval", "0.2")
    wait_for(lambda: run.events("trigger_started"), 120, "the initial training to start", alive=run.process)
    for _ in range(signals):
        os.kill(run.process.pid, signal.SIGTERM)
        time.sleep(0.3)
    assert run.wait(300) == 0, run.output()
    log = run.log()
    assert (log["status"], log["stop_reason"]) == ("done", "signal")
    [trigger] = log["triggers"]
    if (policy, signals) == ("finish", 1):
        assert trigger["model_id"] is not None and trigger["training"]["samples_seen"] == 200 * 10
        assert "abandoned" not in trigger
    else:
        assert trigger["abandoned"] is True and trigger["model_id"] is None and trigger["training"] is None
