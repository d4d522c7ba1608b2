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
        ({"name": "Accuracy", "top": 2}, "Accuracy: unknown config key\\(s\\) 'top' \\(allowed: topn\\)"),
    ],
)
def test_bad_metric_configs_raise_value_error_naming_them(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_metric(config)


def test_registry_and_request_parsing() -> None:
    assert set(METRIC_REGISTRY) == {"Accuracy", "F1Score", "RocAuc"}
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


def test_accuracy_top_n_against_hand_counts() -> None:
    from modyn.evaluator.metrics import Accuracy

    outputs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.6, 0.1, 0.3]])
    labels = torch.tensor([1, 0, 0, 1])
    # top-1: 0 2 2 0 -> none right; top-2: {0,1} {2,1} {2,0 or 1} {0,2} -> samples 0 and 2 right
    top1, top2, top3 = Accuracy(), Accuracy({"topn": 2}), Accuracy({"topn": 3})
    for metric in (top1, top2, top3):
        metric.update(outputs[:2], labels[:2])
        metric.update(outputs[2:], labels[2:])
    assert (top1.result(), top3.result()) == (0.0, 1.0)
    assert top2.result() == 0.5
    with pytest.raises(ValueError, match="topn is 4 but the model outputs only 3 classes"):
        Accuracy({"topn": 4}).update(outputs, labels)
    with pytest.raises(ValueError, match="topn must be an integer >= 1"):
        Accuracy({"topn": 0})


def test_roc_auc_binary_with_ties_against_hand_count() -> None:
    from modyn.evaluator.metrics import RocAuc

    metric = RocAuc()
    # positives 0.8 0.4; negatives 0.4 0.1 0.6: pairs won 3 + (1 + 0.5 tie) = 4.5 of 6
    metric.update(torch.tensor([0.8, 0.4]), torch.tensor([1, 1]))
    metric.update(torch.tensor([[0.4], [0.1], [0.6]]), torch.tensor([0, 0, 0]))
    assert metric.result() == pytest.approx(4.5 / 6)


def test_roc_auc_two_column_outputs_use_the_class_one_probability() -> None:
    from modyn.evaluator.metrics import RocAuc

    logits = torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, 0.5], [3.0, 0.0]])
    metric = RocAuc({"num_classes": 2})
    metric.update(logits, torch.tensor([1, 0, 0, 1]))
    # class-1 probability ranks: 0.88 (pos), 0.27 (neg), 0.62 (neg), 0.05 (pos): pos wins 2 of 4 pairs
    assert metric.result() == pytest.approx(0.5)


def test_roc_auc_one_vs_rest_macro_against_hand_count() -> None:
    from modyn.evaluator.metrics import RocAuc

    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.4, 0.4, 0.2]])
    labels = torch.tensor([0, 1, 2, 1])
    metric = RocAuc({"apply_softmax": False})
    metric.update(probabilities, labels)
    # class 0: pos 0.7 vs neg 0.2 0.1 0.4 -> 1.0; class 1: pos 0.5 0.4 vs neg 0.2 0.3 -> 1.0;
    # class 2: pos 0.6 vs neg 0.1 0.3 0.2 -> 1.0
    assert metric.result() == pytest.approx(1.0)
    metric = RocAuc({"apply_softmax": False})
    metric.update(probabilities, torch.tensor([0, 2, 1, 1]))
    # class 0: 1.0; class 1: pos 0.3 0.4 vs neg 0.2 0.5 -> (1 + 0) + (1 + 0) = 2 of 4 = 0.5;
    # class 2: pos 0.3 vs neg 0.1 0.6 0.2 -> 2 of 3
    assert metric.result() == pytest.approx((1.0 + 0.5 + 2 / 3) / 3)


def test_roc_auc_undefined_classes_are_left_out_and_never_nan() -> None:
    from modyn.evaluator.metrics import RocAuc

    metric = RocAuc()
    metric.update(torch.tensor([0.2, 0.9]), torch.tensor([1, 1]))
    assert metric.result() == 0.0
    assert RocAuc().result() == 0.0
    multi = RocAuc({"apply_softmax": False})
    # class 2 never occurs: left out of the mean
    multi.update(torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]), torch.tensor([0, 1]))
    assert multi.result() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="label 3 is outside the classes 0..2"):
        RocAuc().update(torch.zeros(1, 3), torch.tensor([3]))
    with pytest.raises(ValueError, match="num_classes is 4 but the model outputs 3 classes"):
        RocAuc({"num_classes": 4}).update(torch.zeros(1, 3), torch.tensor([0]))
