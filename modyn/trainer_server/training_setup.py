"""Building a job's pieces from the pipeline's training section: optimizers (with parameter groups
by module), criterion, LR schedulers, device, mixed precision; and small tensor helpers."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


class TrainingConfigError(ValueError):
    """The pipeline's training section cannot be turned into a model, optimizer or criterion."""


def _make_optimizer(optimizer_class: Any, params: Any, defaults: dict[str, Any]) -> torch.optim.Optimizer:
    return optimizer_class(params, **defaults)  # type: ignore[no-any-return]


def optimizer_class(algorithm: str, where: str) -> type[torch.optim.Optimizer]:
    cls = getattr(torch.optim, algorithm, None) if algorithm else None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer):
        raise TrainingConfigError(f"{where}.algorithm: {algorithm!r} is not an optimizer in torch.optim")
    return cls


def build_optimizers(model: nn.Module, optimizers_config: Sequence[dict[str, Any]]) -> list[torch.optim.Optimizer]:
    """One torch.optim optimizer per config entry; one param group per entry of its param_groups."""
    optimizers = []
    for index, entry in enumerate(optimizers_config):
        where = f"training.optimizers[{index}]"
        algorithm = entry.get("algorithm", "")
        source = entry.get("source", "PyTorch")
        if source != "PyTorch":
            raise TrainingConfigError(f"{where}.source: unsupported optimizer source {source!r} (only PyTorch)")
        cls = optimizer_class(algorithm, where)
        groups = []
        for g, group in enumerate(entry.get("param_groups", [])):
            module_name = group.get("module", "model")
            if module_name == "model":
                module = model
            else:
                try:
                    module = model.get_submodule(module_name)
                except AttributeError as exc:
                    raise TrainingConfigError(
                        f"{where}.param_groups[{g}].module: the model has no submodule {module_name!r}"
                    ) from exc
            group_config = group.get("config", {})
            try:
                # torch checks keyword names and values only for the defaults, not for param groups:
                # try each group's config as defaults on a throwaway parameter first.
                _make_optimizer(cls, [nn.Parameter(torch.zeros(2, 2))], group_config)
            except (TypeError, ValueError) as exc:
                raise TrainingConfigError(
                    f"{where}.param_groups[{g}].config: cannot create {algorithm}: {exc}"
                ) from exc
            groups.append({"params": list(module.parameters()), **group_config})
        if not groups:
            raise TrainingConfigError(f"{where}.param_groups: must have at least one group")
        try:
            optimizers.append(_make_optimizer(cls, groups, {}))
        except (TypeError, ValueError) as exc:
            raise TrainingConfigError(f"{where}: cannot create {algorithm}: {exc}") from exc
    if not optimizers:
        raise TrainingConfigError("training.optimizers: must have at least one optimizer")
    return optimizers


def build_criterion(criterion_config: dict[str, Any]) -> nn.Module:
    """torch.nn.<name>(**config), e.g. CrossEntropyLoss."""
    name = criterion_config.get("name", "")
    criterion_class = getattr(nn, name, None) if name else None
    if not (isinstance(criterion_class, type) and issubclass(criterion_class, nn.Module)):
        raise TrainingConfigError(f"training.optimization_criterion.name: {name!r} is not a loss in torch.nn")
    try:
        return criterion_class(**criterion_config.get("config", {}))
    except TypeError as exc:
        raise TrainingConfigError(f"training.optimization_criterion: cannot create {name}: {exc}") from exc


def build_per_sample_criterion(criterion_config: dict[str, Any]) -> nn.Module | None:
    """The same loss with reduction='none' (one loss per sample); None if the loss has no such option."""
    try:
        return build_criterion(
            {**criterion_config, "config": {**criterion_config.get("config", {}), "reduction": "none"}}
        )
    except TrainingConfigError:
        return None


# Schedulers whose arguments are functions or other schedulers cannot come from YAML.
_UNCONFIGURABLE_SCHEDULERS = {"LambdaLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler"}


@dataclass
class ScheduledOptimizer:
    scheduler: Any
    step_every: str  # "batch" | "epoch"

    @property
    def needs_metric(self) -> bool:
        return isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def step(self, loss: float) -> None:
        if self.needs_metric:
            self.scheduler.step(loss)
        else:
            self.scheduler.step()


