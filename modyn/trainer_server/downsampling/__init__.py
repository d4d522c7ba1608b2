"""Trainer-side downsampling (the `selection_strategy.downsampling_config` of a pipeline).

One file per strategy; DOWNSAMPLERS maps the config's `strategy` name to its class.
"""

from __future__ import annotations

from typing import Any

from modyn.trainer_server.downsampling.base import Downsampler, DownsamplingContext, ScoringBatch, target_size
from modyn.trainer_server.downsampling.gradnorm import GradNormDownsampler
from modyn.trainer_server.downsampling.kcenter_greedy import KcenterGreedyDownsampler
from modyn.trainer_server.downsampling.loss import LossDownsampler
from modyn.trainer_server.downsampling.rho_loss import RHOLossDownsampler
from modyn.trainer_server.downsampling.rs2 import RS2Downsampler
from modyn.trainer_server.downsampling.uncertainty import UncertaintyDownsampler

DOWNSAMPLERS: dict[str, type[Downsampler]] = {
    "Loss": LossDownsampler,
    "GradNorm": GradNormDownsampler,
    "Uncertainty": UncertaintyDownsampler,
    "KcenterGreedy": KcenterGreedyDownsampler,
    "RS2": RS2Downsampler,
    "RHOLoss": RHOLossDownsampler,
}


def build_downsampler(config: dict[str, Any], context: DownsamplingContext) -> Downsampler:
    name = config.get("strategy")
    if name not in DOWNSAMPLERS:
        raise ValueError(
            f"selection_strategy.downsampling_config.strategy: unknown downsampler {name!r} "
            f"(known: {', '.join(DOWNSAMPLERS)})"
        )
    downsampler = DOWNSAMPLERS[name](int(config.get("ratio", 50)), config, context)
    if downsampler.needs_criterion and context.per_sample_criterion is None:
        raise ValueError(
            f"selection_strategy.downsampling_config: {name} needs per-sample losses, but "
            "training.optimization_criterion has no reduction='none'"
        )
    return downsampler


__all__ = [
    "DOWNSAMPLERS",
    "Downsampler",
    "DownsamplingContext",
    "ScoringBatch",
    "build_downsampler",
    "target_size",
]
