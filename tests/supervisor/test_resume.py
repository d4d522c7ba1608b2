"""`modyn-supervisor --resume PIPELINE_ID` against a real cluster (modyn-cluster on SQLite): a supervisor
killed with SIGKILL during its 2nd trigger's training is resumed and ends where an uninterrupted run of the
same pipeline ends; a wrong id, a changed config and a finished pipeline are refused without changes."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.database import Database
from modyn.supervisor.models import SupervisorPipeline, SupervisorTrigger
from tests.supervisor.cluster_helpers import (
    BASE_TIMESTAMP,
    Cluster,
    dataset,
    mnist_arrays,
    pipeline,
    wait_for,
    write_samples,
)
from tests.supervisor.test_supervisor_end_to_end import SupervisorRun

pytestmark = pytest.mark.integration

SAMPLES = 120
PROD_OLD = 40  # the production dataset's files at the start
EPOCHS = 8
# the fields of a trigger that an interruption must not change
SAME = ("trigger_index", "trigger_id", "num_samples", "first_timestamp", "last_timestamp", "stream_position")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("resume_cluster")
    images, labels = mnist_arrays()
    write_samples(
        workdir / "stream", images[:SAMPLES], labels[:SAMPLES], 0, [BASE_TIMESTAMP + 60 * i for i in range(SAMPLES)]
    )
    write_samples(
        workdir / "prod", images[-PROD_OLD:], labels[-PROD_OLD:], 0, [BASE_TIMESTAMP + 60 * i for i in range(PROD_OLD)]
    )
    running = Cluster(workdir, [dataset("stream", workdir / "stream"), dataset("prod", workdir / "prod")])
    storage = StorageClient("127.0.0.1", running.port("storage"))
    storage.update_dataset("stream")
    assert storage.dataset_size("stream") == SAMPLES
    storage.update_dataset("prod")
    assert storage.dataset_size("prod") == PROD_OLD
    running.images, running.labels = images, labels  # type: ignore[attr-defined]
    yield running
    running.stop()


def config_for(trigger: dict[str, Any]) -> dict[str, Any]:
    config = pipeline("stream", trigger, None)
    # slow enough that a SIGKILL sent when the 2nd trigger starts comes during its training
    config["training"]["epochs_per_trigger"] = EPOCHS
    assert config["training"]["use_previous_model"] is True
    assert config["selection_strategy"]["name"] == "NewDataStrategy"
    assert config["selection_strategy"]["tail_triggers"] == 0
    return config


def database(cluster: Cluster) -> Database:
    return Database({"drivername": "sqlite", "database": cluster.config["metadata_database"]["database"]})


def db_state(cluster: Cluster, pipeline_id: int) -> tuple[Any, ...]:
    db = database(cluster)
    with db.session() as session:
        record = session.get(SupervisorPipeline, pipeline_id)
        rows = session.query(SupervisorTrigger).filter_by(pipeline_id=pipeline_id).order_by("trigger_id").all()
        state = (
            None if record is None else (record.status, record.stop_reason, record.key_cursor),
            tuple((r.trigger_id, r.stage, r.model_id, r.log_entry) for r in rows),
        )
    db.dispose()
    return state


def start(cluster: Cluster, workdir: Path, config: dict[str, Any], *args: str) -> SupervisorRun:
    return SupervisorRun(cluster, workdir, config, "--start-replay-at", str(BASE_TIMESTAMP), *args)


def resume_with(
    cluster: Cluster,
    earlier: SupervisorRun,
    workdir: Path,
    config: dict[str, Any],
    pipeline_id: int,
    *args: str,
    start_at: int = BASE_TIMESTAMP,
) -> SupervisorRun:
    """A new supervisor process on the earlier run's log dir with `config`, --start-replay-at and --resume."""
    # the later --log-dir wins: the log of the earlier run is continued
    run = SupervisorRun(
        cluster,
        workdir,
        config,
        "--start-replay-at",
        str(start_at),
        "--resume",
        str(pipeline_id),
        *args,
        "--log-dir",
        str(earlier.log_dir),
    )
    run.log_dir = earlier.log_dir
    return run


def resume(cluster: Cluster, earlier: SupervisorRun, workdir: Path, pipeline_id: int) -> SupervisorRun:
    """The same config and options as `earlier`, with --resume."""
    return resume_with(cluster, earlier, workdir, yaml.safe_load(earlier.pipeline_path.read_text()), pipeline_id)