def build_lr_schedulers(
    config: dict[str, Any] | None, optimizers: Sequence[torch.optim.Optimizer], names: Sequence[str]
) -> list[ScheduledOptimizer]:
    """One scheduler of `config['name']` per optimizer it names (all when `optimizers` is absent)."""
    if not config:
        return []
    where = "training.lr_scheduler"
    name = config.get("name", "")
    if config.get("source", "PyTorch") != "PyTorch":
        raise TrainingConfigError(f"{where}.source: unsupported scheduler source {config.get('source')!r}")
    cls = getattr(torch.optim.lr_scheduler, name, None) if name else None
    is_scheduler = isinstance(cls, type) and (
        issubclass(cls, torch.optim.lr_scheduler.LRScheduler) or cls is torch.optim.lr_scheduler.ReduceLROnPlateau
    )
    if not is_scheduler or cls is torch.optim.lr_scheduler.LRScheduler:
        raise TrainingConfigError(f"{where}.name: {name!r} is not a scheduler in torch.optim.lr_scheduler")
    if name in _UNCONFIGURABLE_SCHEDULERS:
        raise TrainingConfigError(f"{where}.name: {name} takes functions or schedulers and cannot be configured")
    step_every = config.get("step_every", "epoch")
    if step_every not in ("batch", "epoch"):
        raise TrainingConfigError(f"{where}.step_every: must be batch or epoch, got {step_every!r}")
    wanted = list(config.get("optimizers") or names)
    scheduled = []
    for i, optimizer_name in enumerate(wanted):
        if optimizer_name not in names:
            raise TrainingConfigError(f"{where}.optimizers[{i}]: no optimizer named {optimizer_name!r}")
        optimizer = optimizers[list(names).index(optimizer_name)]
        try:
            scheduler = cls(optimizer, **config.get("config", {}))  # type: ignore[misc]
        except (TypeError, ValueError, KeyError) as exc:
            raise TrainingConfigError(f"{where}.config: cannot create {name}: {exc}") from exc
        scheduled.append(ScheduledOptimizer(scheduler, step_every))
    return scheduled


def resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise TrainingConfigError(f"training.device: {name!r} is not a device") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingConfigError(f"training.device: {name!r} requested but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainingConfigError(
                f"training.device: {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    elif device.type != "cpu":
        raise TrainingConfigError(f"training.device: {name!r} is not supported (cpu or cuda:N)")
    return device


def autocast_context(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision: bfloat16 on CPU, float16 on CUDA; a no-op context when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    """A gradient scaler for float16 on CUDA; disabled (a pass-through) otherwise."""
    return torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(value: Any, device: torch.device) -> Any:
    """Move a tensor, or tensors nested in lists/tuples/dicts (a parser may return any of them)."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_device(v, device) for v in value)
    return value


def index_batch(value: Any, indices: torch.Tensor) -> Any:
    """The rows `indices` of a batch: tensors, or tensors nested in dicts/lists/tuples, or lists."""
    if isinstance(value, torch.Tensor):
        return value.index_select(0, indices.to(value.device))
    if isinstance(value, dict):
        return {k: index_batch(v, indices) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) and isinstance(value[0], torch.Tensor):
        return tuple(index_batch(v, indices) for v in value)
    if isinstance(value, list | tuple):
        return type(value)(value[i] for i in indices.tolist())
    return value


def batch_loss(
    criterion: nn.Module,
    per_sample_criterion: nn.Module | None,
    outputs: torch.Tensor,
    targets: Any,
    weights: torch.Tensor | None,
) -> torch.Tensor:
    """The criterion's loss; with weights (not all 1), the weighted mean of per-sample losses."""
    if weights is None or per_sample_criterion is None or bool((weights == 1).all()):
        return criterion(outputs, targets)  # type: ignore[no-any-return]
    return weighted_mean(per_sample_criterion(outputs, targets), weights)


def weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if per_sample.dim() > 1:  # e.g. MSELoss over vector targets: one loss per sample first
        per_sample = per_sample.flatten(1).mean(dim=1)
    if weights is None:
        return per_sample.mean()
    w = weights.to(device=per_sample.device, dtype=per_sample.dtype)
    return (per_sample * w).sum() / w.sum().clamp_min(1e-12)


def describe_exception(exc: BaseException) -> str:
    """'Type: message' for the job's error. A DataLoader worker's error arrives wrapped with its
    whole traceback; keep only its last line, which names the original error."""
    text = str(exc)
    if "Original Traceback" in text:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        last = lines[-1].strip()
        type_part, sep, message = last.partition(": ")
        if sep:
            return f"{type_part.rsplit('.', 1)[-1]}: {message}"
        return last
    if isinstance(exc, torch.cuda.OutOfMemoryError) or (isinstance(exc, MemoryError)):
        return f"OutOfMemoryError: {text or 'out of memory'} (reduce training.batch_size or the model)"
    return f"{type(exc).__name__}: {text}"


def last_linear(model: nn.Module) -> nn.Linear | None:
    """The model's last nn.Linear (in registration order), whose input serves as embedding."""
    found = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            found = module
    return found
