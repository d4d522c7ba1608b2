"""The training options of the pipeline config, each reaching the loop: optimizers, LR schedulers,
AMP, num_samples_to_pass, drop_last_batch, loss curve, per-sample loss metadata, checkpoints,
pretrained initial models, and trainer-side downsampling. The Trainer runs in-process against the
real services that conftest.py starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from test_trainer_server import local_spec, training_config
from trainer_test_helpers import NUM_RECORDS, SCALED_BYTES_PARSER, Services

from modyn.models import build_model
from modyn.trainer_server.downsampling import target_size
from modyn.trainer_server.trainer import Trainer, TrainingResult
from modyn.trainer_server.training_setup import (
    TrainingConfigError,
    autocast_context,
    build_lr_schedulers,
    build_optimizers,
)

_next_id = iter(range(10_000, 20_000))


@pytest.fixture(scope="module")
def trigger(services: Services) -> tuple[int, int]:
    pipeline_id, trigger_id, _ = services.new_trigger(training_config())
    return pipeline_id, trigger_id


def run(
    services: Services, trigger: tuple[int, int], tmp_path: Path, config: dict[str, Any]
) -> tuple[Trainer, TrainingResult]:
    trainer = Trainer(local_spec(services, config, *trigger, next(_next_id), tmp_path))
    return trainer, trainer.run()


def sgd(lr: float = 0.05, name: str = "default", module: str = "model") -> dict[str, Any]:
    return {"name": name, "algorithm": "SGD", "param_groups": [{"module": module, "config": {"lr": lr}}]}


@pytest.mark.parametrize(
    ("algorithm", "config"),
    [
        ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.01}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
        ("Adamax", {"lr": 0.01}),
        ("Adagrad", {"lr": 0.05}),
        ("Adadelta", {"lr": 1.0}),
        ("Adafactor", {"lr": 0.01}),
        ("ASGD", {"lr": 0.05}),
        ("NAdam", {"lr": 0.01}),
        ("RAdam", {"lr": 0.01}),
        ("RMSprop", {"lr": 0.01}),
        ("Rprop", {"lr": 0.01}),
        ("LBFGS", {"lr": 0.1, "max_iter": 2}),
    ],
)
def test_every_dense_torch_optimizer_trains(
    services: Services, trigger: tuple[int, int], tmp_path: Path, algorithm: str, config: dict[str, Any]
) -> None:
    cfg = training_config(
        batch_size=50, optimizers=[{"name": "o", "algorithm": algorithm, "param_groups": [{"config": config}]}]
    )
    trainer, result = run(services, trigger, tmp_path, cfg)
    [optimizer] = trainer.optimizers
    assert type(optimizer).__name__ == algorithm
    assert result.samples_seen == result.samples_trained == NUM_RECORDS
    initial = build_model("Dummy", cfg["model"]["config"])
    torch.manual_seed(7)  # the job's seed: the same initial weights
    initial = build_model("Dummy", cfg["model"]["config"])
    trained = torch.load(result.model_path, weights_only=True)
    assert not torch.equal(trained["output.weight"], initial.output.weight.detach())


def test_sparse_adam_and_muon_are_built_for_their_parameter_kinds() -> None:
    model = build_model("DLRM", {"num_dense_features": 2, "embedding_sizes": [5], "embedding_dim": 4, "sparse": True})
    optimizers = build_optimizers(
        model,
        [
            {
                "name": "emb",
                "algorithm": "SparseAdam",
                "param_groups": [{"module": "embeddings", "config": {"lr": 0.1}}],
            },
            {"name": "mlp", "algorithm": "Adam", "param_groups": [{"module": "top_mlp"}, {"module": "bottom_mlp"}]},
        ],
    )
    assert [type(o).__name__ for o in optimizers] == ["SparseAdam", "Adam"]
    with pytest.raises(TrainingConfigError, match=r"training.optimizers\[0\]: cannot create Muon"):
        build_optimizers(build_model("Dummy", {}), [{"name": "m", "algorithm": "Muon", "param_groups": [{}]}])


def test_lr_scheduler_per_batch_and_per_epoch_and_only_for_named_optimizers(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    # 200 samples in batches of 50: 4 batches per epoch, 2 epochs.
    step_lr = {"name": "StepLR", "config": {"step_size": 1, "gamma": 0.5}}
    trainer, _ = run(
        services,
        trigger,
        tmp_path,
        training_config(batch_size=50, epochs_per_trigger=2, lr_scheduler={**step_lr, "step_every": "batch"}),
    )
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**8)
    two = [sgd(0.1, "head"), sgd(0.2, "other")]
    trainer, _ = run(
        services,
        trigger,
        tmp_path,
        training_config(
            batch_size=50, epochs_per_trigger=2, optimizers=two, lr_scheduler={**step_lr, "optimizers": ["other"]}
        ),
    )
    assert [o.param_groups[0]["lr"] for o in trainer.optimizers] == pytest.approx([0.1, 0.2 * 0.5**2])
    # A metric-driven scheduler gets the epoch's mean loss.
    trainer, _ = run(
        services,
        trigger,
        tmp_path,
        training_config(
            batch_size=50,
            epochs_per_trigger=3,
            optimizers=[sgd(0.0)],
            lr_scheduler={"name": "ReduceLROnPlateau", "config": {"patience": 0, "factor": 0.1}},
        ),
    )
    assert trainer.optimizers[0].param_groups[0]["lr"] == 0.0  # lr 0: loss constant, but it stepped
    assert trainer.schedulers[0].scheduler.num_bad_epochs == 0 and trainer.schedulers[0].scheduler.last_epoch == 3


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "NoSuchLR"}, "'NoSuchLR' is not a scheduler"),
        ({"name": "LambdaLR"}, "cannot be configured"),
        ({"name": "StepLR", "config": {}}, r"training.lr_scheduler.config: cannot create StepLR"),
        ({"name": "StepLR", "config": {"step_size": 1}, "optimizers": ["nope"]}, "no optimizer named 'nope'"),
    ],
)
def test_bad_lr_schedulers_are_named(config: dict[str, Any], message: str) -> None:
    optimizers = build_optimizers(build_model("Dummy", {}), [sgd()])
    with pytest.raises(TrainingConfigError, match=message):
        build_lr_schedulers(config, optimizers, ["default"])


def test_amp_autocasts_to_bfloat16_on_cpu_and_trains(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    with autocast_context(torch.device("cpu"), True):
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.bfloat16
    with autocast_context(torch.device("cpu"), False):
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.float32
    trainer, result = run(services, trigger, tmp_path, training_config(amp=True, epochs_per_trigger=3))
    assert not trainer.scaler.is_enabled()  # a grad scaler only for float16 on CUDA
    assert result.samples_trained == 3 * NUM_RECORDS and result.mean_loss == result.mean_loss


def test_num_samples_to_pass_drop_last_and_loss_curve(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    trainer, result = run(
        services, trigger, tmp_path, training_config(batch_size=64, num_samples_to_pass=250, record_loss_every=2)
    )
    # 200 + 50 samples: batches 64, 64, 64, 8 | 50 (cut from 64) -> 5 batches, curve of batches 2 and 4.
    assert result.samples_seen == result.samples_trained == 250
    assert trainer.progress.get()["total_samples"] == 250 and trainer.progress.get()["epoch"] == 1
    assert len(result.loss_curve) == 2
    _, dropped = run(services, trigger, tmp_path, training_config(batch_size=64, drop_last_batch=True))
    assert dropped.samples_seen == 192


def test_per_sample_losses_reach_the_metadata_database(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    config = training_config(batch_size=32, optimizers=[sgd(0.0)], record_per_sample_loss=True)
    _, result = run(services, trigger, tmp_path, config)
    metadata = services.metadata_processor.get_training_metadata(*trigger)
    stored = {m.sample_key: m.loss for m in metadata.sample_metadata}
    assert set(stored) == set(services.key_of_record.values())
    # lr 0: the model never changed, so each loss is the saved model's loss on that sample.
    model = build_model("Dummy", config["model"]["config"])
    model.load_state_dict(torch.load(result.model_path, weights_only=True))
    from trainer_test_helpers import record_features, record_label

    for record, key in services.key_of_record.items():
        x = torch.tensor([record_features(record)]) / NUM_RECORDS
        expected = torch.nn.functional.cross_entropy(model(x), torch.tensor([record_label(record)]))
        assert stored[key] == pytest.approx(expected.item(), rel=1e-5)
    assert metadata.trigger_metadata.loss == pytest.approx(sum(stored.values()) / len(stored), rel=1e-5)


def test_checkpoints_every_n_batches(services: Services, trigger: tuple[int, int], tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    config = training_config(batch_size=50, checkpointing={"activated": True, "interval": 3, "path": str(folder)})
    trainer, _ = run(services, trigger, tmp_path, config)
    files = sorted(p.name for p in (folder / f"pipeline_{trigger[0]}" / f"trigger_{trigger[1]}").iterdir())
    assert files == ["checkpoint_batch_00000003.pt"]  # 4 batches, every 3rd
    checkpoint = torch.load(folder / f"pipeline_{trigger[0]}" / f"trigger_{trigger[1]}" / files[0], weights_only=False)
    assert (checkpoint["batches"], checkpoint["samples_seen"], checkpoint["epoch"]) == (3, 150, 0)
    assert set(checkpoint["model"]) == {"output.weight", "output.bias"} and len(checkpoint["optimizers"]) == 1


def test_pretrained_initial_model(services: Services, trigger: tuple[int, int], tmp_path: Path) -> None:
    _, first = run(services, trigger, tmp_path, training_config())
    model_id = services.model_storage.store_model_file(
        first.model_path, trigger[0], trigger[1], "Dummy", training_config()["model"]["config"]
    )
    frozen = training_config(optimizers=[sgd(0.0)], initial_model="pretrained", initial_model_id=model_id, seed=99)
    _, second = run(services, trigger, tmp_path, frozen)
    a, b = (torch.load(r.model_path, weights_only=True) for r in (first, second))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_shape_mismatch_fails_with_the_torch_message(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    config = training_config()
    config["model"]["config"]["input_dim"] = 5
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        run(services, trigger, tmp_path, config)


# --- downsampling ---------------------------------------------------------------------------


def with_downsampling(config: dict[str, Any], **downsampling: Any) -> dict[str, Any]:
    defaults = {"sample_then_batch": False, "ratio": 50, "period": 1, "score_metric": "LeastConfidence"}
    config["selection_strategy"]["downsampling_config"] = {**defaults, **downsampling}
    return config


@pytest.mark.parametrize("strategy", ["Loss", "GradNorm", "Uncertainty", "KcenterGreedy", "RS2"])
def test_batch_then_sample_trains_on_ratio_of_every_batch(
    services: Services, trigger: tuple[int, int], tmp_path: Path, strategy: str
) -> None:
    config = with_downsampling(training_config(batch_size=30, record_per_sample_loss=True), strategy=strategy, ratio=40)
    _, result = run(services, trigger, tmp_path, config)
    batches = [30] * 6 + [20]
    assert result.samples_seen == NUM_RECORDS
    assert result.samples_trained == sum(target_size(b, 40) for b in batches) == 12 * 6 + 8
    assert len(result.per_sample_losses) == result.samples_trained  # the trained samples only


@pytest.mark.parametrize("strategy", ["Loss", "GradNorm", "Uncertainty", "KcenterGreedy", "RS2"])
def test_sample_then_batch_trains_on_the_selection(
    services: Services, trigger: tuple[int, int], tmp_path: Path, strategy: str
) -> None:
    config = with_downsampling(
        training_config(batch_size=16, epochs_per_trigger=2, record_per_sample_loss=True),
        strategy=strategy,
        ratio=25,
        sample_then_batch=True,
        period=1,
    )
    trainer, result = run(services, trigger, tmp_path, config)
    assert result.samples_seen == result.samples_trained == 2 * 50
    assert trainer.progress.get()["total_samples"] == 100
    assert trainer.progress.get()["time_downsample_s"] > 0
    assert len(result.per_sample_losses) >= 50
    assert not trainer.spec.selection_path.exists()  # cleaned up


def test_rs2_sample_then_batch_walks_through_all_samples(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    config = with_downsampling(
        training_config(batch_size=50, epochs_per_trigger=2, record_per_sample_loss=True),
        strategy="RS2",
        ratio=50,
        sample_then_batch=True,
    )
    _, result = run(services, trigger, tmp_path, config)
    # Two epochs of 50 % without replacement: every sample exactly once.
    assert set(result.per_sample_losses) == set(services.key_of_record.values())


def test_rho_loss_holds_out_part_and_trains_on_the_rest(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    config = with_downsampling(
        training_config(batch_size=30, record_per_sample_loss=True),
        strategy="RHOLoss",
        ratio=50,
        holdout_set_ratio=10,
        il_training_epochs=2,
    )
    trainer, result = run(services, trigger, tmp_path, config)
    assert result.samples_seen == 180  # 20 held out for the irreducible-loss model
    assert result.samples_trained == sum(target_size(b, 50) for b in [30] * 6) == 90
    assert trainer.progress.get()["total_samples"] == 180
    stb = with_downsampling(
        training_config(batch_size=30), strategy="RHOLoss", ratio=50, sample_then_batch=True, holdout_set_ratio=10
    )
    _, result = run(services, trigger, tmp_path, stb)
    assert result.samples_seen == result.samples_trained == 90


def test_same_seed_same_model_with_downsampling_and_workers(services: Services, tmp_path: Path) -> None:
    pipeline_id, trigger_id, _ = services.new_trigger(training_config(dataloader_workers=2, batch_size=20))
    config = with_downsampling(training_config(dataloader_workers=2, batch_size=20), strategy="Loss", ratio=50)
    config["data"]["bytes_parser_function"] = SCALED_BYTES_PARSER
    states = []
    for _ in range(2):
        trainer = Trainer(local_spec(services, config, pipeline_id, trigger_id, next(_next_id), tmp_path))
        states.append(torch.load(trainer.run().model_path, weights_only=True))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_warmup_triggers_train_without_downsampling(
    services: Services, trigger: tuple[int, int], tmp_path: Path
) -> None:
    config = with_downsampling(training_config(batch_size=50), strategy="Loss", ratio=50)
    config["selection_strategy"]["warmup_triggers"] = trigger[1] + 1
    _, result = run(services, trigger, tmp_path, config)
    assert result.samples_trained == NUM_RECORDS
    config["selection_strategy"]["warmup_triggers"] = trigger[1]
    _, result = run(services, trigger, tmp_path, config)
    assert result.samples_trained == NUM_RECORDS // 2
