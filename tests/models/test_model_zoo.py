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
    ("ResNet50", {"num_classes": 6}, (3, 32, 32), 6),
]
DLRM_CONFIG = {"num_dense_features": 4, "embedding_sizes": [10, 20, 30], "embedding_dim": 8, "bottom_mlp": [16]}


def dlrm_inputs(batch: int) -> dict[str, torch.Tensor]:
    return {"numerical_input": torch.randn(batch, 4), "categorical_input": torch.randint(0, 1000, (batch, 3))}


def test_every_registered_model_is_covered() -> None:
    assert {case[0] for case in CASES} | {"DLRM"} == set(MODEL_REGISTRY)


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


def test_resnet50_has_the_standard_parameter_count() -> None:
    # torchvision's resnet50 (1000 classes) has 25,557,032 parameters.
    model = build_model("ResNet50", {"num_classes": 1000})
    assert sum(p.numel() for p in model.parameters()) == 25_557_032


def test_dlrm_interaction_shapes_and_learning() -> None:
    torch.manual_seed(3)
    model = build_model("DLRM", DLRM_CONFIG)
    # 1 dense vector + 3 embeddings = 4 vectors: 6 pairwise dot products after the 8-dim dense vector.
    assert model.top_mlp[0].in_features == 8 + 6
    assert [e.num_embeddings for e in model.embeddings] == [10, 20, 30]
    inputs = dlrm_inputs(16)
    labels = (inputs["numerical_input"][:, 0] > 0).float()
    out = model(inputs)
    assert out.shape == (16,)
    # Indices are hashed into the tables: 1007 and 7 hit the same row of the 10-row table.
    same = {"numerical_input": torch.zeros(2, 4), "categorical_input": torch.tensor([[7, 3, 3], [1007, 3, 3]])}
    model.eval()
    with torch.no_grad():
        a, b = model(same)
    assert a == b
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    criterion = torch.nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="expects 3 categorical features, got 2"):
        model({"numerical_input": torch.zeros(1, 4), "categorical_input": torch.zeros(1, 2, dtype=torch.long)})
    with pytest.raises(ValueError, match="must be positive"):
        build_model("DLRM", {**DLRM_CONFIG, "embedding_sizes": [0]})
