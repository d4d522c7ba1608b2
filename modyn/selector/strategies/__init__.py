"""Selection strategies, registered by the name a pipeline's `selection_strategy.name` uses."""

from __future__ import annotations

from modyn.selector.strategies.abstract_selection_strategy import (
    AbstractSelectionStrategy,
    TrainingSet,
    TriggerContext,
)
from modyn.selector.strategies.coreset_strategy import CoresetStrategy
from modyn.selector.strategies.freshness_sampling_strategy import FreshnessSamplingStrategy
from modyn.selector.strategies.gdumb_strategy import GDumbStrategy
from modyn.selector.strategies.new_data_strategy import NewDataStrategy
from modyn.selector.strategies.reservoir_strategy import ReservoirStrategy

STRATEGY_REGISTRY: dict[str, type[AbstractSelectionStrategy]] = {
    NewDataStrategy.name: NewDataStrategy,
    FreshnessSamplingStrategy.name: FreshnessSamplingStrategy,
    CoresetStrategy.name: CoresetStrategy,
    GDumbStrategy.name: GDumbStrategy,
    ReservoirStrategy.name: ReservoirStrategy,
}


def strategy_class(name: object) -> type[AbstractSelectionStrategy]:
    """The strategy registered under `name`; ValueError naming the field otherwise."""
    if not isinstance(name, str) or name not in STRATEGY_REGISTRY:
        raise ValueError(
            f"selection_strategy.name: unknown strategy {name!r} (known: {', '.join(sorted(STRATEGY_REGISTRY))})"
        )
    return STRATEGY_REGISTRY[name]


__all__ = [
    "STRATEGY_REGISTRY",
    "AbstractSelectionStrategy",
    "CoresetStrategy",
    "FreshnessSamplingStrategy",
    "GDumbStrategy",
    "NewDataStrategy",
    "ReservoirStrategy",
    "TrainingSet",
    "TriggerContext",
    "strategy_class",
]
