"""Selection strategies, registered by the name a pipeline's `selection_strategy.name` uses."""

from __future__ import annotations

from modyn.selector.strategies.abstract_selection_strategy import AbstractSelectionStrategy, TrainingSet
from modyn.selector.strategies.new_data_strategy import NewDataStrategy

STRATEGY_REGISTRY: dict[str, type[AbstractSelectionStrategy]] = {
    NewDataStrategy.name: NewDataStrategy,
}


def strategy_class(name: object) -> type[AbstractSelectionStrategy]:
    """The strategy registered under `name`; ValueError naming the field otherwise."""
    if not isinstance(name, str) or name not in STRATEGY_REGISTRY:
        raise ValueError(
            f"selection_strategy.name: unknown strategy {name!r} (known: {', '.join(sorted(STRATEGY_REGISTRY))})"
        )
    return STRATEGY_REGISTRY[name]


__all__ = ["STRATEGY_REGISTRY", "AbstractSelectionStrategy", "NewDataStrategy", "TrainingSet", "strategy_class"]
