"""CostTrigger and EnsembleTrigger: exact trigger points on constructed streams."""

from __future__ import annotations

import numpy as np
import pytest

from modyn.supervisor.triggers import build_trigger
from modyn.supervisor.triggers.context import ArrayTriggerContext, TrainingOutcome
from tests.supervisor.trigger_helpers import run_stream


def test_cost_trigger_fires_when_latency_regret_reaches_the_training_cost() -> None:
    # one sample per second: after k samples since the last trigger the regret is k(k-1)/2 sample-seconds;
    # with conversion 0.1 and a forecast of 10 s the trigger fires at k = 15 (0.1·105 >= 10; 0.1·91 < 10)
    trigger = build_trigger({"id": "CostTrigger", "conversion_factor": 0.1, "initial_training_cost_s": 10})
    fired = trigger.inform(list(range(40)), list(range(40)))
    assert fired == [14, 29]
    assert trigger.last_fire_info[0]["regret_sample_s"] == 105
    assert trigger.unincorporated == 10


def test_cost_trigger_forecast_learns_from_trainings() -> None:
    trigger = build_trigger({"id": "CostTrigger", "conversion_factor": 1.0, "initial_training_cost_s": 5})
    assert trigger.forecast_s(100) == 5
    trigger.inform_new_model(TrainingOutcome(model_id=1, num_samples=100, duration_s=20.0))
    assert trigger.forecast_s(50) == pytest.approx(10.0)  # one training: proportional
    trigger.inform_new_model(TrainingOutcome(model_id=2, num_samples=200, duration_s=30.0))
    assert trigger.forecast_s(300) == pytest.approx(40.0)  # line through (100, 20) and (200, 30)
    # with a forecast of 40 s at 300 samples, 1 sample/s: fires at the first k with k(k-1)/2 >= forecast(k)
    fired = trigger.inform(list(range(20)), list(range(20)))
    expected = next(k for k in range(1, 21) if k * (k - 1) / 2 >= 0.1 * k + 10) - 1
    assert fired[0] == expected


def test_cost_trigger_waits_through_equal_timestamps() -> None:
    trigger = build_trigger({"id": "CostTrigger", "conversion_factor": 1.0, "initial_training_cost_s": 6})
    # 5 samples at t=0, then one at t=1 (regret 5), one at t=2 (regret 5 + 6 = 11 >= 6): fires there
    assert trigger.inform([0, 1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 1, 2]) == [6]


def test_ensemble_at_least_n() -> None:
    trigger = build_trigger(
        {
            "id": "EnsembleTrigger",
            "subtriggers": [
                {"id": "DataAmountTrigger", "num_samples": 2},  # fires at 1, 3, 5, 7, 9, 11
                {"id": "DataAmountTrigger", "num_samples": 3},  # fires at 2, 5, 8, 11
            ],
            "policy": {"id": "AtLeastN", "n": 2},
        }
    )
    points, infos = run_stream(trigger, range(12), batch_size=5)
    assert points == [2, 5, 8, 11]
    assert infos[0] == {"reason": "ensemble vote", "fired": [0, 1]}


def test_ensemble_majority_vote_with_a_time_and_a_drift_trigger() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1200, 3))
    features[600:] += 1.5
    context = ArrayTriggerContext(features, models={i: (lambda x: x) for i in range(5)})
    context.latest_model_id = 0
    trigger = build_trigger(
        {
            "id": "EnsembleTrigger",
            "subtriggers": [
                {"id": "DataDriftTrigger", "window": {"num_samples": 100}, "features": "raw", "alpha": 0.01},
                {"id": "TimeTrigger", "every": "350s"},  # fires at 349, 699, 1049
                {"id": "DataAmountTrigger", "num_samples": 10_000},  # never
            ],
            "policy": {"id": "MajorityVote"},
        }
    )
    points, _ = run_stream(trigger, range(1200), batch_size=1200, context=context)
    # drift found at 699 (window [600, 700)); the time trigger fired at 349 and fires at 699 too: 2 of 3
    assert points == [699]


def test_ensemble_config_errors() -> None:
    with pytest.raises(ValueError, match=r"trigger.subtriggers\[1\].num_samples: must be > 0"):
        build_trigger(
            {
                "id": "EnsembleTrigger",
                "subtriggers": [{"id": "TimeTrigger", "every": "1d"}, {"id": "DataAmountTrigger", "num_samples": 0}],
            }
        )
    with pytest.raises(ValueError, match=r"trigger.policy.n: must be an integer from 1 to 2"):
        build_trigger(
            {
                "id": "EnsembleTrigger",
                "subtriggers": [{"id": "TimeTrigger", "every": "1d"}, {"id": "TimeTrigger", "every": "2d"}],
                "policy": {"id": "AtLeastN", "n": 3},
            }
        )
