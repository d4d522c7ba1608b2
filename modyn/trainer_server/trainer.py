"""One training job, run inside its own (spawned) process: model, optimizers, data, loop, results.

`run_training_process` is the process target; `Trainer` holds the logic and also runs in-process
(tests do that). Progress goes to the parent through a shared array (`ProgressBoard`), the outcome
through a queue as one message: ("done", model_path, mean_loss) or ("failed", "Type: message").
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.models import build_model
from modyn.trainer_server.online_dataset import OnlineDataset, calling

logger = logging.getLogger(__name__)

Address = tuple[str, int]
LOSS_WINDOW = 10  # batches averaged into loss_first / loss_last


class TrainingConfigError(ValueError):
    """The pipeline's training section cannot be turned into a model, optimizer or criterion."""


@dataclass
class TrainingJobSpec:
    """Everything a training process needs; plain data, so it pickles into a spawned process."""

    training_id: int
    pipeline_id: int
    trigger_id: int
    pipeline_config: dict[str, Any]
    previous_model_id: int
    scratch_directory: str
    storage: Address
    selector: Address
    model_storage: Address
    metadata_processor: Address
    keys_per_request: int = 2000

    @property
    def model_path(self) -> Path:
        # The training id keeps two jobs of the same trigger (a retried trigger) apart.
        name = f"pipeline_{self.pipeline_id}_trigger_{self.trigger_id}_training_{self.training_id}.pt"
        return Path(self.scratch_directory) / name


PROGRESS_FIELDS = (
    "samples_seen",
    "total_samples",
    "current_loss",
    "epoch",
    "loss_first",
    "loss_last",
    "duration_s",
)


class ProgressBoard:
    """Named float slots over a shared array (or a plain list in-process): written by the job, read by the server."""

    def __init__(self, array: Any | None = None) -> None:
        self.array = array if array is not None else [math.nan] * len(PROGRESS_FIELDS)
        self.set(samples_seen=0, total_samples=0, epoch=0, duration_s=0.0)

    @staticmethod
    def new_shared_array(context: Any) -> Any:
        return context.Array("d", [math.nan] * len(PROGRESS_FIELDS))

    def set(self, **values: float) -> None:
        for name, value in values.items():
            self.array[PROGRESS_FIELDS.index(name)] = float(value)

    def get(self) -> dict[str, float]:
        return {name: float(self.array[i]) for i, name in enumerate(PROGRESS_FIELDS)}


@dataclass
class TrainingResult:
    model_path: Path
    mean_loss: float
    num_samples: int
    samples_seen: int
    first_losses: list[float] = field(default_factory=list)


def _make_optimizer(optimizer_class: Any, params: Any, defaults: dict[str, Any]) -> torch.optim.Optimizer:
    return optimizer_class(params, **defaults)  # type: ignore[no-any-return]


def build_optimizers(model: nn.Module, optimizers_config: Sequence[dict[str, Any]]) -> list[torch.optim.Optimizer]:
    """One torch.optim optimizer per config entry; one param group per entry of its param_groups."""
    optimizers = []
    for index, entry in enumerate(optimizers_config):
        where = f"training.optimizers[{index}]"
        algorithm = entry.get("algorithm", "")
        source = entry.get("source", "PyTorch")
        if source != "PyTorch":
            raise TrainingConfigError(f"{where}.source: unsupported optimizer source {source!r} (only PyTorch)")
        optimizer_class = getattr(torch.optim, algorithm, None) if algorithm else None
        if not (
            isinstance(optimizer_class, type)
            and issubclass(optimizer_class, torch.optim.Optimizer)
            and optimizer_class is not torch.optim.Optimizer
        ):
            raise TrainingConfigError(f"{where}.algorithm: {algorithm!r} is not an optimizer in torch.optim")
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
                _make_optimizer(optimizer_class, [nn.Parameter(torch.zeros(1))], group_config)
            except (TypeError, ValueError) as exc:
                raise TrainingConfigError(
                    f"{where}.param_groups[{g}].config: cannot create {algorithm}: {exc}"
                ) from exc
            groups.append({"params": list(module.parameters()), **group_config})
        if not groups:
            raise TrainingConfigError(f"{where}.param_groups: must have at least one group")
        optimizers.append(_make_optimizer(optimizer_class, groups, {}))
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