def check_against(log: dict[str, Any], reference: dict[str, Any], cluster: Cluster) -> None:
    """Same trigger points and sample counts as the uninterrupted run; one model per trigger, chained; no
    key in two training sets."""
    assert (log["status"], log["stop_reason"]) == ("done", "end of data")
    assert [{k: t[k] for k in SAME} for t in log["triggers"]] == [
        {k: t[k] for k in SAME} for t in reference["triggers"]
    ]
    assert log["num_samples_seen"] == reference["num_samples_seen"] == SAMPLES
    for t in log["triggers"]:
        assert t["training"]["samples_seen"] == t["num_samples"] * EPOCHS and "abandoned" not in t
    pipeline_id = log["pipeline_id"]
    models = ModelStorageClient("127.0.0.1", cluster.port("model_storage")).list_models(pipeline_id)
    assert sorted((m.trigger_id, m.model_id) for m in models) == [
        (t["trigger_id"], t["model_id"]) for t in log["triggers"]
    ]
    by_trigger = {m.trigger_id: m for m in models}
    for t in log["triggers"][1:]:  # use_previous_model: each model continues the previous trigger's
        assert by_trigger[t["trigger_id"]].parent_model_id == by_trigger[t["trigger_id"] - 1].model_id
    selector = SelectorClient("127.0.0.1", cluster.port("selector"))
    trained: list[int] = []
    for t in log["triggers"]:
        keys = [
            k
            for partition in range(t["num_partitions"])
            for k in selector.get_sample_keys_and_weights(pipeline_id, t["trigger_id"], 0, partition)[0]
        ]
        assert len(keys) == t["num_samples"]
        trained += keys
    assert len(trained) == len(set(trained))
    assert {row[1] for row in db_state(cluster, pipeline_id)[1]} == {"evaluated"}


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ({"id": "DataAmountTrigger", "num_samples": 30}, [30, 30, 30, 30]),
        ({"id": "TimeTrigger", "every": "25m"}, [25, 25, 25, 25]),
    ],
    ids=["data_amount", "time"],
)
def test_resume_after_sigkill_during_the_second_training(
    cluster: Cluster, tmp_path: Path, trigger: dict[str, Any], expected: list[int]
) -> None:
    config = config_for(trigger)
    reference = start(cluster, tmp_path / "reference", config)
    assert reference.wait() == 0, reference.output()
    assert [t["num_samples"] for t in reference.log()["triggers"]] == expected

    killed = start(cluster, tmp_path / "killed", config)
    wait_for(lambda: len(killed.events("trigger_started")) >= 2, 180, "the 2nd trigger", alive=killed.process)
    os.kill(killed.process.pid, signal.SIGKILL)
    killed.wait(30)
    pipeline_id = killed.events("pipeline_started")[0]["pipeline_id"]
    record, rows = db_state(cluster, pipeline_id)
    assert record is not None and record[0] == "running"
    # trigger 0 complete; trigger 1 closed at the selector, its training interrupted
    assert [(r[0], r[1]) for r in rows] == [(0, "evaluated"), (1, "selected")]
    assert len(ModelStorageClient("127.0.0.1", cluster.port("model_storage")).list_models(pipeline_id)) == 1

    resumed = resume(cluster, killed, tmp_path / "resumed", pipeline_id)
    assert resumed.wait() == 0, resumed.output()
    assert resumed.events("pipeline_started")[0]["resumed"] is True
    assert [e["trigger_index"] for e in resumed.events("trigger_restored")] == [0]
    assert [e["trigger_index"] for e in resumed.events("trigger_done")] == [1, 2, 3]
    log = resumed.log()
    assert log["pipeline_id"] == pipeline_id and log["started_at"] == killed.log()["started_at"]
    assert [r["at_trigger"] for r in log["resumed"]] == [1]
    assert "policy_mismatches" not in log["resumed"][0]
    check_against(log, reference.log(), cluster)

    # resuming the finished pipeline changes nothing and says so (exit 0)
    before = (db_state(cluster, pipeline_id), Path(resumed.events("pipeline_started")[0]["log"]).read_text())
    again = resume(cluster, killed, tmp_path / "again", pipeline_id)
    assert again.wait() == 0, again.output()
    assert f"pipeline {pipeline_id} already finished" in again.stderr_path.read_text()
    after = (db_state(cluster, pipeline_id), Path(resumed.events("pipeline_started")[0]["log"]).read_text())
    assert after == before


