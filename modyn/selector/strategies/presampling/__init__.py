"""CoresetStrategy's presampling strategies, registered by the name `presampling_config.strategy` uses."""

from __future__ import annotations

from modyn.selector.strategies.presampling.abstract_presampling import PREFIX, AbstractPresampling
from modyn.selector.strategies.presampling.label_balanced_presampling import LabelBalancedPresampling
from modyn.selector.strategies.presampling.no_presampling import NoPresampling
from modyn.selector.strategies.presampling.random_no_replacement_presampling import RandomNoReplacementPresampling
from modyn.selector.strategies.presampling.random_presampling import RandomPresampling
from modyn.selector.strategies.presampling.trigger_balanced_presampling import TriggerBalancedPresampling

PRESAMPLING_REGISTRY: dict[str, type[AbstractPresampling]] = {
    NoPresampling.name: NoPresampling,
    RandomPresampling.name: RandomPresampling,
    RandomNoReplacementPresampling.name: RandomNoReplacementPresampling,
    LabelBalancedPresampling.name: LabelBalancedPresampling,
    TriggerBalancedPresampling.name: TriggerBalancedPresampling,
}


def presampling_class(name: object) -> type[AbstractPresampling]:
    if not isinstance(name, str) or name not in PRESAMPLING_REGISTRY:
        raise ValueError(
            f"{PREFIX}.strategy: unknown presampling strategy {name!r} "
            f"(known: {', '.join(sorted(PRESAMPLING_REGISTRY))})"
        )
    return PRESAMPLING_REGISTRY[name]


__all__ = ["PRESAMPLING_REGISTRY", "AbstractPresampling", "presampling_class"]
