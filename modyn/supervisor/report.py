"""The PNG report next to the pipeline log: what each trigger trained and how well, and where time went.

Panels: (1) evaluation metrics per trigger (one line per dataset/metric) with the training loss (first
and last epoch) on a second axis; (2) the triggers on the sample-time axis: each trigger's range of new
samples as a bar, its firing point as a line; (3) the share of the run's wall time per phase (the log's
`time_breakdown`: training steps, waiting for data, job start, selection, evaluation, ...).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def time_shares(log: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase of the run: the supervisor's `time_breakdown` (phases under 2 % of the wall time
    folded into `other`) or, for logs without one, training / waiting for data / the rest."""
    breakdown = log.get("time_breakdown")
    if breakdown:
        run_s = float(breakdown["wall_s"]) or 1.0
        shares: dict[str, float] = {}
        for phase, seconds in breakdown["phases_s"].items():
            name = phase if seconds >= 0.02 * run_s else "other"
            shares[name] = round(shares.get(name, 0.0) + seconds, 3)
        return shares
    training = [t["training"] for t in log["triggers"] if t.get("training")]
    train = sum(t.get("time_train_s", t.get("duration_s", 0.0)) for t in training)
    wait = sum(t.get("time_wait_data_s", 0.0) for t in training)
    other_training = sum(
        max(
            0.0,
            t.get("duration_s", 0.0) - t.get("time_train_s", t.get("duration_s", 0.0)) - t.get("time_wait_data_s", 0.0),
        )
        for t in training
    )
    wall = _seconds_between(log.get("started_at"), log.get("finished_at") or datetime.now(UTC).isoformat())
    total_training = train + wait + other_training
    rest = max(0.0, (wall or total_training) - total_training)
    return {
        "training": round(train, 3),
        "waiting for data (in training)": round(wait, 3),
        "training setup/finish": round(other_training, 3),
        "rest of the pipeline": round(rest, 3),
    }


def write_report(log: dict[str, Any], path: Path) -> Path:
    """Draw the report of pipeline log `log` into the PNG file `path` (atomically); returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    triggers = log["triggers"]
    fig, (ax_quality, ax_time, ax_share) = plt.subplots(3, 1, figsize=(10, 11))
    fig.suptitle(f"pipeline {log['pipeline_id']} ({log['pipeline_name']}): {len(triggers)} trigger(s), {log['status']}")

    indices = [t["trigger_index"] for t in triggers]
    series: dict[str, list[float | None]] = {}
    for t in triggers:
        for dataset, metrics in (t.get("evaluation") or {}).items():
            for name, value in metrics.items():
                if isinstance(value, int | float):
                    series.setdefault(f"{dataset}/{name}", [None] * len(triggers))
    for position, t in enumerate(triggers):
        for dataset, metrics in (t.get("evaluation") or {}).items():
            for name, value in metrics.items():
                if f"{dataset}/{name}" in series:
                    series[f"{dataset}/{name}"][position] = value
    for label, values in sorted(series.items()):
        ax_quality.plot(indices, [float("nan") if v is None else v for v in values], marker="o", label=label)
    ax_quality.set_xlabel("trigger")
    ax_quality.set_ylabel("evaluation metric")
    ax_quality.set_title("quality per trigger")
    ax_loss = ax_quality.twinx()
    for key, style in (("loss_first", "--"), ("loss_last", ":")):
        losses = [(t["training"] or {}).get(key) if t.get("training") else None for t in triggers]
        ax_loss.plot(indices, [float("nan") if v is None else v for v in losses], style, color="gray", label=key)
    ax_loss.set_ylabel("training loss")
    handles = ax_quality.get_legend_handles_labels()
    loss_handles = ax_loss.get_legend_handles_labels()
    if handles[0] or loss_handles[0]:
        ax_quality.legend(handles[0] + loss_handles[0], handles[1] + loss_handles[1], loc="best", fontsize="small")
    if indices:
        ax_quality.set_xticks(indices)

    for t in triggers:
        first, last = t.get("first_timestamp"), t.get("last_timestamp")
        if first is None or last is None:
            continue
        start = datetime.fromtimestamp(first, UTC)
        end = datetime.fromtimestamp(last, UTC)
        ax_time.barh(t["trigger_index"], max((end - start).total_seconds() / 86400, 1e-6), left=start, height=0.6)
        ax_time.axvline(end, color="red", linewidth=0.8)
    ax_time.set_xlabel("sample time (UTC)")
    ax_time.set_ylabel("trigger")
    ax_time.set_title("new samples of each trigger; red: where it fired")
    if indices:
        ax_time.set_yticks(indices)
    ax_time.tick_params(axis="x", labelrotation=20)

    shares = {k: v for k, v in time_shares(log).items() if v > 0}
    if shares:
        # Horizontal bars, largest on top: readable however many small phases there are.
        names = list(shares)[::-1]
        seconds = [shares[n] for n in names]
        total = sum(seconds)
        bars = ax_share.barh(names, seconds, color="tab:blue")
        ax_share.bar_label(bars, labels=[f"{v:.1f} s ({100 * v / total:.0f} %)" for v in seconds], padding=3)
        ax_share.set_xlabel("seconds")
        ax_share.set_xlim(0, max(seconds) * 1.3)
    ax_share.set_title("where the run's time went")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)
    return path