def test_resume_refuses_a_wrong_id_and_a_changed_config_then_continues_a_clean_stop(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Refusals change nothing; a clean stop (--maximum-triggers) is resumable: the same end as a run
    without the stop."""
    config = config_for({"id": "DataAmountTrigger", "num_samples": 60})
    first = start(cluster, tmp_path / "first", config, "--maximum-triggers", "1")
    assert first.wait() == 0, first.output()
    pipeline_id = first.log()["pipeline_id"]
    log_path = Path(first.events("pipeline_started")[0]["log"])
    before = (db_state(cluster, pipeline_id), log_path.read_text())

    unknown = resume(cluster, first, tmp_path / "unknown", 9999)
    assert unknown.wait() == 1, unknown.output()
    assert "--resume 9999: the selector has no pipeline 9999" in unknown.stderr_path.read_text()
    assert not (first.log_dir / "pipeline_9999").exists()

    changed = resume_with(
        cluster,
        first,
        tmp_path / "changed",
        dict(config, trigger={"id": "DataAmountTrigger", "num_samples": 50}),
        pipeline_id,
    )
    assert changed.wait() == 1, changed.output()
    stderr = changed.stderr_path.read_text()
    assert (
        f"--resume {pipeline_id}: the pipeline config differs from the one pipeline {pipeline_id} was started with"
        in stderr
    )
    assert "Traceback" not in stderr

    other_options = resume_with(cluster, first, tmp_path / "options", config, pipeline_id, start_at=BASE_TIMESTAMP + 60)
    assert other_options.wait() == 1, other_options.output()
    assert f"--start-replay-at {BASE_TIMESTAMP}" in other_options.stderr_path.read_text()

    assert (db_state(cluster, pipeline_id), log_path.read_text()) == before
    assert json.loads(log_path.read_text())["stop_reason"] == "maximum triggers"

    reference = start(cluster, tmp_path / "reference", config)
    assert reference.wait() == 0, reference.output()
    resumed = resume(cluster, first, tmp_path / "resumed", pipeline_id)
    assert resumed.wait() == 0, resumed.output()
    check_against(resumed.log(), reference.log(), cluster)
    assert [r["at_trigger"] for r in resumed.log()["resumed"]] == [1]


def test_production_resume_continues_from_the_recorded_cursor(cluster: Cluster, tmp_path: Path) -> None:
    """Production: 40 existing samples (replayed: 2 triggers), then 30 new files; SIGKILL during the 3rd
    trigger's training; the resumed supervisor retrains it, keeps the 10 samples after it for the next
    trigger and follows new files from there."""
    config = config_for({"id": "DataAmountTrigger", "num_samples": 20})
    config["data"]["dataset_id"] = "prod"
    config["initial_mode"] = "replay"
    folder = Path(cluster.config["storage"]["datasets"][1]["base_path"])
    images, labels = cluster.images, cluster.labels  # type: ignore[attr-defined]
    killed = SupervisorRun(cluster, tmp_path / "killed", config, "--poll-interval", "0.2")
    wait_for(lambda: killed.triggers_done() >= 2, 180, "the initial replay's triggers", alive=killed.process)
    write_samples(folder, images[:30], labels[:30], PROD_OLD, None)
    wait_for(lambda: len(killed.events("trigger_started")) >= 3, 180, "a trigger on new files", alive=killed.process)
    os.kill(killed.process.pid, signal.SIGKILL)
    killed.wait(30)
    pipeline_id = killed.events("pipeline_started")[0]["pipeline_id"]
    assert [(r[0], r[1]) for r in db_state(cluster, pipeline_id)[1]] == [
        (0, "evaluated"),
        (1, "evaluated"),
        (2, "selected"),
    ]

    resumed = SupervisorRun(
        cluster,
        tmp_path / "resumed",
        config,
        "--poll-interval",
        "0.2",
        "--resume",
        str(pipeline_id),
        "--log-dir",
        str(killed.log_dir),
    )
    wait_for(lambda: resumed.triggers_done() >= 1, 180, "the interrupted trigger", alive=resumed.process)
    write_samples(folder, images[30:40], labels[30:40], PROD_OLD + 30, None)
    wait_for(lambda: resumed.triggers_done() >= 2, 180, "a trigger on the newest files", alive=resumed.process)
    os.kill(resumed.process.pid, signal.SIGTERM)
    assert resumed.wait(120) == 0, resumed.output()
    log = resumed.log()
    assert (log["status"], log["mode"], log["stop_reason"]) == ("done", "production", "signal")
    assert [r["at_trigger"] for r in log["resumed"]] == [2]
    assert [t["num_samples"] for t in log["triggers"]] == [20, 20, 20, 20]
    assert [t["trigger_index"] for t in log["triggers"]] == [0, 1, 2, 3]
    assert log["triggers"][1]["last_timestamp"] == BASE_TIMESTAMP + 60 * (PROD_OLD - 1)
    assert log["num_samples_seen"] == PROD_OLD + 40
    models = ModelStorageClient("127.0.0.1", cluster.port("model_storage")).list_models(pipeline_id)
    assert sorted(m.trigger_id for m in models) == [0, 1, 2, 3]
    by_trigger = {m.trigger_id: m for m in models}
    for trigger_id in (1, 2, 3):
        assert by_trigger[trigger_id].parent_model_id == by_trigger[trigger_id - 1].model_id
    selector = SelectorClient("127.0.0.1", cluster.port("selector"))
    trained = [
        k
        for t in log["triggers"]
        for partition in range(t["num_partitions"])
        for k in selector.get_sample_keys_and_weights(pipeline_id, t["trigger_id"], 0, partition)[0]
    ]
    storage = StorageClient("127.0.0.1", cluster.port("storage"))
    all_keys = [k for chunk, _, _ in storage.data_in_interval("prod", 0, 2**62) for k in chunk]
    assert sorted(trained) == sorted(all_keys) and len(all_keys) == PROD_OLD + 40
