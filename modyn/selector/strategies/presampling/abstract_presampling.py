"""The interface of CoresetStrategy's presampling strategies (the selector-side half of a coreset
strategy: which keys the trainer gets to downsample)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

from modyn.selector.strategies.abstract_selection_strategy import (
    TrainingSet,
    TriggerContext,
    check_known_keys,
    config_bool,
    config_int,
)
from modyn.selector.strategies.sampling import StratifiedSampler

PREFIX = "selection_strategy.presampling_config"


class AbstractPresampling(ABC):
    """Picks the keys of a trigger training set out of the keys of a trigger window.

    Parameters (in `selection_strategy.presampling_config`):
        strategy: the presampling's registered name.
        ratio: 1..100 (default 100): the percentage of the window's keys to keep (rounded down).
    Balanced presamplings also take force_column_balancing / force_required_target_size.
    """

    name: ClassVar[str]
    options: ClassVar[tuple[str, ...]] = ("strategy", "ratio")

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = self.validate_config(config)
        self.ratio: int = self.config["ratio"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        check_known_keys(config, cls.options, cls.name, PREFIX)
        checked = dict(config)
        checked["strategy"] = cls.name
        checked["ratio"] = config_int(config, "ratio", 1, 100, maximum=100, prefix=PREFIX)
        return checked

    def target_size(self, total: int) -> int:
        return total * self.ratio // 100

    @abstractmethod
    def select(self, ctx: TriggerContext, first_trigger_id: int) -> Iterator[TrainingSet]:
        """The training set out of triggers first..ctx.trigger_id, ordered by (timestamp, key)."""


def sample_groups(
    ctx: TriggerContext, first_trigger_id: int, group: str | None, targets: dict[int, int], totals: dict[int, int]
) -> Iterator[TrainingSet]:
    """Stream the window and pick `targets[g]` of the `totals[g]` keys of each group g (seeded, in order)."""
    sampler = StratifiedSampler(targets, totals, ctx.rng)
    columns = ("key",) if group is None else ("key", group)
    for chunk in ctx.stream(first_trigger_id, ctx.trigger_id, columns):
        if sampler.done:
            break
        groups = chunk["key"] * 0 if group is None else chunk[group]
        yield TrainingSet(chunk["key"][sampler.select(groups)])


class AbstractBalancedPresampling(AbstractPresampling):
    """Keeps `ratio` percent of the window, balanced across the values of a column (see
    sampling.fair_shares for the exact quotas), each group's keys drawn uniformly at random.

    Parameters besides strategy and ratio:
        force_column_balancing (default false): every group gets exactly as many keys, even if the
            set ends up smaller than the target.
        force_required_target_size (default false): fill up to exactly the target size, even if the
            groups end up unequal. Excludes force_column_balancing.
    """

    column: ClassVar[str]
    options = ("strategy", "ratio", "force_column_balancing", "force_required_target_size")

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        checked = super().validate_config(config)
        checked["force_column_balancing"] = config_bool(config, "force_column_balancing", False, PREFIX)
        checked["force_required_target_size"] = config_bool(config, "force_required_target_size", False, PREFIX)
        if checked["force_column_balancing"] and checked["force_required_target_size"]:
            raise ValueError(f"{PREFIX}: force_column_balancing and force_required_target_size cannot both be true")
        return checked

    def select(self, ctx: TriggerContext, first_trigger_id: int) -> Iterator[TrainingSet]:
        from modyn.selector.strategies.sampling import fair_shares

        totals = ctx.count(first_trigger_id, ctx.trigger_id, self.column)
        targets = fair_shares(
            totals,
            self.target_size(sum(totals.values())),
            self.config["force_column_balancing"],
            self.config["force_required_target_size"],
        )
        yield from sample_groups(ctx, first_trigger_id, self.column, targets, totals)
