"""Evaluation strategies by name: one file each, one line in EVAL_STRATEGIES."""

from __future__ import annotations

from typing import Any

from modyn.supervisor.evaluation.eval_strategy import EvalStrategy, Interval
from modyn.supervisor.evaluation.offset_eval_strategy import OffsetEvalStrategy
from modyn.supervisor.evaluation.periodic_eval_strategy import PeriodicEvalStrategy
from modyn.supervisor.evaluation.static_eval_strategy import StaticEvalStrategy

EVAL_STRATEGIES: dict[str, type[EvalStrategy]] = {
    "OffsetEvalStrategy": OffsetEvalStrategy,
    "StaticEvalStrategy": StaticEvalStrategy,
    "PeriodicEvalStrategy": PeriodicEvalStrategy,
}


def build_eval_strategy(config: dict[str, Any]) -> EvalStrategy:
    name = config.get("name")
    if name not in EVAL_STRATEGIES:
        raise ValueError(f"unknown evaluation strategy {name!r} (known: {', '.join(sorted(EVAL_STRATEGIES))})")
    return EVAL_STRATEGIES[name]({k: v for k, v in config.items() if k != "name"})


__all__ = ["EVAL_STRATEGIES", "EvalStrategy", "Interval", "build_eval_strategy"]
