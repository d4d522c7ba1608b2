"""The interface of evaluation strategies: which time intervals of an evaluation dataset to evaluate on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

#: A closed interval [start, end] of sample timestamps.
Interval = tuple[int, int]


class EvalStrategy(ABC):
    """Turns triggers into evaluation intervals, after each trigger and for the matrix after the pipeline.

    Trigger entries are those of the pipeline log (`first_timestamp`/`last_timestamp`: the range of
    the new samples that led to the trigger).
    """

    name = ""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def after_trigger(self, trigger: dict[str, Any], history: list[dict[str, Any]]) -> list[Interval]:
        """The intervals to evaluate the trigger's new model on; `history`: every trigger so far, this one last."""

    @abstractmethod
    def for_matrix(self, triggers: list[dict[str, Any]]) -> list[Interval]:
        """The intervals (matrix columns) every model of the pipeline is evaluated on."""


def timed(triggers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The triggers that know their data's time range."""
    return [t for t in triggers if t.get("first_timestamp") is not None and t.get("last_timestamp") is not None]
