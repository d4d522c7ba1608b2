"""Drive a trigger over a constructed stream the way the supervisor does (training at each fire)."""

from __future__ import annotations

from collections.abc import Sequence

from modyn.supervisor.triggers.abstract_trigger import Trigger, drive
from modyn.supervisor.triggers.context import TrainingOutcome, TriggerContext


def run_stream(
    trigger: Trigger,
    timestamps: Sequence[int],
    batch_size: int = 97,
    context: TriggerContext | None = None,
    model_ids: Sequence[int] | None = None,
) -> tuple[list[int], list[dict]]:
    """Global index of the last sample of each trigger, and the trigger infos.

    At the k-th fire the context's latest model becomes model_ids[k] (default: k + 1), as if trained.
    """
    if context is not None:
        trigger.bind(context)
    points: list[int] = []
    infos: list[dict] = []
    offset = 0
    while offset < len(timestamps):
        keys = list(range(offset, min(offset + batch_size, len(timestamps))))
        ts = list(timestamps[offset : offset + len(keys)])

        def on_fire(end: int, info: dict, base: int = offset) -> bool:
            points.append(base + end - 1)
            infos.append(info)
            model_id = model_ids[len(points) - 1] if model_ids is not None else len(points)
            if context is not None:
                context.latest_model_id = model_id
            trigger.inform_new_model(TrainingOutcome(model_id=model_id, num_samples=1, duration_s=1.0))
            return False

        drive(trigger, keys, ts, None, on_fire)
        offset += len(keys)
    return points, infos
