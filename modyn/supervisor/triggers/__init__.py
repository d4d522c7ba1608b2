"""Trigger policies, registered by name (the pipeline YAML's `trigger.id`)."""

from __future__ import annotations

from typing import Any

from modyn.supervisor.triggers.abstract_trigger import Trigger
from modyn.supervisor.triggers.data_amount_trigger import DataAmountTrigger
from modyn.supervisor.triggers.time_trigger import TimeTrigger

TRIGGER_REGISTRY: dict[str, type[Trigger]] = {
    "DataAmountTrigger": DataAmountTrigger,
    "TimeTrigger": TimeTrigger,
}


def build_trigger(config: dict[str, Any]) -> Trigger:
    trigger_id = config["id"]
    if trigger_id not in TRIGGER_REGISTRY:
        raise ValueError(f"trigger.id: unknown trigger {trigger_id!r} (known: {', '.join(TRIGGER_REGISTRY)})")
    return TRIGGER_REGISTRY[trigger_id](config)
