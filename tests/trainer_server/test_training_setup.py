"""Building optimizers, criteria and devices from the pipeline's training section; error texts."""

from __future__ import annotations

import math
import multiprocessing

import pytest
import torch

from modyn.models import build_model
from modyn.trainer_server.trainer import (
    ProgressBoard,
    TrainingConfigError,
    batch_loss,
    build_criterion,
    build_optimizers,
    describe_exception,
    resolve_device,
    to_device,
)


def _resnet() -> torch.nn.Module:
    return build_model("ResNet18", {"num_classes": 3})


def test_one_sgd_optimizer_over_the_whole_model() -> None:
    model = build_model("MLP", {"input_dim": 4, "hidden_dims": [8], "num_classes": 2})
    [optimizer] = build_optimizers(
        model,
        [
            {
                "name": "default",
                "algorithm": "SGD",
                "param_groups": [{"module": "model", "config": {"lr": 0.1, "momentum": 0.9}}],
            }
        ],
    )
    assert isinstance(optimizer, torch.optim.SGD)
    assert len(optimizer.param_groups) == 1
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.1 and group["momentum"] == 0.9
    assert {id(p) for p in group["params"]} == {id(p) for p in model.parameters()}


def test_param_groups_by_dotted_submodule_and_several_optimizers() -> None:
    model = _resnet()
    optimizers = build_optimizers(
        model,
        [
            {
                "name": "backbone",
                "algorithm": "Adam",
                "param_groups": [
                    {"module": "layer1.0", "config": {"lr": 0.001}},
                    {"module": "layer2", "config": {"lr": 0.002}},
                ],
            },
            {"name": "head", "algorithm": "SGD", "param_groups": [{"module": "fc", "config": {"lr": 0.5}}]},
        ],
    )
    adam, sgd = optimizers
    assert isinstance(adam, torch.optim.Adam) and isinstance(sgd, torch.optim.SGD)
    assert [g["lr"] for g in adam.param_groups] == [0.001, 0.002]
    assert {id(p) for p in adam.param_groups[0]["params"]} == {id(p) for p in model.layer1[0].parameters()}
    assert {id(p) for p in adam.param_groups[1]["params"]} == {id(p) for p in model.layer2.parameters()}
    assert {id(p) for p in sgd.param_groups[0]["params"]} == {id(model.fc.weight), id(model.fc.bias)}


def test_default_module_is_the_whole_model() -> None:
    model = build_model("Dummy", {})
    [optimizer] = build_optimizers(model, [{"name": "x", "algorithm": "Adagrad", "param_groups": [{}]}])
    assert isinstance(optimizer, torch.optim.Adagrad)
    assert len(optimizer.param_groups[0]["params"]) == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "x", "algorithm": "NoSuchOptimizer", "param_groups": [{}]},
            r"optimizers\[0\]\.algorithm: 'NoSuchOptimizer'",
        ),
        ({"name": "x", "algorithm": "Optimizer", "param_groups": [{}]}, "not an optimizer"),
        ({"name": "x", "algorithm": "lr_scheduler", "param_groups": [{}]}, "not an optimizer"),
        ({"name": "x", "algorithm": "SGD", "param_groups": [{"module": "nope.layer"}]}, "no submodule 'nope.layer'"),
        ({"name": "x", "algorithm": "SGD", "param_groups": [{"config": {"lr": 0.1, "bogus": 1}}]}, "cannot create SGD"),
        ({"name": "x", "algorithm": "SGD", "param_groups": [{"config": {"lr": -1.0}}]}, "cannot create SGD"),
        ({"name": "x", "algorithm": "SGD", "param_groups": []}, "at least one group"),
        ({"name": "x", "algorithm": "SGD", "source": "Apex", "param_groups": [{}]}, "unsupported optimizer source"),
    ],
)
def test_bad_optimizer_configs_give_clear_errors(entry: dict, message: str) -> None:
    with pytest.raises(TrainingConfigError, match=message):
        build_optimizers(build_model("Dummy", {}), [entry])


def test_criterion_from_config() -> None:
    criterion = build_criterion({"name": "CrossEntropyLoss", "config": {"label_smoothing": 0.1}})
    assert isinstance(criterion, torch.nn.CrossEntropyLoss)
    assert criterion.label_smoothing == 0.1
    assert isinstance(build_criterion({"name": "MSELoss"}), torch.nn.MSELoss)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "NoSuchLoss"}, "'NoSuchLoss' is not a loss in torch.nn"),
        ({"name": "functional"}, "not a loss"),
        ({"name": "CrossEntropyLoss", "config": {"bogus": 1}}, "cannot create CrossEntropyLoss"),
    ],
)
def test_bad_criterion_configs_give_clear_errors(config: dict, message: str) -> None:
    with pytest.raises(TrainingConfigError, match=message):
        build_criterion(config)


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingConfigError, match="no CUDA device"):
            resolve_device("cuda:0")


def test_to_device_moves_nested_tensors() -> None:
    moved = to_device({"a": torch.ones(2), "b": [torch.zeros(1), 3]}, torch.device("cpu"))
    assert torch.equal(moved["a"], torch.ones(2)) and moved["b"][1] == 3


def test_describe_exception_plain_and_dataloader_wrapped() -> None:
    assert describe_exception(ValueError("bad thing")) == "ValueError: bad thing"
    wrapped = RuntimeError(
        "Caught SampleParseError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n'
        "modyn.trainer_server.online_dataset.SampleParseError: bytes_parser_function failed on sample 3\n"
    )
    assert describe_exception(wrapped) == "SampleParseError: bytes_parser_function failed on sample 3"


def test_progress_board_over_a_shared_array() -> None:
    array = ProgressBoard.new_shared_array(multiprocessing.get_context("spawn"))
    board = ProgressBoard(array)
    assert board.get()["samples_seen"] == 0 and math.isnan(board.get()["current_loss"])
    board.set(samples_seen=64, current_loss=1.5)
    again = ProgressBoard.__new__(ProgressBoard)
    again.array = array
    assert again.get()["samples_seen"] == 64 and again.get()["current_loss"] == 1.5


def test_batch_loss_weights_samples_only_when_weights_differ() -> None:
    criterion = torch.nn.CrossEntropyLoss()
    per_sample = torch.nn.CrossEntropyLoss(reduction="none")
    outputs = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    targets = torch.tensor([0, 0, 1])
    losses = per_sample(outputs, targets)
    plain = batch_loss(criterion, per_sample, outputs, targets, None)
    assert plain.item() == pytest.approx(losses.mean().item())
    ones = torch.ones(3, dtype=torch.float64)
    assert batch_loss(criterion, per_sample, outputs, targets, ones).item() == pytest.approx(plain.item())
    weights = torch.tensor([1.0, 0.0, 3.0], dtype=torch.float64)
    expected = (losses[0] + 3 * losses[2]) / 4
    assert batch_loss(criterion, per_sample, outputs, targets, weights).item() == pytest.approx(expected.item())
