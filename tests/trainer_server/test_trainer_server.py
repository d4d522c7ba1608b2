"""Training jobs end to end against real services: the Trainer in-process, and the trainer server over
a loopback gRPC channel running jobs in spawned processes."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import torch
from trainer_test_helpers import (
    NUM_CLASSES,
    NUM_FEATURES,
    NUM_RECORDS,
    SCALED_BYTES_PARSER,
    Services,
    pipeline_config,
)

from modyn.common.clients.trainer_server_client import TrainerServerClient
from modyn.common.grpc_utils import GrpcServer
from modyn.common.testing import free_port
from modyn.generated import trainer_server_pb2 as pb
from modyn.models import build_model
from modyn.trainer_server.trainer import Trainer, TrainingConfigError, TrainingJobSpec
from modyn.trainer_server.trainer_server_entrypoint import build
from modyn.trainer_server.training_manager import TrainingManager, UnknownTrainingError

JOB_DEADLINE_S = 90.0


def training_config(**training: Any) -> dict[str, Any]:
    config = pipeline_config(**training)
    config["data"]["bytes_parser_function"] = SCALED_BYTES_PARSER
    return config


def blocking_parser(flag: Path) -> str:
    """A parser that waits until `flag` exists: keeps a job running for as long as a test needs."""
    return f"""
import os, time
import numpy as np
import torch
def bytes_parser_function(data: bytes):
    deadline = time.monotonic() + 60
    while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:
        time.sleep(0.02)
    return torch.from_numpy(np.frombuffer(data, dtype="<f4").copy()) / {NUM_RECORDS}
