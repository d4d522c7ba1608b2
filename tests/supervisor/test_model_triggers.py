"""PerformanceTrigger, ErrorRateTrigger and the ADWIN/DDM/PageHinkley detectors on constructed streams."""

from __future__ import annotations

import numpy as np
import pytest

from modyn.supervisor.triggers import build_trigger
from modyn.supervisor.triggers.context import ArrayTriggerContext
from modyn.supervisor.triggers.detectors import DETECTORS
from tests.supervisor.trigger_helpers import run_stream

ALWAYS_ZERO = {i: (lambda x: np.column_stack([np.ones(len(x)), np.zeros(len(x))])) for i in range(10)}


def error_stream(seed: int, length: int, change_at: int | None, before: float = 0.05, after: float = 0.5) -> np.ndarray:
    """Labels such that a model always predicting class 0 errs with rate `before`, then `after`."""
    rng = np.random.default_rng(seed)
    rates = np.full(length, before)
    if change_at is not None:
        rates[change_at:] = after
    return (rng.random(length) < rates).astype(np.int64)


def context_for(labels: np.ndarray, model_id: int | None = 0) -> ArrayTriggerContext:
    context = ArrayTriggerContext(np.zeros((len(labels), 1)), labels=labels, models=ALWAYS_ZERO)
    context.latest_model_id = model_id
    return context


# ---- detectors alone ----


# DDM with the paper's levels (warning 2, drift 3) raises a false alarm on about a quarter of 10,000-sample
# streams with a stationary 5 % error rate (measured over 40 seeds); at drift level 4 on 1 in 40, at 5 on none.
# ADWIN (delta 0.002) and Page-Hinkley (threshold 50) on none. The tests use the quiet settings.
PARAMS = {"ADWIN": {}, "DDM": {"warning_level": 3.0, "drift_level": 4.0}, "PageHinkley": {}}


@pytest.mark.parametrize(("name", "max_delay"), [("ADWIN", 100), ("DDM", 400), ("PageHinkley", 250)])
def test_detector_finds_an_error_rate_rise_within_its_delay(name: str, max_delay: int) -> None:
    errors = error_stream(seed=1, length=4000, change_at=2000)
    detector = DETECTORS[name](PARAMS[name])
    detections = [i for i, e in enumerate(errors) if detector.update(float(e))]
    assert detections, f"{name} missed the change"
    assert 2000 <= detections[0] <= 2000 + max_delay


@pytest.mark.parametrize("name", ["ADWIN", "DDM", "PageHinkley"])
def test_detector_is_quiet_on_a_stationary_error_rate(name: str) -> None:
    errors = error_stream(seed=2, length=10_000, change_at=None)
    detector = DETECTORS[name](PARAMS[name])
    assert not any(detector.update(float(e)) for e in errors)


def test_adwin_drops_the_stale_part_of_its_window() -> None:
    detector = DETECTORS["ADWIN"]({"clock": 1})
    for x in [0.0] * 500:
        detector.update(x)
    detected_at = next(i for i in range(500) if detector.update(1.0))
    assert detected_at < 20
    assert len(detector.window) < 500  # the zeros before the change were dropped
    detector.reset()
    assert len(detector.window) == 0 and not detector.drift_detected


