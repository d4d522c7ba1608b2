"""Each downsampler's choice on tiny, hand-computed inputs: exact indices and weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from modyn.trainer_server.downsampling import DOWNSAMPLERS, DownsamplingContext, ScoringBatch, build_downsampler
from modyn.trainer_server.downsampling.base import importance_sample, target_size
from modyn.trainer_server.downsampling.kcenter_greedy import k_center_greedy
from modyn.trainer_server.downsampling.rho_loss import RHOLossDownsampler
from modyn.trainer_server.downsampling.uncertainty import uncertainty_scores
from modyn.trainer_server.trainer import _EmbeddingRecorder

CE = nn.CrossEntropyLoss(reduction="none")


def context(seed: int = 0) -> DownsamplingContext:
    return DownsamplingContext(CE, torch.device("cpu"), seed)


def make(strategy: str, ratio: int, **config: object) -> object:
    return build_downsampler({"strategy": strategy, "ratio": ratio, **config}, context())


def batch(outputs: torch.Tensor, targets: torch.Tensor, keys: list[int] | None = None, **extra: object) -> ScoringBatch:
    keys = keys if keys is not None else list(range(100, 100 + len(targets)))
    return ScoringBatch(keys, extra.pop("inputs", None), targets, outputs, CE(outputs, targets), **extra)  # type: ignore[arg-type]


def tiny_model_outputs() -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed 2->2 linear model on four inputs: samples 0 and 2 are predicted (near) perfectly."""
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[100.0, 0.0], [0.0, 100.0]]))
    inputs = torch.tensor([[1.0, -1.0], [0.01, 0.0], [-1.0, 1.0], [0.0, 0.02]])
    targets = torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        return model(inputs), targets


def test_target_size() -> None:
    assert [target_size(n, 50) for n in (0, 1, 2, 3, 10)] == [0, 1, 1, 1, 5]
    assert target_size(7, 100) == 7 and target_size(200, 1) == 2


def test_registry_names_match_classes() -> None:
    assert {name: cls.name for name, cls in DOWNSAMPLERS.items()} == {name: name for name in DOWNSAMPLERS}
    with pytest.raises(ValueError, match="unknown downsampler 'Nope'"):
        build_downsampler({"strategy": "Nope"}, context())
    with pytest.raises(ValueError, match="Loss needs per-sample losses"):
        build_downsampler({"strategy": "Loss"}, DownsamplingContext(None, torch.device("cpu"), 0))


def test_loss_importance_sampling_picks_the_lossy_samples_with_corrective_weights() -> None:
    outputs, targets = tiny_model_outputs()
    losses = CE(outputs, targets)
    assert losses[0] == 0 and losses[2] == 0 and losses[1] > 0 and losses[3] > 0
    downsampler = make("Loss", 50)
    downsampler.inform(batch(outputs, targets))
    indices, weights = downsampler.select()
    order = sorted(range(len(indices)), key=lambda i: indices[i])
    assert [indices[i] for i in order] == [1, 3]
    p = losses / losses.sum()
    expected = [1 / (4 * p[1].item()), 1 / (4 * p[3].item())]
    assert [weights[i].item() for i in order] == pytest.approx(expected, rel=1e-5)


def test_importance_sampling_is_seeded_and_handles_zero_scores() -> None:
    scores = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    a = importance_sample(scores, 3, torch.Generator().manual_seed(5))
    b = importance_sample(scores, 3, torch.Generator().manual_seed(5))
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    # All zero: uniform, weight 1 each.
    indices, weights = importance_sample(torch.zeros(4), 2, torch.Generator().manual_seed(0))
    assert len(set(indices)) == 2 and weights.tolist() == [1.0, 1.0]
    # More wanted than positive scores: every positive one, then zero-score fillers.
    indices, weights = importance_sample(torch.tensor([0.0, 3.0, 0.0, 1.0]), 3, torch.Generator())
    assert indices[:2] == [1, 3] and indices[2] in (0, 2)
    assert weights.tolist() == pytest.approx([1 / 3, 1.0, 1.0])


def test_gradnorm_picks_the_samples_with_nonzero_logit_gradients() -> None:
    outputs, targets = tiny_model_outputs()
    downsampler = make("GradNorm", 50)
    downsampler.inform(batch(outputs, targets))
    indices, weights = downsampler.select()
    # CE's gradient w.r.t. the logits is softmax - onehot: exactly 0 for samples 0 and 2.
    grads = torch.softmax(outputs, 1) - nn.functional.one_hot(targets, 2)
    norms = grads.norm(dim=1)
    assert norms[0] == 0 and norms[2] == 0
    order = sorted(range(2), key=lambda i: indices[i])
    assert [indices[i] for i in order] == [1, 3]
    p = norms / norms.sum()
    assert [weights[i].item() for i in order] == pytest.approx([1 / (4 * p[1].item()), 1 / (4 * p[3].item())], rel=1e-5)