"""


@dataclass
class TrainerServer:
    client: TrainerServerClient
    manager_config: dict[str, Any]
    scratch: Path


@pytest.fixture(scope="module")
def trainer_server(services: Services) -> Iterator[TrainerServer]:
    config = json.loads(json.dumps(services.system_config))
    config["trainer_server"]["port"] = free_port()
    parts = build(config)
    server = GrpcServer("trainer_server", "127.0.0.1", config["trainer_server"]["port"], parts.add_servicers)
    server.start()
    client = TrainerServerClient("127.0.0.1", config["trainer_server"]["port"])
    yield TrainerServer(client, config, Path(config["trainer_server"]["scratch_directory"]))
    client.close()
    server.stop(grace_s=1.0)
    for hook in parts.on_shutdown:
        hook()


def wait_until_finished(client: TrainerServerClient, training_id: int) -> pb.TrainingStatusResponse:
    deadline = time.monotonic() + JOB_DEADLINE_S
    while time.monotonic() < deadline:
        status = client.status(training_id)
        if not status.is_running:
            return status
        time.sleep(0.1)
    raise AssertionError(f"training {training_id} still running after {JOB_DEADLINE_S} s")


def start(services: Services, server: TrainerServer, config: dict[str, Any], previous_model_id: int = -1) -> int:
    pipeline_id, trigger_id, _ = services.new_trigger(config)
    return server.client.start_training(pipeline_id, trigger_id, config, previous_model_id)


def local_spec(
    services: Services, config: dict[str, Any], pipeline_id: int, trigger_id: int, training_id: int, scratch: Path
) -> TrainingJobSpec:
    """A job spec for running the Trainer in this process against the test services."""
    c = services.system_config
    return TrainingJobSpec(
        training_id=training_id,
        pipeline_id=pipeline_id,
        trigger_id=trigger_id,
        pipeline_config=config,
        previous_model_id=-1,
        scratch_directory=str(scratch),
        storage=("127.0.0.1", c["storage"]["port"]),
        selector=("127.0.0.1", c["selector"]["port"]),
        model_storage=("127.0.0.1", c["model_storage"]["port"]),
        metadata_processor=("127.0.0.1", c["metadata_processor"]["port"]),
    )


def stored_state(services: Services, model_id: int, tmp_path: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    destination = tmp_path / f"model_{model_id}.pt"
    info = services.model_storage.fetch_model_file(model_id, destination)
    return info, torch.load(destination, weights_only=True)


# --- the Trainer logic, in-process --------------------------------------------------------------


def test_trainer_learns_saves_and_reports_metadata(services: Services, tmp_path: Path) -> None:
    config = training_config(
        epochs_per_trigger=6,
        batch_size=20,
        optimizers=[{"name": "default", "algorithm": "Adam", "param_groups": [{"config": {"lr": 0.1}}]}],
    )
    pipeline_id, trigger_id, _ = services.new_trigger(config)
    spec = local_spec(services, config, pipeline_id, trigger_id, 1000, tmp_path)
    trainer = Trainer(spec)
    result = trainer.run()
    progress = trainer.progress.get()

    assert result.num_samples == NUM_RECORDS
    assert result.samples_seen == 6 * NUM_RECORDS == progress["samples_seen"] == progress["total_samples"]
    assert progress["epoch"] == 5
    assert progress["loss_last"] < 0.8 * progress["loss_first"]
    state = torch.load(result.model_path, weights_only=True)
    assert state["output.weight"].shape == (NUM_CLASSES, NUM_FEATURES)

    metadata = services.metadata_processor.get_training_metadata(pipeline_id, trigger_id)
    assert metadata.found
    assert metadata.trigger_metadata.num_samples == NUM_RECORDS
    assert metadata.trigger_metadata.loss == pytest.approx(result.mean_loss, rel=1e-5)


def test_same_seed_gives_the_same_model(services: Services, tmp_path: Path) -> None:
    config = training_config(batch_size=32)
    pipeline_id, trigger_id, _ = services.new_trigger(config)
    states = []
    for run in range(2):
        spec = local_spec(services, config, pipeline_id, trigger_id, 2000 + run, tmp_path)
        states.append(torch.load(Trainer(spec).run().model_path, weights_only=True))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_a_worker_count_mismatch_with_the_selector_fails_loudly(services: Services, tmp_path: Path) -> None:
    pipeline_id, trigger_id, _ = services.new_trigger(training_config(dataloader_workers=2))
    spec = local_spec(services, training_config(dataloader_workers=0), pipeline_id, trigger_id, 3000, tmp_path)
    with pytest.raises(TrainingConfigError, match=f"epoch 0 saw 100 samples but the trigger has {NUM_RECORDS}"):
        Trainer(spec).run()


# --- the trainer server over gRPC, jobs in spawned processes ------------------------------------


def test_job_with_two_spawned_workers_trains_and_stores_its_model(
    services: Services, trainer_server: TrainerServer, tmp_path: Path
) -> None:
    config = training_config(dataloader_workers=2, epochs_per_trigger=2, record_loss_every=3)
    pipeline_id, trigger_id, _ = services.new_trigger(config)
    training_id = trainer_server.client.start_training(pipeline_id, trigger_id, config, None)

    status = wait_until_finished(trainer_server.client, training_id)
    assert status.is_done and not status.failed, status.exception
    assert status.samples_seen == status.samples_trained == status.total_samples == 2 * NUM_RECORDS
    assert status.epoch == 1
    assert math.isfinite(status.loss_first) and math.isfinite(status.loss_last)
    assert status.duration_s > 0
    # Where the time went: every phase is counted, and together they make up the job's duration.
    phases = [status.time_setup_s, status.time_wait_data_s, status.time_train_s, status.time_finish_s]
    assert all(p > 0 for p in phases) and status.time_downsample_s == 0
    assert sum(phases) == pytest.approx(status.duration_s, rel=0.05)
    # 2 workers x 100 samples in batches of 16: 7 batches per worker per epoch, 28 in all: every 3rd.
    assert status.record_loss_every == 3 and len(status.loss_curve) == 28 // 3

    model_id = trainer_server.client.store_final_model(training_id)
    assert trainer_server.client.store_final_model(training_id) == model_id  # idempotent
    assert not list(trainer_server.scratch.glob(f"pipeline_{pipeline_id}_trigger_{trigger_id}_*.pt"))

    info, state = stored_state(services, model_id, tmp_path)
    assert (info.pipeline_id, info.trigger_id, info.model_class_name) == (pipeline_id, trigger_id, "Dummy")
    assert info.model_config == config["model"]["config"]
    build_model("Dummy", info.model_config).load_state_dict(state)

    metadata = services.metadata_processor.get_training_metadata(pipeline_id, trigger_id)
    assert metadata.found and metadata.trigger_metadata.num_samples == NUM_RECORDS
    assert math.isfinite(metadata.trigger_metadata.loss)

    # The next trigger continues from this model: with lr 0 the result is the same weights.
    frozen = training_config(
        optimizers=[{"name": "default", "algorithm": "SGD", "param_groups": [{"config": {"lr": 0.0}}]}]
    )
    next_id = start(services, trainer_server, frozen, previous_model_id=model_id)
    next_status = wait_until_finished(trainer_server.client, next_id)
    assert next_status.is_done, next_status.exception
    _, next_state = stored_state(services, trainer_server.client.store_final_model(next_id), tmp_path)
    assert all(torch.equal(state[k], next_state[k]) for k in state)

    # A previous model of another class is refused with a message that says so.
    mlp = training_config()
    mlp["model"] = {"id": "MLP", "config": {"input_dim": NUM_FEATURES, "num_classes": NUM_CLASSES}}
    mismatch = wait_until_finished(trainer_server.client, start(services, trainer_server, mlp, model_id))
    assert mismatch.failed and "is a Dummy, but the pipeline trains a MLP" in mismatch.exception


def test_bad_parser_fails_the_job_and_the_server_keeps_serving(
    services: Services, trainer_server: TrainerServer
) -> None:
    config = training_config(dataloader_workers=2)
    config["data"]["bytes_parser_function"] = "def bytes_parser_function(data):\n    return data.nope()\n"
    training_id = start(services, trainer_server, config)
    status = wait_until_finished(trainer_server.client, training_id)
    assert status.failed and not status.is_done
    assert status.exception.startswith("SampleParseError: bytes_parser_function failed on sample ")
    assert "AttributeError" in status.exception and "nope" in status.exception
    with pytest.raises(grpc.RpcError) as info:
        trainer_server.client.store_final_model(training_id)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "failed: SampleParseError" in info.value.details()

    good = wait_until_finished(trainer_server.client, start(services, trainer_server, training_config()))
    assert good.is_done, good.exception


def test_running_job_cannot_be_stored_and_a_retried_start_returns_the_same_job(
    services: Services, trainer_server: TrainerServer, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    config = training_config()
    config["data"]["bytes_parser_function"] = blocking_parser(flag)
    pipeline_id, trigger_id, _ = services.new_trigger(config)
    training_id = trainer_server.client.start_training(pipeline_id, trigger_id, config, None)
    try:
        assert trainer_server.client.start_training(pipeline_id, trigger_id, config, None) == training_id
        assert trainer_server.client.status(training_id).is_running
        with pytest.raises(grpc.RpcError) as info:
            trainer_server.client.store_final_model(training_id)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "still running" in info.value.details()
    finally:
        flag.touch()
    assert wait_until_finished(trainer_server.client, training_id).is_done


def test_a_shape_mismatch_fails_the_job_with_torch_s_message(services: Services, trainer_server: TrainerServer) -> None:
    config = training_config(dataloader_workers=1)
    config["model"]["config"]["input_dim"] = NUM_FEATURES + 1
    status = wait_until_finished(trainer_server.client, start(services, trainer_server, config))
    assert status.failed and status.exception.startswith("RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert wait_until_finished(trainer_server.client, start(services, trainer_server, training_config())).is_done


def test_bad_requests_get_clear_status_codes(trainer_server: TrainerServer) -> None:
    stub = trainer_server.client.stub
    cases = [
        (pb.StartTrainingRequest(pipeline_id=1, trigger_id=0, pipeline_config="{not json"), "not valid JSON"),
        (pb.StartTrainingRequest(pipeline_id=1, trigger_id=0, pipeline_config="[1, 2]"), "must be a JSON object"),
        (
            pb.StartTrainingRequest(pipeline_id=1, trigger_id=0, pipeline_config='{"model": {"id": "Dummy"}}'),
            "training",
        ),
    ]
    for request, message in cases:
        with pytest.raises(grpc.RpcError) as info:
            stub.StartTraining(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in info.value.details()

    bad_model = training_config()
    bad_model["model"]["id"] = "NoSuchNet"
    with pytest.raises(grpc.RpcError) as info:
        trainer_server.client.start_training(1, 0, bad_model, None)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model.id: unknown model 'NoSuchNet'" in info.value.details()

    for call in (trainer_server.client.status, trainer_server.client.store_final_model):
        with pytest.raises(grpc.RpcError) as info:
            call(987654)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert "training 987654 is unknown" in info.value.details()


# --- the manager's own lifecycle ------------------------------------------------------------------


def test_training_ids_are_not_reused_after_a_restart(trainer_server: TrainerServer, tmp_path: Path) -> None:
    config = json.loads(json.dumps(trainer_server.manager_config))
    config["trainer_server"]["scratch_directory"] = str(tmp_path / "scratch")
    first = TrainingManager(config)
    used = first._allocate_id(), first._allocate_id()
    second = TrainingManager(config)
    assert second._allocate_id() > max(used)
    with pytest.raises(UnknownTrainingError):
        second.status(used[0])


def test_shutdown_terminates_running_jobs(services: Services, trainer_server: TrainerServer, tmp_path: Path) -> None:
    config = json.loads(json.dumps(trainer_server.manager_config))
    config["trainer_server"]["scratch_directory"] = str(tmp_path / "scratch")
    manager = TrainingManager(config)
    pipeline = training_config()
    pipeline["data"]["bytes_parser_function"] = blocking_parser(tmp_path / "never")
    pipeline_id, trigger_id, _ = services.new_trigger(pipeline)
    training_id = manager.start_training(pipeline_id, trigger_id, pipeline, -1)
    assert manager.status(training_id).is_running
    manager.shutdown()
    status = manager.status(training_id)
    assert status.failed and "shut down" in status.exception
    assert not manager._jobs[training_id].process.is_alive()
