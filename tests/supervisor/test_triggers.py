import pytest

from modyn.supervisor.triggers import build_trigger
from modyn.supervisor.triggers.data_amount_trigger import DataAmountTrigger
from modyn.supervisor.triggers.time_trigger import TimeTrigger, parse_duration


def fire_points(trigger, batches):
    """Global indices of the last sample of each trigger, over several batches."""
    points, offset = [], 0
    for timestamps in batches:
        keys = list(range(offset, offset + len(timestamps)))
        points += [offset + i for i in trigger.inform(keys, timestamps)]
        offset += len(timestamps)
    return points


def test_data_amount_fires_every_n_across_batches() -> None:
    trigger = DataAmountTrigger({"id": "DataAmountTrigger", "num_samples": 3})
    assert fire_points(trigger, [[0] * 2, [0] * 5, [0] * 1, [0] * 4]) == [2, 5, 8, 11]


def test_data_amount_exact_batch_and_single_samples() -> None:
    trigger = DataAmountTrigger({"num_samples": 1})
    assert trigger.inform([1, 2, 3], [0, 0, 0]) == [0, 1, 2]
    trigger = DataAmountTrigger({"num_samples": 4})
    assert trigger.inform([1, 2, 3, 4], [0] * 4) == [3]
    assert trigger.inform([], []) == []
    assert trigger.inform([5, 6, 7], [0] * 3) == []


def test_time_trigger_boundaries_from_first_sample() -> None:
    trigger = TimeTrigger({"every": "10s"})
    # boundaries at 105, 115, 125, 135, 145; a sample at a boundary starts the next period, and the
    # gap from 115 to 140 (crossing 125 and 135) fires once
    assert fire_points(trigger, [[95, 100, 104], [105, 106], [114, 115, 140, 141]]) == [2, 5, 6]


def test_time_trigger_fires_at_batch_start_with_minus_one() -> None:
    trigger = TimeTrigger({"every": "1m"})
    assert trigger.inform([1, 2], [0, 30]) == []
    assert trigger.inform([3], [60]) == [-1]


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1w", 604800)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_bad_trigger_configs() -> None:
    with pytest.raises(ValueError, match="trigger.every"):
        parse_duration("0s")
    with pytest.raises(ValueError, match="trigger.num_samples"):
        DataAmountTrigger({"num_samples": 0})
    with pytest.raises(ValueError, match="unknown trigger 'Nope'"):
        build_trigger({"id": "Nope"})