def test_ddm_warns_before_it_reports_a_change() -> None:
    detector = DETECTORS["DDM"]()
    errors = error_stream(seed=3, length=3000, change_at=1500, before=0.1, after=0.4)
    warnings, drift = [], None
    for i, e in enumerate(errors):
        if detector.update(float(e)):
            drift = i
            break
        if detector.warning_detected:
            warnings.append(i)
    assert drift is not None and warnings and warnings[0] < drift


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("ADWIN", {"delta": 2}, "trigger.detector_config.delta: must be in (0, 1)"),
        ("ADWIN", {"window": 3}, "trigger.detector_config: unknown parameter(s) window"),
        ("DDM", {"warning_level": 4, "drift_level": 3}, "need 0 < warning_level <= drift_level"),
        ("PageHinkley", {"threshold": 0}, "trigger.detector_config.threshold: must be > 0"),
    ],
)
def test_bad_detector_parameters(name: str, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        build_trigger({"id": "ErrorRateTrigger", "detector": name, "detector_config": params})


# ---- ErrorRateTrigger ----


@pytest.mark.parametrize("detector", ["ADWIN", "DDM", "PageHinkley"])
def test_error_rate_trigger_fires_after_the_change_and_restarts_for_the_new_model(detector: str) -> None:
    labels = error_stream(seed=4, length=6000, change_at=3000)
    labels[3000:] = (np.random.default_rng(5).random(3000) < 0.5).astype(np.int64)
    context = context_for(labels, model_id=None)
    trigger = build_trigger(
        {"id": "ErrorRateTrigger", "detector": detector, "detector_config": PARAMS[detector], "warmup_samples": 500}
    )
    # the models stay "always 0": the error rate stays high after the change, and the restarted detector
    # compares only the new model's errors, so it does not fire again
    points, infos = run_stream(trigger, range(6000), batch_size=300, context=context)
    assert points[0] == 499 and infos[0]["reason"] == "warm-up: no model yet"
    assert len(points) == 2, points
    assert 3000 <= points[1] <= 3250
    assert detector in infos[1]["reason"]


def test_error_rate_trigger_without_a_change_fires_only_the_warm_up() -> None:
    labels = error_stream(seed=6, length=5000, change_at=None)
    trigger = build_trigger({"id": "ErrorRateTrigger", "detector": "ADWIN", "warmup_samples": 100})
    points, _ = run_stream(trigger, range(5000), context=context_for(labels, model_id=None))
    assert points == [99]


# ---- PerformanceTrigger ----


def test_performance_trigger_min_accuracy() -> None:
    labels = np.zeros(2000, dtype=np.int64)
    labels[1000:1300] = 1  # accuracy of "always 0": 1.0, then 0.0 for 300 samples, then 1.0 again
    trigger = build_trigger({"id": "PerformanceTrigger", "window": {"num_samples": 200}, "min_accuracy": 0.8})
    points, infos = run_stream(trigger, range(2000), context=context_for(labels))
    # windows end at 199, 399, ...; [1000, 1200) has accuracy 0, [1200, 1400) has 0.5: both fire
    assert points == [1199, 1399]
    assert infos[0]["accuracy"] == 0.0 and infos[1]["accuracy"] == 0.5
    assert trigger.accuracies[:5] == [1.0] * 5


def test_performance_trigger_drop_from_post_training_level() -> None:
    rng = np.random.default_rng(7)
    labels = (rng.random(3000) < 0.1).astype(np.int64)  # accuracy about 0.9
    labels[1500:] = (rng.random(1500) < 0.35).astype(np.int64)  # about 0.65 from 1500 on
    trigger = build_trigger({"id": "PerformanceTrigger", "window": {"num_samples": 250}, "max_drop": 0.15})
    points, infos = run_stream(trigger, range(3000), context=context_for(labels, model_id=None))
    # first window fires (no model); reference = the window after it; the drop is seen in [1500, 1750)
    assert points == [249, 1749]
    assert infos[1]["reason"] == "accuracy dropped"
    assert infos[1]["reference_accuracy"] - infos[1]["accuracy"] > 0.15


def test_performance_trigger_time_windows() -> None:
    labels = np.zeros(600, dtype=np.int64)
    labels[300:] = 1
    timestamps = [10 * i for i in range(600)]  # windows of 1000 s = 100 samples
    trigger = build_trigger({"id": "PerformanceTrigger", "window": {"every": "1000s"}, "min_accuracy": 0.5})
    points, _ = run_stream(trigger, timestamps, batch_size=64, context=context_for(labels))
    assert points == [399, 499]  # [300, 400) closes when sample 400 arrives; [400, 500) too; [500, 600) stays open


def test_performance_trigger_needs_a_criterion() -> None:
    with pytest.raises(ValueError, match="trigger: give min_accuracy, max_drop or both"):
        build_trigger({"id": "PerformanceTrigger", "window": {"num_samples": 10}})