def resolve_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingConfigError(f"training.device: {name!r} requested but no CUDA device is available")
    return device


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


def batch_loss(
    criterion: nn.Module,
    per_sample_criterion: nn.Module | None,
    outputs: torch.Tensor,
    targets: Any,
    weights: torch.Tensor | None,
) -> torch.Tensor:
    """The criterion's loss; with selector weights (not all 1), the weighted mean of per-sample losses."""
    if weights is None or per_sample_criterion is None or bool((weights == 1).all()):
        return criterion(outputs, targets)  # type: ignore[no-any-return]
    per_sample = per_sample_criterion(outputs, targets)
    w = weights.to(device=per_sample.device, dtype=per_sample.dtype)
    if per_sample.dim() > 1:  # e.g. MSELoss over vector targets: one loss per sample first
        per_sample = per_sample.flatten(1).mean(dim=1)
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
    return f"{type(exc).__name__}: {text}"


class Trainer:
    """Runs one job: builds everything from the pipeline config, trains, saves, reports."""

    def __init__(self, spec: TrainingJobSpec, progress: ProgressBoard | None = None) -> None:
        self.spec = spec
        self.progress = progress or ProgressBoard()
        config = spec.pipeline_config
        self.training_config: dict[str, Any] = config["training"]
        self.data_config: dict[str, Any] = config["data"]
        self.model_config: dict[str, Any] = config["model"]

    def _load_previous_model(self, model: nn.Module) -> None:
        spec = self.spec
        destination = Path(spec.scratch_directory) / f"previous_{spec.previous_model_id}_training_{spec.training_id}.pt"
        client = ModelStorageClient(*spec.model_storage)
        try:
            with calling("model storage"):
                info = client.fetch_model_file(spec.previous_model_id, destination)
            if info.model_class_name != self.model_config["id"]:
                raise TrainingConfigError(
                    f"previous model {spec.previous_model_id} is a {info.model_class_name}, "
                    f"but the pipeline trains a {self.model_config['id']}"
                )
            state = torch.load(destination, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        finally:
            destination.unlink(missing_ok=True)
            client.close()
        logger.info("training %d starts from model %d", spec.training_id, spec.previous_model_id)

    def _dataset(self, seed: int | None) -> OnlineDataset:
        t = self.training_config
        return OnlineDataset(
            pipeline_id=self.spec.pipeline_id,
            trigger_id=self.spec.trigger_id,
            dataset_id=self.data_config["dataset_id"],
            bytes_parser_function=self.data_config["bytes_parser_function"],
            label_transformer_function=self.data_config.get("label_transformer_function", ""),
            storage=self.spec.storage,
            selector=self.spec.selector,
            shuffle=bool(t.get("shuffle", False)),
            seed=seed,
            num_prefetched_partitions=int(t.get("num_prefetched_partitions", 1)),
            parallel_prefetch_requests=int(t.get("parallel_prefetch_requests", 1)),
            keys_per_request=self.spec.keys_per_request,
        )

    def run(self) -> TrainingResult:
        started = time.monotonic()
        spec, t = self.spec, self.training_config
        seed = t.get("seed")
        if seed is not None:
            seed_everything(int(seed))
        device = resolve_device(t.get("device", "cpu"))
        model = build_model(self.model_config["id"], self.model_config.get("config", {}))
        if spec.previous_model_id >= 0 and t.get("use_previous_model", True):
            self._load_previous_model(model)
        model.to(device)
        optimizers = build_optimizers(model, t["optimizers"])
        criterion = build_criterion(t["optimization_criterion"]).to(device)
        dataset = self._dataset(int(seed) if seed is not None else None)

        selector = SelectorClient(*spec.selector)
        with calling("selector"):
            num_samples = selector.number_of_samples(spec.pipeline_id, spec.trigger_id)
        selector.close()
        epochs = int(t.get("epochs_per_trigger", 1))
        self.progress.set(total_samples=num_samples * epochs)

        workers = int(t.get("dataloader_workers", 0))
        loader = DataLoader(
            dataset,
            batch_size=int(t["batch_size"]),
            num_workers=workers,
            # Workers must not inherit gRPC state through fork: spawn them.
            multiprocessing_context="spawn" if workers > 0 else None,
            # Spawning workers costs seconds (each imports torch): keep them across epochs.
            persistent_workers=workers > 0,
            pin_memory=device.type == "cuda",
        )
        weighted_criterion = self._per_sample_criterion(t["optimization_criterion"], device)

        first_losses: list[float] = []
        last_losses: deque[float] = deque(maxlen=LOSS_WINDOW)
        loss_sum, samples_seen = 0.0, 0
        model.train()
        for epoch in range(epochs):
            dataset.set_epoch(epoch)
            self.progress.set(epoch=epoch)
            seen_before = samples_seen
            for batch in loader:
                inputs, targets = to_device(batch[1], device), to_device(batch[2], device)
                weights = batch[3] if len(batch) > 3 else None
                for optimizer in optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss = batch_loss(criterion, weighted_criterion, model(inputs), targets, weights)
                loss.backward()
                for optimizer in optimizers:
                    optimizer.step()

                value = loss.item()
                size = len(batch[0])
                samples_seen += size
                loss_sum += value * size
                last_losses.append(value)
                if len(first_losses) < LOSS_WINDOW:
                    first_losses.append(value)
                self.progress.set(
                    samples_seen=samples_seen,
                    current_loss=value,
                    loss_first=sum(first_losses) / len(first_losses),
                    loss_last=sum(last_losses) / len(last_losses),
                    duration_s=time.monotonic() - started,
                )
            if samples_seen - seen_before != num_samples:
                # E.g. the selector split the set for another number of workers: never train on part of it silently.
                raise TrainingConfigError(
                    f"epoch {epoch} saw {samples_seen - seen_before} samples but the trigger has {num_samples}; "
                    f"was the pipeline registered with training.dataloader_workers={workers}?"
                )
        mean_loss = loss_sum / samples_seen if samples_seen else math.nan

        path = self._save(model)
        self._send_metadata(mean_loss, num_samples)
        self.progress.set(duration_s=time.monotonic() - started, epoch=max(0, epochs - 1))
        logger.info(
            "training %d done: %d samples seen, mean loss %.4f, %.1f s",
            spec.training_id,
            samples_seen,
            mean_loss,
            time.monotonic() - started,
        )
        return TrainingResult(path, mean_loss, num_samples, samples_seen, first_losses)

    @staticmethod
    def _per_sample_criterion(criterion_config: dict[str, Any], device: torch.device) -> nn.Module | None:
        """The same loss with reduction='none', to weight samples; None if the loss has no such option."""
        try:
            config = {**criterion_config.get("config", {}), "reduction": "none"}
            return build_criterion({**criterion_config, "config": config}).to(device)
        except TrainingConfigError:
            return None

    def _save(self, model: nn.Module) -> Path:
        path = self.spec.model_path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, partial)
        os.replace(partial, path)  # a reader never sees half a model
        return path

    def _send_metadata(self, mean_loss: float, num_samples: int) -> None:
        client = MetadataProcessorClient(*self.spec.metadata_processor)
        try:
            with calling("metadata processor"):
                client.send_training_metadata(self.spec.pipeline_id, self.spec.trigger_id, mean_loss, num_samples)
        finally:
            client.close()


def run_training_process(spec: TrainingJobSpec, progress_array: Any, outcome_queue: Any) -> None:
    """Process target: run the job, then put exactly one outcome message on the queue."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s training-{spec.training_id} %(levelname)s %(message)s")
    try:
        result = Trainer(spec, ProgressBoard(progress_array)).run()
        outcome_queue.put(("done", str(result.model_path), result.mean_loss))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the server as a message
        logger.exception("training %d failed", spec.training_id)
        outcome_queue.put(("failed", describe_exception(exc), math.nan))
    finally:
        outcome_queue.close()
        outcome_queue.join_thread()
