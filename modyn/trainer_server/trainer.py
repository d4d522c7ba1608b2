"""One training job, run inside its own (spawned) process: model, optimizers, data, loop, results.

`run_training_process` is the process target; `Trainer` holds the logic and also runs in-process
(tests do that). Progress goes to the parent through a shared array (`ProgressBoard`), the outcome
through a queue as one message: ("done", model_path, extras) or ("failed", "Type: message", {}).

The loop: per trigger, `epochs_per_trigger` epochs (or exactly `num_samples_to_pass` samples) over
the OnlineDataset; optional downsampling (batch-then-sample: score every batch and train on part of
it; sample-then-batch: score the whole set every `period` epochs and train on the selection), LR
schedulers stepped per batch or epoch, mixed precision, checkpoints every N batches, per-sample
losses to the metadata processor. The status reports where the time went: setup, waiting for
data, training steps, downsampling, finishing (saving the model and sending metadata).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.models import build_model
from modyn.trainer_server.downsampling import (
    Downsampler,
    DownsamplingContext,
    ScoringBatch,
    build_downsampler,
    target_size,
)
from modyn.trainer_server.downsampling.rho_loss import RHOLossDownsampler
from modyn.trainer_server.online_dataset import (
    DEFAULT_SAMPLE_CACHE_MB,
    OnlineDataset,
    Selection,
    calling,
    save_selection,
)
from modyn.trainer_server.training_setup import (  # noqa: F401 - re-exported for callers of this module
    ScheduledOptimizer,
    TrainingConfigError,
    autocast_context,
    batch_loss,
    build_criterion,
    build_lr_schedulers,
    build_optimizers,
    build_per_sample_criterion,
    describe_exception,
    index_batch,
    last_linear,
    make_grad_scaler,
    resolve_device,
    seed_everything,
    to_device,
    weighted_mean,
)

logger = logging.getLogger(__name__)

Address = tuple[str, int]
LOSS_WINDOW = 10  # batches averaged into loss_first / loss_last


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
    max_retries: int = 5

    @property
    def model_path(self) -> Path:
        # The training id keeps two jobs of the same trigger (a retried trigger) apart.
        name = f"pipeline_{self.pipeline_id}_trigger_{self.trigger_id}_training_{self.training_id}.pt"
        return Path(self.scratch_directory) / name

    @property
    def selection_path(self) -> Path:
        return Path(self.scratch_directory) / f"selection_training_{self.training_id}.npz"


PROGRESS_FIELDS = (
    "samples_seen",
    "total_samples",
    "current_loss",
    "epoch",
    "loss_first",
    "loss_last",
    "duration_s",
    "samples_trained",
    "time_setup_s",
    "time_wait_data_s",
    "time_train_s",
    "time_downsample_s",
    "time_finish_s",
)
TIME_FIELDS = ("time_setup_s", "time_wait_data_s", "time_train_s", "time_downsample_s", "time_finish_s")


class ProgressBoard:
    """Named float slots over a shared array (or a plain list in-process): written by the job, read by the server."""

    def __init__(self, array: Any | None = None) -> None:
        self.array = array if array is not None else [math.nan] * len(PROGRESS_FIELDS)
        self.set(samples_seen=0, total_samples=0, epoch=0, duration_s=0.0, samples_trained=0)
        self.set(**dict.fromkeys(TIME_FIELDS, 0.0))

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
    samples_trained: int = 0
    loss_curve: list[float] = field(default_factory=list)
    per_sample_losses: dict[int, float] = field(default_factory=dict)

    def extras(self, record_loss_every: int) -> dict[str, Any]:
        return {"mean_loss": self.mean_loss, "loss_curve": self.loss_curve, "record_loss_every": record_loss_every}


@dataclass
class _Clock:
    """Seconds spent per phase (the TIME_FIELDS)."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIME_FIELDS, 0.0))

    def add(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.seconds[phase] += now - since
        return now


class _EmbeddingRecorder:
    """Keeps the input of the model's last linear layer while `active` (KcenterGreedy's embeddings)."""

    def __init__(self, model: nn.Module) -> None:
        self.active = False
        self.value: torch.Tensor | None = None
        layer = last_linear(model)
        if layer is not None:
            layer.register_forward_hook(self._hook)

    def _hook(self, _module: nn.Module, inputs: tuple[Any, ...], _output: Any) -> None:
        if self.active and inputs and isinstance(inputs[0], torch.Tensor):
            self.value = inputs[0].detach()


class Trainer:
    """Runs one job: builds everything from the pipeline config, trains, saves, reports."""

    def __init__(self, spec: TrainingJobSpec, progress: ProgressBoard | None = None) -> None:
        self.spec = spec
        self.progress = progress or ProgressBoard()
        config = spec.pipeline_config
        self.training_config: dict[str, Any] = config["training"]
        self.data_config: dict[str, Any] = config["data"]
        self.model_config: dict[str, Any] = config["model"]
        strategy = config.get("selection_strategy") or {}
        self.downsampling_config: dict[str, Any] | None = strategy.get("downsampling_config")
        if spec.trigger_id < int(strategy.get("warmup_triggers") or 0):
            self.downsampling_config = None  # CoresetStrategy's warm-up: the first triggers train on everything
        self.clock = _Clock()

    # --- setup ------------------------------------------------------------------------------

    def _load_model_from_storage(self, model: nn.Module, model_id: int, what: str) -> None:
        spec = self.spec
        destination = Path(spec.scratch_directory) / f"{what}_{model_id}_training_{spec.training_id}.pt"
        client = ModelStorageClient(*spec.model_storage)
        try:
            with calling("model storage"):
                info = client.fetch_model_file(model_id, destination)
            if info.model_class_name != self.model_config["id"]:
                raise TrainingConfigError(
                    f"{what.replace('_', ' ')} model {model_id} is a {info.model_class_name}, "
                    f"but the pipeline trains a {self.model_config['id']}"
                )
            state = torch.load(destination, map_location="cpu", weights_only=True)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise TrainingConfigError(
                    f"{what.replace('_', ' ')} model {model_id} does not fit model.config: {exc}"
                ) from exc
        finally:
            destination.unlink(missing_ok=True)
            client.close()
        logger.info("training %d starts from %s model %d", spec.training_id, what, model_id)

    def _initial_weights(self, model: nn.Module) -> None:
        t = self.training_config
        if self.spec.previous_model_id >= 0 and t.get("use_previous_model", True):
            self._load_model_from_storage(model, self.spec.previous_model_id, "previous")
        elif t.get("initial_model", "random") == "pretrained":
            if "initial_model_id" not in t:
                raise TrainingConfigError("training.initial_model_id: is required when initial_model is pretrained")
            self._load_model_from_storage(model, int(t["initial_model_id"]), "initial")

    def _dataset(self, seed: int) -> OnlineDataset:
        t = self.training_config
        return OnlineDataset(
            pipeline_id=self.spec.pipeline_id,
            trigger_id=self.spec.trigger_id,
            dataset_id=self.data_config["dataset_id"],
            bytes_parser_function=self.data_config["bytes_parser_function"],
            label_transformer_function=self.data_config.get("label_transformer_function", ""),
            transformations=self.data_config.get("transformations", []),
            storage=self.spec.storage,
            selector=self.spec.selector,
            shuffle=bool(t.get("shuffle", False)),
            seed=seed,
            num_prefetched_partitions=int(t.get("num_prefetched_partitions", 1)),
            parallel_prefetch_requests=int(t.get("parallel_prefetch_requests", 1)),
            keys_per_request=self.spec.keys_per_request,
            num_shares=max(1, int(t.get("dataloader_workers", 0))),
            selection_path=str(self.spec.selection_path),
            max_retries=self.spec.max_retries,
            # The dataset collates the batches (each worker its own, as a DataLoader would).
            batch_size=int(t["batch_size"]),
            drop_last=bool(t.get("drop_last_batch", False)),
            sample_cache_bytes=int(t.get("sample_cache_mb", DEFAULT_SAMPLE_CACHE_MB)) * 2**20,
        )

    def _batches(self, dataset: OnlineDataset, selection: Selection | None) -> Iterator[tuple[Any, ...]]:
        """Main-process batches of every worker share (scoring passes, IL model training)."""
        return dataset.iterate_all(selection, batch_size=int(self.training_config["batch_size"]))

    # --- the job ----------------------------------------------------------------------------

    def run(self) -> TrainingResult:
        started = time.monotonic()
        try:
            return self._run(started)
        finally:
            self.spec.selection_path.unlink(missing_ok=True)

    def _run(self, started: float) -> TrainingResult:
        spec, t = self.spec, self.training_config
        seed = int(t["seed"]) if t.get("seed") is not None else random.SystemRandom().randrange(2**31)
        seed_everything(seed)
        device = resolve_device(t.get("device", "cpu"))
        self.device = device
        self.amp = bool(t.get("amp", False))
        model = build_model(self.model_config["id"], self.model_config.get("config", {}))
        self._initial_weights(model)
        model.to(device)
        self.model = model
        names = [o.get("name", f"optimizer_{i}") for i, o in enumerate(t["optimizers"])]
        self.optimizers = build_optimizers(model, t["optimizers"])
        self.uses_closure = any(isinstance(o, torch.optim.LBFGS) for o in self.optimizers)
        if self.uses_closure and self.amp and device.type == "cuda":
            raise TrainingConfigError("training.amp: LBFGS cannot be combined with a gradient scaler (amp on CUDA)")
        self.criterion = build_criterion(t["optimization_criterion"]).to(device)
        self.per_sample_criterion = build_per_sample_criterion(t["optimization_criterion"])
        if self.per_sample_criterion is not None:
            self.per_sample_criterion.to(device)
        self.record_per_sample = bool(t.get("record_per_sample_loss", False))
        if self.record_per_sample and self.per_sample_criterion is None:
            raise TrainingConfigError(
                "training.record_per_sample_loss: the criterion has no reduction='none', so it has no per-sample loss"
            )
        self.schedulers = build_lr_schedulers(t.get("lr_scheduler"), self.optimizers, names)
        self.scaler = make_grad_scaler(device, self.amp)
        self.embeddings = _EmbeddingRecorder(model)

        dataset = self._dataset(seed)
        self.dataset = dataset  # its counters (storage fetches, cache hits) are this process's
        selector = SelectorClient(*spec.selector)
        try:
            with calling("selector"):
                num_samples = selector.number_of_samples(spec.pipeline_id, spec.trigger_id)
        finally:
            selector.close()

        downsampler, stb = None, False
        base_selection: Selection | None = None
        if self.downsampling_config:
            downsampler = build_downsampler(
                self.downsampling_config, DownsamplingContext(self.per_sample_criterion, device, seed)
            )
            stb = bool(self.downsampling_config.get("sample_then_batch", False))
            if isinstance(downsampler, RHOLossDownsampler):
                base_selection = self._prepare_rho_loss(downsampler, dataset, seed)
        num_train = len(base_selection) if base_selection is not None else num_samples
        per_epoch = target_size(num_train, downsampler.ratio) if (downsampler is not None and stb) else num_train
        to_pass = t.get("num_samples_to_pass")
        epochs = (
            int(t.get("epochs_per_trigger", 1)) if to_pass is None else max(1, math.ceil(to_pass / max(1, per_epoch)))
        )
        total = int(to_pass) if to_pass is not None else per_epoch * epochs
        self.progress.set(total_samples=total)
        if base_selection is not None and not stb:
            save_selection(str(spec.selection_path), base_selection)

        workers = int(t.get("dataloader_workers", 0))
        drop_last = bool(t.get("drop_last_batch", False))
        loader = DataLoader(
            dataset,
            batch_size=None,  # the dataset yields whole batches (and drops each worker's last one if asked)
            num_workers=workers,
            # Workers must not inherit gRPC state through fork: spawn them.
            multiprocessing_context="spawn" if workers > 0 else None,
            # Spawning workers costs seconds (each imports torch), and each keeps its epoch cache: keep them.
            persistent_workers=workers > 0,
            pin_memory=device.type == "cuda",
        )
        record_every = int(t.get("record_loss_every", 0))
        checkpointing = t.get("checkpointing") or {}
        checkpoint_every = int(checkpointing["interval"]) if checkpointing.get("activated") else 0

        first_losses: list[float] = []
        last_losses: deque[float] = deque(maxlen=LOSS_WINDOW)
        loss_curve: list[float] = []
        per_sample_losses: dict[int, float] = {}
        loss_sum, samples_seen, samples_trained, batches = 0.0, 0, 0, 0
        self.clock.add("time_setup_s", started)
        model.train()
        epoch = 0
        for epoch in range(epochs):
            if stb and downsampler is not None:
                period = int(self.downsampling_config.get("period", 1))  # type: ignore[union-attr]
                if epoch == 0 or (period > 0 and epoch % period == 0):
                    selection = self._select_sample_then_batch(downsampler, dataset, base_selection)
                    save_selection(str(spec.selection_path), selection)
            dataset.set_epoch(epoch)
            self.progress.set(epoch=epoch)
            seen_before, epoch_loss_sum, epoch_trained = samples_seen, 0.0, 0
            mark = time.monotonic()
            iterator = iter(loader)
            while True:
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                mark = self.clock.add("time_wait_data_s", mark)
                keys = batch[0].tolist() if isinstance(batch[0], torch.Tensor) else list(batch[0])
                inputs, targets = to_device(batch[1], device), to_device(batch[2], device)
                weights = batch[3].to(torch.float32) if len(batch) > 3 else None
                if to_pass is not None and samples_seen + len(keys) > to_pass:
                    keep = torch.arange(int(to_pass) - samples_seen)  # exactly num_samples_to_pass
                    inputs, targets, keys = index_batch(inputs, keep), index_batch(targets, keep), keys[: len(keep)]
                    weights = weights[keep] if weights is not None else None
                samples_seen += len(keys)
                if downsampler is not None and not stb:
                    inputs, targets, keys, weights = self._select_batch(downsampler, inputs, targets, keys, weights)
                value, per_sample = self._train_step(inputs, targets, weights)
                batches += 1
                size = len(keys)
                samples_trained += size
                epoch_trained += size
                loss_sum += value * size
                epoch_loss_sum += value * size
                if per_sample is not None:
                    per_sample_losses.update(zip(keys, per_sample.tolist(), strict=True))
                last_losses.append(value)
                if len(first_losses) < LOSS_WINDOW:
                    first_losses.append(value)
                if record_every and batches % record_every == 0:
                    loss_curve.append(value)
                for scheduled in self.schedulers:
                    if scheduled.step_every == "batch":
                        scheduled.step(value)
                if checkpoint_every and batches % checkpoint_every == 0:
                    self._checkpoint(checkpointing["path"], epoch, batches, samples_seen)
                mark = self.clock.add("time_train_s", mark)
                self._report(
                    started,
                    samples_seen=samples_seen,
                    samples_trained=samples_trained,
                    current_loss=value,
                    loss_first=sum(first_losses) / len(first_losses),
                    loss_last=sum(last_losses) / len(last_losses),
                )
                if to_pass is not None and samples_seen >= to_pass:
                    break
            self.clock.add("time_wait_data_s", mark)
            epoch_seen = samples_seen - seen_before
            self._check_epoch_size(epoch, epoch_seen, per_epoch, num_samples, workers, drop_last, to_pass)
            for scheduled in self.schedulers:
                if scheduled.step_every == "epoch":
                    scheduled.step(epoch_loss_sum / epoch_trained if epoch_trained else math.nan)
            if to_pass is not None and samples_seen >= to_pass:
                break
        del loader
        mean_loss = loss_sum / samples_trained if samples_trained else math.nan

        finishing = time.monotonic()
        path = self._save(model)
        self._send_metadata(mean_loss, num_samples, per_sample_losses if self.record_per_sample else None)
        self.clock.add("time_finish_s", finishing)
        self._report(started, epoch=epoch)
        logger.info(
            "training %d done: %d samples seen, %d trained, mean loss %.4f, %.1f s (%s)%s",
            spec.training_id,
            samples_seen,
            samples_trained,
            mean_loss,
            time.monotonic() - started,
            ", ".join(f"{k} {v:.2f}" for k, v in self.clock.seconds.items()),
            # With workers > 0 the workers' own counters stay in the workers.
            f"; main process: {dataset.storage_fetches} chunks from storage, {dataset.cache_hits} from the epoch cache"
            if workers == 0
            else "",
        )
        return TrainingResult(
            path,
            mean_loss,
            num_samples,
            samples_seen,
            first_losses,
            samples_trained=samples_trained,
            loss_curve=loss_curve,
            per_sample_losses=per_sample_losses,
        )

    def _report(self, started: float, **values: float) -> None:
        self.progress.set(duration_s=time.monotonic() - started, **self.clock.seconds, **values)

    @staticmethod
    def _check_epoch_size(
        epoch: int,
        seen: int,
        expected: int,
        num_samples: int,
        workers: int,
        drop_last: bool,
        to_pass: int | None,
    ) -> None:
        if to_pass is not None and seen < expected:
            return  # the last epoch of num_samples_to_pass stops early
        if drop_last and seen <= expected:
            return
        if seen != expected:
            # E.g. the selector split the set for another number of workers: never train on part of it silently.
            raise TrainingConfigError(
                f"epoch {epoch} saw {seen} samples but the trigger has {num_samples}"
                + (f" ({expected} to train on)" if expected != num_samples else "")
                + f"; was the pipeline registered with training.dataloader_workers={workers}?"
            )

    # --- one step ---------------------------------------------------------------------------

    def _forward_losses(
        self, inputs: Any, targets: Any, weights: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        weighted = weights is not None and not bool((weights == 1).all())
        with autocast_context(self.device, self.amp):
            outputs = self.model(inputs)
            per_sample = None
            if weighted or self.record_per_sample:
                if self.per_sample_criterion is None:
                    raise TrainingConfigError(
                        "training.optimization_criterion: sample weights need a loss with reduction='none'"
                    )
                per_sample = self.per_sample_criterion(outputs, targets)
            loss = (
                weighted_mean(per_sample, weights)
                if per_sample is not None and weighted
                else self.criterion(outputs, targets)
            )
        return loss, per_sample

    def _train_step(self, inputs: Any, targets: Any, weights: torch.Tensor | None) -> tuple[float, torch.Tensor | None]:
        """One optimization step; returns the batch loss and the per-sample losses when recorded."""
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        if self.uses_closure:  # LBFGS re-evaluates the loss itself
            result: dict[str, Any] = {}

            def closure() -> torch.Tensor:
                for optimizer in self.optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss, per_sample = self._forward_losses(inputs, targets, weights)
                loss.backward()
                result.setdefault("loss", loss.detach())
                result.setdefault("per_sample", per_sample)
                return loss

            for optimizer in self.optimizers:
                optimizer.step(closure)  # type: ignore[arg-type]
            loss_value, per_sample = result["loss"], result["per_sample"]
        else:
            loss, per_sample = self._forward_losses(inputs, targets, weights)
            self.scaler.scale(loss).backward()
            for optimizer in self.optimizers:
                self.scaler.step(optimizer)
            self.scaler.update()
            loss_value = loss.detach()
        value = float(loss_value.item())
        if not math.isfinite(value):
            logger.warning("training %d: non-finite loss %s", self.spec.training_id, value)
        if per_sample is not None:
            per_sample = per_sample.detach().float()
            per_sample = per_sample.flatten(1).mean(1) if per_sample.dim() > 1 else per_sample
            per_sample = per_sample.cpu()
        return value, per_sample

    # --- downsampling -----------------------------------------------------------------------

    def _score(self, downsampler: Downsampler, keys: list[int], inputs: Any, targets: Any) -> None:
        """Inform the downsampler about one batch, scored by the current model (no gradients)."""
        outputs = losses = embeddings = None
        if downsampler.needs_forward:
            self.model.eval()
            self.embeddings.active = downsampler.needs_embeddings
            try:
                with torch.no_grad(), autocast_context(self.device, self.amp):
                    outputs = self.model(inputs)
                    if self.per_sample_criterion is not None and downsampler.needs_criterion:
                        losses = self.per_sample_criterion(outputs, targets).float()
                outputs = outputs.float()
                embeddings = self.embeddings.value.float() if self.embeddings.value is not None else None
            finally:
                self.embeddings.active = False
                self.embeddings.value = None
                self.model.train()
        downsampler.inform(ScoringBatch(keys, inputs, targets, outputs, losses, embeddings))

    def _select_batch(
        self, downsampler: Downsampler, inputs: Any, targets: Any, keys: list[int], weights: torch.Tensor | None
    ) -> tuple[Any, Any, list[int], torch.Tensor]:
        """Batch-then-sample: keep `ratio` percent of this batch, weighted."""
        downsampler.reset()
        self._score(downsampler, keys, inputs, targets)
        indices, chosen_weights = downsampler.select()
        index = torch.tensor(indices, dtype=torch.long)
        if weights is not None:
            chosen_weights = chosen_weights * weights[index]
        return index_batch(inputs, index), index_batch(targets, index), [keys[i] for i in indices], chosen_weights

    def _select_sample_then_batch(
        self, downsampler: Downsampler, dataset: OnlineDataset, base: Selection | None
    ) -> Selection:
        """Score the whole training set (all worker shares, in this process) and select from it."""
        started = time.monotonic()
        downsampler.reset()
        if downsampler.needs_forward:
            for batch in self._batches(dataset, base):
                keys = batch[0].tolist()
                self._score(downsampler, keys, to_device(batch[1], self.device), to_device(batch[2], self.device))
        else:
            keys = dataset.all_keys()
            downsampler.inform(
                ScoringBatch([k for k in keys if base is None or k in base], None, None, None, None, None)
            )
        indices, weights = downsampler.select()
        selection = {downsampler.keys[i]: float(w) for i, w in zip(indices, weights.tolist(), strict=True)}
        self.clock.add("time_downsample_s", started)
        logger.info(
            "training %d: sample-then-batch %s kept %d of %d samples",
            self.spec.training_id,
            downsampler.name,
            len(selection),
            len(downsampler.keys),
        )
        return selection

    def _prepare_rho_loss(self, downsampler: RHOLossDownsampler, dataset: OnlineDataset, seed: int) -> Selection:
        """Hold out part of the set, train the irreducible-loss model on it; return the rest to train on."""
        started = time.monotonic()
        assert self.downsampling_config is not None
        keys = dataset.all_keys()
        holdout_size = max(1, len(keys) * int(self.downsampling_config.get("holdout_set_ratio", 10)) // 100)
        if holdout_size >= len(keys):
            raise TrainingConfigError(
                f"selection_strategy.downsampling_config.holdout_set_ratio: the trigger has only {len(keys)} "
                "samples, too few to hold some out"
            )
        holdout = set(random.Random(f"{seed}/holdout").sample(keys, holdout_size))
        il_model = build_model(self.model_config["id"], self.model_config.get("config", {})).to(self.device)
        il_optimizers = build_optimizers(il_model, self.training_config["optimizers"])
        il_model.train()
        for _ in range(int(self.downsampling_config.get("il_training_epochs", 1))):
            for batch in self._batches(dataset, dict.fromkeys(holdout, 1.0)):
                inputs, targets = to_device(batch[1], self.device), to_device(batch[2], self.device)
                for optimizer in il_optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss = self.criterion(il_model(inputs), targets)
                loss.backward()
                for optimizer in il_optimizers:
                    optimizer.step()
        downsampler.set_il_model(il_model)
        self.clock.add("time_downsample_s", started)
        return {key: 1.0 for key in keys if key not in holdout}

    # --- results ----------------------------------------------------------------------------

    def _checkpoint(self, folder: str, epoch: int, batches: int, samples_seen: int) -> Path:
        spec = self.spec
        directory = Path(folder) / f"pipeline_{spec.pipeline_id}" / f"trigger_{spec.trigger_id}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"checkpoint_batch_{batches:08d}.pt"
        partial = path.with_name(path.name + ".partial")
        torch.save(
            {
                "training_id": spec.training_id,
                "epoch": epoch,
                "batches": batches,
                "samples_seen": samples_seen,
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizers": [o.state_dict() for o in self.optimizers],
                "lr_schedulers": [s.scheduler.state_dict() for s in self.schedulers],
                "grad_scaler": self.scaler.state_dict(),
            },
            partial,
        )
        os.replace(partial, path)
        return path

    def _save(self, model: nn.Module) -> Path:
        path = self.spec.model_path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, partial)
        os.replace(partial, path)  # a reader never sees half a model
        return path

    def _send_metadata(self, mean_loss: float, num_samples: int, per_sample: dict[int, float] | None) -> None:
        client = MetadataProcessorClient(*self.spec.metadata_processor)
        try:
            with calling("metadata processor"):
                client.send_training_metadata(
                    self.spec.pipeline_id,
                    self.spec.trigger_id,
                    mean_loss,
                    num_samples,
                    list(per_sample) if per_sample else None,
                    list(per_sample.values()) if per_sample else None,
                )
        finally:
            client.close()


def run_training_process(spec: TrainingJobSpec, progress_array: Any, outcome_queue: Any) -> None:
    """Process target: run the job, then put exactly one outcome message on the queue."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s training-{spec.training_id} %(levelname)s %(message)s")
    try:
        result = Trainer(spec, ProgressBoard(progress_array)).run()
        record_every = int(spec.pipeline_config["training"].get("record_loss_every", 0))
        outcome_queue.put(("done", str(result.model_path), result.extras(record_every)))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the server as a message
        logger.exception("training %d failed", spec.training_id)
        outcome_queue.put(("failed", describe_exception(exc), {}))
    finally:
        outcome_queue.close()
        outcome_queue.join_thread()
