"""DataDriftTrigger on constructed streams: a drift injected at a known position is found within one
window, and a stationary stream fires nothing at the configured false-alarm rate (seeded)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from modyn.supervisor.triggers import build_trigger
from modyn.supervisor.triggers.context import ArrayTriggerContext
from modyn.supervisor.triggers.drift import DRIFT_METRICS
from tests.supervisor.trigger_helpers import run_stream

DIM, WINDOW, DRIFT_AT, LENGTH = 4, 100, 1000, 2000


def shifted_stream(seed: int, shift: float = 1.0, drift_at: int = DRIFT_AT, length: int = LENGTH) -> np.ndarray:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(length, DIM))
    features[drift_at:] += shift
    return features


def identity_context(features: np.ndarray, model_id: int | None = 0) -> ArrayTriggerContext:
    context = ArrayTriggerContext(features, models={i: (lambda x: x) for i in range(10)})
    context.latest_model_id = model_id
    return context


@pytest.mark.parametrize("metric", ["mmd", "ks", "cvm"])
def test_drift_found_in_the_first_window_after_it(metric: str) -> None:
    features = shifted_stream(seed=1)
    trigger = build_trigger(
        {
            "id": "DataDriftTrigger",
            "window": {"num_samples": WINDOW},
            "features": "raw",
            "metric": metric,
            "alpha": 0.01,
        }
    )
    points, infos = run_stream(trigger, range(LENGTH), context=identity_context(features))
    # the window [1000, 1100) is the first one with drifted data: found at its last sample (delay <= 1 window),
    # then it is the new reference and the (stationary) rest fires nothing
    assert points == [DRIFT_AT + WINDOW - 1]
    assert infos[0]["reason"] == "data drift" and infos[0]["p_value"] < 0.01


@pytest.mark.parametrize("metric", ["mmd", "ks", "cvm"])
def test_stationary_stream_fires_nothing(metric: str) -> None:
    # 20 windows, 19 tests at a false-alarm rate of 0.002 each: about 0.04 false alarms expected
    features = shifted_stream(seed=2, shift=0.0)
    trigger = build_trigger(
        {
            "id": "DataDriftTrigger",
            "window": {"num_samples": WINDOW},
            "features": "raw",
            "metric": metric,
            "alpha": 0.002,
            "num_permutations": 999,
        }
    )
    points, _ = run_stream(trigger, range(LENGTH), context=identity_context(features))
    assert points == []
    assert trigger.windows_checked == LENGTH // WINDOW - 1


def test_mmd_permutation_test_has_the_nominal_false_alarm_rate() -> None:
    """Under the null the p-values are uniform: about 5 % fall below 0.05 (a bootstrap would fire far more)."""
    metric = DRIFT_METRICS["mmd"](num_permutations=100, seed=0)
    rng = np.random.default_rng(3)
    p_values = [metric.test(rng.normal(size=(40, 3)), rng.normal(size=(40, 3))).p_value for _ in range(300)]
    rate = float(np.mean(np.asarray(p_values) < 0.05))
    assert 0.01 <= rate <= 0.09
    drifted = [metric.test(rng.normal(size=(40, 3)), rng.normal(loc=1.0, size=(40, 3))).p_value for _ in range(20)]
    assert max(drifted) < 0.05


def test_time_windows() -> None:
    features = shifted_stream(seed=4)
    timestamps = [1000 + i for i in range(LENGTH)]  # one sample per second, windows of 100 s
    trigger = build_trigger(
        {"id": "DataDriftTrigger", "window": {"every": "100s"}, "features": "raw", "metric": "mmd", "alpha": 0.01}
    )
    points, _ = run_stream(trigger, timestamps, batch_size=64, context=identity_context(features))
    assert points == [DRIFT_AT + WINDOW - 1]


def test_static_threshold_on_the_distance() -> None:
    features = shifted_stream(seed=5)
    config = {"id": "DataDriftTrigger", "window": {"num_samples": WINDOW}, "features": "raw", "metric": "mmd"}
    trigger = build_trigger({**config, "threshold_type": "static", "threshold": 0.15})
    points, infos = run_stream(trigger, range(LENGTH), context=identity_context(features))
    assert points == [DRIFT_AT + WINDOW - 1]
    assert infos[0]["distance"] > 0.15 and infos[0]["threshold"] == 0.15


def test_calibrated_threshold_waits_for_warm_up_then_detects() -> None:
    features = shifted_stream(seed=6, shift=0.8)
    config = {"id": "DataDriftTrigger", "window": {"num_samples": WINDOW}, "features": "raw", "metric": "mmd"}
    trigger = build_trigger({**config, "threshold_type": "calibrated", "warmup_windows": 6, "alpha": 0.01})
    points, infos = run_stream(trigger, range(LENGTH), context=identity_context(features))
    # reference [0,100); warm-up windows end at 199..699; windows 799, 899, 999 pass; drift found at 1099
    assert points[0] == DRIFT_AT + WINDOW - 1
    assert infos[0]["distance"] > infos[0]["threshold"] > 0
    # after the trigger the drifted window is the new reference and a new warm-up starts: 6 windows, no fire
    assert len(points) == 1


def test_first_window_fires_without_a_model_and_embeddings_follow_the_new_model() -> None:
    features = shifted_stream(seed=7)
    context = ArrayTriggerContext(
        features,
        models={1: lambda x: x, 2: lambda x: x},
        embed={1: lambda x: x[:, :2], 2: lambda x: x[:, 2:]},
    )
    trigger = build_trigger(
        {"id": "DataDriftTrigger", "window": {"num_samples": WINDOW}, "alpha": 0.002, "num_permutations": 999}
    )
    points, infos = run_stream(trigger, range(LENGTH), context=context)
    assert points == [WINDOW - 1, DRIFT_AT + WINDOW - 1]
    assert infos[0]["reason"] == "first window: no model yet"
    assert context.latest_model_id == 2
    # the reference's embeddings were recomputed for model 2 (its 2-d embedding, not model 1's)
    assert trigger._reference().shape == (WINDOW, 2)  # noqa: SLF001


def test_large_windows_are_subsampled() -> None:
    features = shifted_stream(seed=8, length=1200, drift_at=600)
    trigger = build_trigger(
        {
            "id": "DataDriftTrigger",
            "window": {"num_samples": 300},
            "features": "raw",
            "max_samples_per_window": 50,
            "alpha": 0.01,
        }
    )
    points, infos = run_stream(trigger, range(1200), context=identity_context(features))
    assert points == [899]
    assert infos[0]["window_size"] == 300


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"window": {"num_samples": 1}}, "trigger.window.num_samples: must be > 1"),
        ({"window": {"num_samples": 5, "every": "1d"}}, "trigger.window: give exactly one"),
        ({"window": {"every": "0s"}}, "trigger.window.every"),
        ({"metric": "wasserstein"}, "trigger.metric: unknown metric 'wasserstein'"),
        ({"threshold_type": "static"}, "trigger.threshold: is required"),
        ({"alpha": 1.5}, "trigger.alpha: must be in"),
        ({"alpha": 0.001, "num_permutations": 100}, "trigger.alpha: must be >= 1/(num_permutations + 1)"),
        ({"features": "pixels"}, "trigger.features"),
    ],
)
def test_bad_configs_name_the_path(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_trigger({"id": "DataDriftTrigger", **config})
