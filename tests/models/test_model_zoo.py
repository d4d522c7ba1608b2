"""The model zoo: every registered model builds from config, has the right output shape and learns."""

from __future__ import annotations

import pytest
import torch

from modyn.models import MODEL_REGISTRY, build_model

# (model id, config, input shape without batch, num_classes)
CASES = [
    ("Dummy", {}, (2,), 2),
    ("Dummy", {"input_dim": 5, "num_classes": 3}, (5,), 3),
    ("MLP", {"input_dim": 784, "hidden_dims": [32, 16], "num_classes": 10}, (1, 28, 28), 10),
    ("MLP", {"input_dim": 8, "hidden_dims": [], "num_classes": 4}, (8,), 4),
    ("SmallCNN", {}, (1, 28, 28), 10),
    ("SmallCNN", {"in_channels": 3, "num_classes": 5}, (3, 32, 32), 5),
    ("SmallCNN", {"in_channels": 1, "num_classes": 2}, (1, 13, 17), 2),
    ("ResNet18", {"num_classes": 10}, (3, 32, 32), 10),
    ("ResNet18", {"num_classes": 7, "in_channels": 1}, (1, 28, 28), 7),
]


def test_every_registered_model_is_covered() -> None:
    assert {case[0] for case in CASES} == set(MODEL_REGISTRY)


@pytest.mark.parametrize(("model_id", "config", "shape", "num_classes"), CASES)
def test_output_shape(model_id: str, config: dict, shape: tuple[int, ...], num_classes: int) -> None:
    torch.manual_seed(0)
    model = build_model(model_id, config)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(3, *shape))
    assert out.shape == (3, num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("model_id", "config", "shape", "num_classes", "lr"),
    [
        ("Dummy", {"input_dim": 4, "num_classes": 3}, (4,), 3, 0.5),
        ("MLP", {"input_dim": 16, "hidden_dims": [32], "num_classes": 4}, (16,), 4, 0.1),
        ("SmallCNN", {"in_channels": 1, "num_classes": 4}, (1, 12, 12), 4, 0.05),
        ("ResNet18", {"num_classes": 4, "in_channels": 3}, (3, 32, 32), 4, 0.01),
    ],
)
def test_sgd_steps_lower_the_loss(model_id: str, config: dict, shape: tuple, num_classes: int, lr: float) -> None:
    torch.manual_seed(1)
    model = build_model(model_id, config)
    model.train()
    inputs = torch.randn(8, *shape)
    labels = torch.arange(8) % num_classes
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()

    def step() -> float:
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    first = step()
    for _ in range(15):
        last = step()
    assert last < first * 0.8, f"{model_id}: loss {first:.3f} -> {last:.3f}"


def test_state_dict_round_trip_gives_same_outputs() -> None:
    torch.manual_seed(2)
    a = build_model("SmallCNN", {"num_classes": 3})
    b = build_model("SmallCNN", {"num_classes": 3})
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 28, 28)
    a.eval()
    b.eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_resnet18_has_the_standard_parameter_count() -> None:
    # torchvision's resnet18 (1000 classes) has 11,689,512 parameters; the architecture must match.
    model = build_model("ResNet18", {"num_classes": 1000})
    assert sum(p.numel() for p in model.parameters()) == 11_689_512


def test_bad_model_config_names_the_model() -> None:
    with pytest.raises(ValueError, match="MLP"):
        build_model("MLP", {"input_dim": 4, "bogus": 1})
    with pytest.raises(ValueError, match="unknown model 'Nope'"):
        build_model("Nope", {})
    with pytest.raises(ValueError, match="must be positive"):
        build_model("MLP", {"input_dim": 0})
