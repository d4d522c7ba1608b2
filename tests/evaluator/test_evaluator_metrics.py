"""Metrics against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from modyn.evaluator.metrics import (
    METRIC_REGISTRY,
    Accuracy,
    F1Score,
    build_metric,
    parse_metric_configs,
    result_names,
)


def one_hot_scores(predictions: list[int], num_classes: int) -> torch.Tensor:
    """Outputs whose argmax is `predictions` (non-trivial scores, not exact one-hot)."""
    scores = torch.rand(len(predictions), num_classes) * 0.5
    scores[torch.arange(len(predictions)), torch.tensor(predictions)] = 1.0
    return scores


def test_accuracy_argmax_and_batches() -> None:
    metric = Accuracy()
    metric.update(torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7]]), torch.tensor([0, 1]))  # 1 of 2
    metric.update(torch.tensor([[0.0, 5.0, -1.0]]), torch.tensor([1]))  # 1 of 1
    assert metric.result() == pytest.approx(2 / 3)


def test_accuracy_binary_threshold_on_1d_and_n_by_1_outputs() -> None:
    metric = Accuracy()
    # 0.5 counts as positive; predictions 1, 0, 1, 0 vs labels 1, 1, 1, 0 -> 3/4
    metric.update(torch.tensor([0.7, 0.49, 0.5, 0.1]), torch.tensor([1, 1, 1, 0]))
    assert metric.result() == pytest.approx(0.75)
    metric.update(torch.tensor([[0.9], [0.2]]), torch.tensor([0, 0]))  # predictions 1, 0 -> 1/2
    assert metric.result() == pytest.approx(4 / 6)


def test_accuracy_without_samples_is_zero() -> None:
    assert Accuracy().result() == 0.0


def test_accuracy_rejects_mismatched_batch_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="3 model outputs but 2 labels"):
        Accuracy().update(torch.zeros(3, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="Accuracy: expected model outputs"):
        Accuracy().update(torch.zeros(3, 2, 2), torch.tensor([0, 1, 0]))


# labels vs predictions for 3 classes:
#   class 0: TP 1, FP 1, FN 1 -> F1 2/4 = 0.5
#   class 1: TP 2, FP 1, FN 0 -> F1 4/5 = 0.8
#   class 2: TP 1, FP 0, FN 1 -> F1 2/3
LABELS = [0, 0, 1, 1, 2, 2]
PREDICTIONS = [0, 1, 1, 1, 0, 2]


@pytest.mark.parametrize(
    ("average", "expected"),
    [
        ("macro", (0.5 + 0.8 + 2 / 3) / 3),
        ("weighted", (2 * 0.5 + 2 * 0.8 + 2 * 2 / 3) / 6),
        ("micro", 4 / 6),
    ],
)
def test_f1_multiclass_averages(average: str, expected: float) -> None:
    metric = F1Score({"name": "F1Score", "num_classes": 3, "average": average})
    # two batches must give the same as one
    metric.update(one_hot_scores(PREDICTIONS[:4], 3), torch.tensor(LABELS[:4]))
    metric.update(one_hot_scores(PREDICTIONS[4:], 3), torch.tensor(LABELS[4:]))
    assert metric.result() == pytest.approx(expected)


def test_f1_weighted_uses_support() -> None:
    # class 0: TP 2, FN 1, FP 0 -> 0.8 (support 3); class 1: TP 1, FP 1 -> 2/3 (support 1)
    labels, predictions = [0, 0, 0, 1], [0, 0, 1, 1]
    weighted = F1Score({"num_classes": 2, "average": "weighted"})
    weighted.update(one_hot_scores(predictions, 2), torch.tensor(labels))
    assert weighted.result() == pytest.approx((3 * 0.8 + 1 * 2 / 3) / 4)
    macro = F1Score({"num_classes": 2})  # macro is the default
    macro.update(one_hot_scores(predictions, 2), torch.tensor(labels))
    assert macro.result() == pytest.approx((0.8 + 2 / 3) / 2)


def test_f1_binary_is_f1_of_class_one() -> None:
    metric = F1Score({"average": "binary"})
    # 1-d scores: predictions 1, 1, 0, 0 vs labels 1, 0, 1, 0 -> TP 1, FP 1, FN 1
    metric.update(torch.tensor([0.9, 0.8, 0.1, 0.2]), torch.tensor([1, 0, 1, 0]))
    assert metric.result() == pytest.approx(0.5)
    # (N, 2) outputs: predictions 1, 1 vs labels 1, 1 -> TP 3, FP 1, FN 1 overall
    metric.update(one_hot_scores([1, 1], 2), torch.tensor([1, 1]))
    assert metric.result() == pytest.approx(6 / 8)


def test_f1_class_without_support_and_predictions_is_left_out_of_macro() -> None:
    with_absent = F1Score({"num_classes": 5, "average": "macro"})
    with_absent.update(one_hot_scores(PREDICTIONS, 5), torch.tensor(LABELS))
    assert with_absent.result() == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    weighted = F1Score({"num_classes": 5, "average": "weighted"})
    weighted.update(one_hot_scores(PREDICTIONS, 5), torch.tensor(LABELS))
    assert weighted.result() == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_f1_class_predicted_but_never_labelled_counts_as_zero_in_macro() -> None:
    # class 0: TP 1, FN 1 -> 2/3; class 1: TP 0, FP 1 -> 0
    metric = F1Score({"num_classes": 2})
    metric.update(one_hot_scores([0, 1], 2), torch.tensor([0, 0]))
    assert metric.result() == pytest.approx((2 / 3 + 0.0) / 2)


def test_f1_undefined_cases_are_zero_not_nan() -> None:
    for average in ("macro", "micro", "weighted", "binary"):
        assert F1Score({"num_classes": 2, "average": average}).result() == 0.0
    binary = F1Score({"average": "binary"})
    binary.update(torch.tensor([0.1, 0.2]), torch.tensor([0, 0]))  # class 1 nowhere
    assert binary.result() == 0.0
    assert F1Score().result() == 0.0  # num_classes not known yet


def test_f1_infers_num_classes_from_outputs() -> None:
    metric = F1Score()
    metric.update(one_hot_scores(PREDICTIONS, 3), torch.tensor(LABELS))
    assert metric.num_classes == 3
    assert metric.result() == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_f1_rejects_labels_outside_classes_and_width_mismatch() -> None:
    with pytest.raises(ValueError, match="label 3 is outside the classes 0..2"):
        F1Score({"num_classes": 3}).update(one_hot_scores([0, 1], 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="num_classes is 3 but the model outputs 4"):
        F1Score({"num_classes": 3}).update(one_hot_scores([0, 1], 4), torch.tensor([0, 1]))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"name": "Precision"}, "unknown metric 'Precision'"),
        ({"num_classes": 3}, "unknown metric None"),
        ({"name": "F1Score", "average": "samples"}, "F1Score: average must be one of"),
        ({"name": "F1Score", "num_classes": 1}, "F1Score: num_classes must be an integer > 1"),
        ({"name": "F1Score", "num_classes": "3"}, "F1Score: num_classes must be an integer > 1"),
        ({"name": "F1Score", "num_classes": 3, "average": "binary"}, "binary' needs num_classes 2"),
        ({"name": "F1Score", "classes": 3}, "F1Score: unknown config key\\(s\\) 'classes'"),
        ({"name": "Accuracy", "topn": 2}, "Accuracy: unknown config key\\(s\\) 'topn'"),
    ],
)
def test_bad_metric_configs_raise_value_error_naming_them(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_metric(config)


def test_registry_and_request_parsing() -> None:
    assert set(METRIC_REGISTRY) == {"Accuracy", "F1Score"}
    configs = parse_metric_configs(['{"name": "Accuracy"}', '{"name": "F1Score", "num_classes": 3}'])
    assert [type(build_metric(c)) for c in configs] == [Accuracy, F1Score]
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_metric_configs(["{name: Accuracy"])
    with pytest.raises(ValueError, match="no metrics requested"):
        parse_metric_configs([])


def test_result_names_disambiguate_repeated_metrics() -> None:
    names = result_names(
        [
            {"name": "Accuracy"},
            {"name": "F1Score", "num_classes": 3},
            {"name": "F1Score", "num_classes": 3, "average": "weighted"},
        ]
    )
    assert names == ["Accuracy", "F1Score", "F1Score(average=weighted,num_classes=3)"]
    with pytest.raises(ValueError, match="requested twice"):
        result_names([{"name": "Accuracy"}, {"name": "Accuracy"}])
