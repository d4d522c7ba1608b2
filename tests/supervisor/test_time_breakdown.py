import time

from modyn.supervisor.report import time_shares
from modyn.supervisor.time_breakdown import JOB_OVERHEAD, TRAINING_STEPS, TimeBreakdown


def test_a_training_job_splits_into_the_trainer_phases_and_its_start_overhead() -> None:
    times = TimeBreakdown()
    job = {"duration_s": 4.0, "time_setup_s": 0.5, "time_wait_data_s": 1.0, "time_train_s": 2.4, "time_finish_s": 0.1}
    times.add_training_job(5.0, job)
    assert times.seconds == {
        "training: job setup": 0.5,
        "training: waiting for data": 1.0,
        TRAINING_STEPS: 2.4,
        "training: job finish": 0.1,
        JOB_OVERHEAD: 1.0,
    }


def test_a_job_without_a_breakdown_counts_as_training_steps() -> None:
    times = TimeBreakdown()
    times.add_training_job(3.0, {"duration_s": 2.0})
    assert times.seconds == {TRAINING_STEPS: 2.0, JOB_OVERHEAD: 1.0}


def test_summary_adds_other_and_the_share_outside_training_steps() -> None:
    times = TimeBreakdown()
    times.started -= 10.0  # the run began 10 s ago
    times.add(TRAINING_STEPS, 6.0)
    with times.phase("selection"):
        time.sleep(0.01)
    summary = times.summary()
    assert 10.0 <= summary["wall_s"] < 11.0
    assert list(summary["phases_s"])[0] == TRAINING_STEPS  # largest first
    assert 0.01 <= summary["phases_s"]["selection"] < 0.5
    assert abs(sum(summary["phases_s"].values()) - summary["wall_s"]) < 0.01
    assert summary["outside_training_steps_share"] == round(1 - 6.0 / summary["wall_s"], 4)


def test_the_report_folds_small_phases_into_other() -> None:
    log = {"time_breakdown": {"wall_s": 100.0, "phases_s": {TRAINING_STEPS: 90.0, "selection": 1.0, "other": 9.0}}}
    assert time_shares(log) == {TRAINING_STEPS: 90.0, "other": 10.0}