@pytest.mark.parametrize(("metric", "expected"), [("LeastConfidence", 1), ("Margin", 0), ("Entropy", 1)])
def test_uncertainty_metrics_rank_differently(metric: str, expected: int) -> None:
    probabilities = torch.tensor([[0.5, 0.5, 0.0], [0.4, 0.3, 0.3], [0.9, 0.05, 0.05]])
    logits = torch.log(probabilities.clamp_min(1e-9))
    scores = uncertainty_scores(logits, metric)
    manual = {
        "LeastConfidence": [0.5, 0.6, 0.1],
        "Margin": [1.0, 0.9, 0.15],
        "Entropy": [
            math.log(2),
            -(0.4 * math.log(0.4) + 0.6 * math.log(0.3)),
            -(0.9 * math.log(0.9) + 0.1 * math.log(0.05)),
        ],
    }[metric]
    assert scores.tolist() == pytest.approx(manual, abs=1e-5)
    downsampler = make("Uncertainty", 34, score_metric=metric)
    downsampler.inform(batch(logits, torch.tensor([0, 0, 0])))
    indices, weights = downsampler.select()
    assert indices == [expected] and weights.tolist() == [1.0]


def test_uncertainty_over_several_batches_and_binary_logits() -> None:
    downsampler = make("Uncertainty", 50)
    downsampler.inform(batch(torch.tensor([[3.0, 0.0], [0.0, 0.1]]), torch.tensor([0, 1]), keys=[1, 2]))
    downsampler.inform(batch(torch.tensor([[0.0, 0.0], [5.0, 0.0]]), torch.tensor([0, 0]), keys=[3, 4]))
    indices, _ = downsampler.select()
    assert [downsampler.keys[i] for i in indices] == [3, 2]  # p_max 0.5, then 0.525
    # One logit per sample (binary): sigmoid probabilities.
    assert uncertainty_scores(torch.tensor([[0.0], [10.0]]), "LeastConfidence").tolist() == pytest.approx(
        [0.5, 1 - torch.sigmoid(torch.tensor(10.0)).item()]
    )


def test_kcenter_greedy_covers_the_points() -> None:
    points = torch.tensor([[0.0], [1.0], [2.0], [3.0], [100.0]])
    # Start closest to the mean (21.2): point 3; then the farthest, 100; then 0 (3 away from point 3).
    assert k_center_greedy(points, 3) == [3, 4, 0]
    downsampler = make("KcenterGreedy", 60)
    downsampler.inform(
        ScoringBatch([10, 11, 12], None, None, torch.zeros(3, 2), None, embeddings=points[:3]),
    )
    downsampler.inform(ScoringBatch([13, 14], None, None, torch.zeros(2, 2), None, embeddings=points[3:]))
    indices, weights = downsampler.select()
    assert [downsampler.keys[i] for i in indices] == [13, 14, 10] and weights.tolist() == [1.0, 1.0, 1.0]


def test_embeddings_are_the_input_of_the_last_linear_layer() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    recorder = _EmbeddingRecorder(model)
    x = torch.randn(4, 2)
    model(x)
    assert recorder.value is None  # only while active
    recorder.active = True
    model(x)
    assert recorder.value is not None and torch.equal(recorder.value, torch.relu(model[0](x)).detach())


def test_rs2_without_replacement_uses_every_sample_before_repeating() -> None:
    downsampler = make("RS2", 40)
    assert not downsampler.needs_forward
    keys = [50, 51, 52, 53, 54]
    rounds = []
    for _ in range(3):
        downsampler.reset()
        downsampler.inform(ScoringBatch(keys, None, None, None, None))
        indices, weights = downsampler.select()
        assert len(indices) == 2 and weights.tolist() == [1.0, 1.0]
        rounds.append([keys[i] for i in indices])
    first_five = rounds[0] + rounds[1] + rounds[2][:1]
    assert len(set(rounds[0] + rounds[1])) == 4
    assert set(rounds[0] + rounds[1]) | set(rounds[2]) == set(keys)
    assert len(set(rounds[2])) == 2 and len(first_five) == 5
    # Seeded: the same walk again.
    again = make("RS2", 40)
    again.inform(ScoringBatch(keys, None, None, None, None))
    assert [keys[i] for i in again.select()[0]] == rounds[0]


def test_rs2_with_replacement_draws_independently() -> None:
    downsampler = make("RS2", 60, with_replacement=True)
    downsampler.inform(ScoringBatch(list(range(10)), None, None, None, None))
    picks = [tuple(downsampler.select()[0]) for _ in range(5)]
    assert all(len(set(p)) == 6 for p in picks) and len(set(picks)) > 1


def test_rho_loss_prefers_learnable_points() -> None:
    inputs = torch.eye(4)
    targets = torch.tensor([0, 0, 0, 0])
    # The training model's outputs: samples 0 and 1 poorly predicted (high loss), 2 and 3 well.
    outputs = torch.tensor([[0.0, 3.0], [0.0, 3.0], [3.0, 0.0], [0.0, 0.0]])
    # The irreducible-loss model finds sample 1 hopeless (noisy) and the others easy.
    il_model = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        il_model.weight.copy_(torch.tensor([[5.0, 0.0, 5.0, 5.0], [0.0, 5.0, 0.0, 0.0]]))
    downsampler = make("RHOLoss", 50)
    assert isinstance(downsampler, RHOLossDownsampler)
    with pytest.raises(RuntimeError, match="no irreducible-loss model"):
        downsampler.inform(batch(outputs, targets, inputs=inputs))
    downsampler.reset()
    downsampler.set_il_model(il_model)
    downsampler.inform(batch(outputs, targets, inputs=inputs))
    indices, weights = downsampler.select()
    reducible = CE(outputs, targets) - CE(il_model(inputs).detach(), targets)
    assert reducible.argsort(descending=True)[:2].tolist() == [0, 3]
    assert indices == [0, 3] and weights.tolist() == [1.0, 1.0]
