"""Trigger policies, registered by name (the pipeline YAML's `trigger.id`). One file per policy."""

from __future__ import annotations

from typing import Any

from modyn.supervisor.triggers.abstract_trigger import Trigger
from modyn.supervisor.triggers.cost_trigger import CostTrigger
from modyn.supervisor.triggers.data_amount_trigger import DataAmountTrigger
from modyn.supervisor.triggers.data_drift_trigger import DataDriftTrigger
from modyn.supervisor.triggers.ensemble_trigger import EnsembleTrigger
from modyn.supervisor.triggers.error_rate_trigger import ErrorRateTrigger
from modyn.supervisor.triggers.performance_trigger import PerformanceTrigger
from modyn.supervisor.triggers.time_trigger import TimeTrigger

TRIGGER_REGISTRY: dict[str, type[Trigger]] = {
    "DataAmountTrigger": DataAmountTrigger,
    "TimeTrigger": TimeTrigger,
    "DataDriftTrigger": DataDriftTrigger,
    "PerformanceTrigger": PerformanceTrigger,
    "CostTrigger": CostTrigger,
    "EnsembleTrigger": EnsembleTrigger,
    "ErrorRateTrigger": ErrorRateTrigger,
}


def build_trigger(config: dict[str, Any], path: str = "trigger") -> Trigger:
    """Build the trigger a `trigger:` config describes; ValueError naming the YAML path if it is wrong."""
    trigger_id = config.get("id")
    if trigger_id not in TRIGGER_REGISTRY:
        raise ValueError(f"{path}.id: unknown trigger {trigger_id!r} (known: {', '.join(TRIGGER_REGISTRY)})")
    return TRIGGER_REGISTRY[str(trigger_id)](config, path)
