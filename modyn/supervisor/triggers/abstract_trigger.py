"""The trigger interface: what every trigger policy implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from modyn.supervisor.triggers.context import TrainingOutcome, TriggerContext


class Trigger(ABC):
    """Decides when to retrain. It sees the new samples in (timestamp, key) order, batch by batch.

    `inform(keys, timestamps, labels)` returns, for each trigger that fires within the batch, the index of
    the last sample that belongs to it (-1: the trigger closes over data seen in earlier batches only).
    Indices ascend. Simple triggers (amount, time) only look at keys and timestamps.

    Triggers that judge data with the current model (`uses_model`) get a TriggerContext through `bind`
    before the first `inform` and hear about every new model through `inform_new_model`. They also set
    `stops_at_trigger`: such a trigger returns at most one index per call and consumes the batch only up
    to it; the caller trains, calls `inform_new_model`, then calls `inform` again with the rest of the
    batch, so the samples after a trigger are judged by the model trained at that trigger.

    `last_fire_info` holds one dict per index returned by the latest `inform` (why it fired, e.g. a
    drift distance and p-value); the supervisor writes it into the pipeline log.
    """

    uses_model: ClassVar[bool] = False
    stops_at_trigger: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        self.config = config
        self.path = path  # YAML path of this trigger's config, for error messages
        self.context: TriggerContext | None = None
        self.last_fire_info: list[dict[str, Any]] = []

    def bind(self, context: TriggerContext) -> None:
        """Give the trigger access to data and models (called once, before the first inform)."""
        self.context = context

    @abstractmethod
    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        """Indices (within this batch) of the last sample of each trigger that fires."""

    def inform_new_model(self, outcome: TrainingOutcome) -> None:  # noqa: B027 - optional hook
        """A trigger's training finished and produced `outcome.model_id` (the new current model)."""

    def require_context(self) -> TriggerContext:
        if self.context is None:
            raise RuntimeError(f"{self.path}: {type(self).__name__} needs a TriggerContext (call bind first)")
        return self.context


def drive(
    trigger: Trigger,
    keys: Sequence[int],
    timestamps: Sequence[int],
    labels: Sequence[int] | None,
    on_fire: Callable[[int, dict[str, Any]], bool],
) -> bool:
    """Feed one batch to `trigger`, calling `on_fire(end, info)` for each trigger that fires.

    `end` is the index one past the trigger's last sample (0: it closes over earlier batches only);
    `info` is the trigger's reason. `on_fire` trains (and tells the trigger about the new model) and
    returns True to stop, which makes drive return True at once. A stops_at_trigger trigger is informed
    again with the rest of the batch after each fire.
    """
    pos = 0
    while True:
        rest_labels = None if labels is None else labels[pos:]
        fired = trigger.inform(keys[pos:], timestamps[pos:], rest_labels)
        infos = list(trigger.last_fire_info)
        for number, index in enumerate(fired):
            if on_fire(pos + index + 1, infos[number] if number < len(infos) else {}):
                return True
        if not (trigger.stops_at_trigger and fired):
            return False
        pos += fired[-1] + 1
        if pos >= len(keys):
            return False


def fire_points(
    trigger: Trigger, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None
) -> list[int]:
    """All fire indices of `trigger` over a whole batch, with no training in between (the model stays
    the one current at the start of the batch), e.g. for the sub-triggers of an ensemble."""
    points: list[int] = []
    infos: list[dict[str, Any]] = []

    def collect(end: int, info: dict[str, Any]) -> bool:
        points.append(end - 1)
        infos.append(info)
        return False

    drive(trigger, keys, timestamps, labels, collect)
    trigger.last_fire_info = infos
    return points
