"""One evaluation job, run in its own process (forked from the job fork server): fetch the model, stream
the samples, update the metrics.

The parent hands over an `EvaluationJob` (picklable: the clients pickle as host and port) and a queue;
the job reports back through the queue:
  ("progress", num_samples)                       while it runs,
  ("done", num_samples, [(name, value), ...])     once at the end, or
  ("failed", "what failed: Type: message")        once, instead of "done".
"""

from __future__ import annotations

import array
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import torch

from modyn.common.clients import describe_rpc_error
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.data import DataConfigError, build_bytes_parser, build_transform
from modyn.common.user_functions import compile_user_function
from modyn.evaluator.metrics import build_metric
from modyn.models import build_model

#: Keys per storage Get request: large enough to amortise the call, small enough to bound memory.
DEFAULT_KEYS_PER_GET = 2000


class EvaluationFailure(Exception):
    """A failure whose message already says what failed (reported as is)."""


@dataclass
class EvaluationJob:
    """Everything an evaluation process needs; the keys are the snapshot taken when the job was requested."""

    evaluation_id: int
    model_id: int
    dataset_id: str
    bytes_parser_function: str
    label_transformer_function: str
    batch_size: int
    device: str
    metric_configs: list[dict[str, Any]]
    result_names: list[str]
    keys: array.array  # int64 ('q'): pickles compactly as one bytes object
    storage: StorageClient
    model_storage: ModelStorageClient
    keys_per_get: int = DEFAULT_KEYS_PER_GET
    evaluation_transformer_function: str = ""
    transformations: list[Any] | None = None


def run_evaluation(job: EvaluationJob, reports: Any) -> None:
    """Process entry point: evaluate and put exactly one "done" or "failed" report on `reports`."""
    try:
        num_samples, results = evaluate(job, lambda n: reports.put(("progress", n)))
    except EvaluationFailure as exc:
        reports.put(("failed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - anything unexpected is reported, not lost in a dead process
        reports.put(("failed", f"evaluation {job.evaluation_id} failed: {type(exc).__name__}: {exc}"))
    else:
        reports.put(("done", num_samples, results))
    finally:
        job.storage.close()
        job.model_storage.close()


def evaluate(
    job: EvaluationJob, on_progress: Callable[[int], None] | None = None
) -> tuple[int, list[tuple[str, float]]]:
    """Evaluate the job's model on its keys; return (number of samples evaluated, [(metric name, value)])."""
    # The same parsing path as training: built-in parser names or user source, then transformations.
    try:
        parse = build_bytes_parser(job.bytes_parser_function, "bytes_parser_function")
        transform = build_transform(job.transformations, "transformations")
    except DataConfigError as exc:
        raise EvaluationFailure(str(exc)) from exc

    def parser(data: bytes) -> Any:
        sample = parse(data)
        return transform(sample) if transform is not None else sample

    label_transformer = compile_user_function(job.label_transformer_function, "label_transformer_function")
    output_transformer = compile_user_function(job.evaluation_transformer_function, "evaluation_transformer_function")
    metrics = [build_metric(config) for config in job.metric_configs]
    device = torch.device(job.device or "cpu")

    with tempfile.TemporaryDirectory(prefix=f"modyn_evaluation_{job.evaluation_id}_") as scratch:
        model = _load_model(job, Path(scratch) / "model.pt", device)

    num_samples = 0
    inputs: list[Any] = []
    labels: list[int] = []

    def run_batch(batch_inputs: list[Any], batch_labels: list[int]) -> None:
        x = _collate(batch_inputs).to(device)
        y = torch.tensor(batch_labels, dtype=torch.int64)
        if label_transformer is not None:
            try:
                y = torch.as_tensor(label_transformer(y))
            except Exception as exc:
                raise EvaluationFailure(f"label_transformer_function failed: {type(exc).__name__}: {exc}") from exc
        try:
            outputs = model(x)
        except Exception as exc:
            raise EvaluationFailure(
                f"model {job.model_id} failed on a batch of inputs of shape {tuple(x.shape)} "
                f"(dtype {x.dtype}): {type(exc).__name__}: {exc}"
            ) from exc
        if output_transformer is not None:
            try:
                outputs = torch.as_tensor(output_transformer(outputs))
            except Exception as exc:
                raise EvaluationFailure(f"evaluation_transformer_function failed: {type(exc).__name__}: {exc}") from exc
        for metric in metrics:
            try:
                metric.update(outputs, y)
            except ValueError as exc:
                raise EvaluationFailure(str(exc)) from exc

    with torch.no_grad():
        for keys, samples, sample_labels in _prefetched(lambda: _sample_chunks(job)):
            for key, sample in zip(keys, samples, strict=True):
                try:
                    inputs.append(parser(sample))
                except Exception as exc:
                    raise EvaluationFailure(
                        f"bytes_parser_function failed on sample {key} of dataset '{job.dataset_id}': "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
            labels.extend(sample_labels)
            while len(inputs) >= job.batch_size:
                run_batch(inputs[: job.batch_size], labels[: job.batch_size])
                del inputs[: job.batch_size], labels[: job.batch_size]
            num_samples += len(keys)
            if on_progress is not None:
                on_progress(num_samples - len(inputs))
        if inputs:
            run_batch(inputs, labels)
    return num_samples, [(name, float(metric.result())) for name, metric in zip(job.result_names, metrics, strict=True)]


def _load_model(job: EvaluationJob, path: Path, device: torch.device) -> torch.nn.Module:
    """Fetch model `job.model_id` into `path`, build it from its stored class and config, load its weights."""
    try:
        info = job.model_storage.fetch_model_file(job.model_id, path)
    except grpc.RpcError as exc:
        raise EvaluationFailure(
            f"cannot fetch model {job.model_id}: {describe_rpc_error('model storage', exc)}"
        ) from exc
    except ValueError as exc:
        raise EvaluationFailure(f"cannot fetch model {job.model_id}: {exc}") from exc
    try:
        model = build_model(info.model_class_name, info.model_config)
    except ValueError as exc:
        raise EvaluationFailure(f"model {job.model_id}: {exc}") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        # Tolerate a checkpoint that wraps the state dict as {"model": state_dict}.
        if isinstance(state, dict) and set(state) == {"model"} and isinstance(state["model"], dict):
            state = state["model"]
        model.load_state_dict(state)
    except Exception as exc:
        raise EvaluationFailure(
            f"model {job.model_id}: its stored weights do not load into {info.model_class_name}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    model.to(device)
    model.eval()
    return model


def _sample_chunks(job: EvaluationJob) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
    """(keys, sample bytes, labels) for every key of the job, `keys_per_get` keys per storage request."""
    for start in range(0, len(job.keys), job.keys_per_get):
        chunk = job.keys[start : start + job.keys_per_get].tolist()
        try:
            yield from job.storage.get_samples(job.dataset_id, chunk)
        except grpc.RpcError as exc:
            raise EvaluationFailure(
                f"cannot fetch samples of dataset '{job.dataset_id}': {describe_rpc_error('storage', exc)}"
            ) from exc


def _prefetched(make_iterator: Callable[[], Iterator[Any]], depth: int = 2) -> Iterator[Any]:
    """Run the iterator in a background thread, `depth` items ahead, so fetching overlaps computing."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        # Gives up once the consumer has stopped, so the thread never blocks forever on a full queue.
        while not stop.is_set():
            try:
                items.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in make_iterator():
                if not put("item", item):
                    return
            put("end", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put("error", exc)

    thread = threading.Thread(target=produce, name="evaluation-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def _collate(items: list[Any]) -> torch.Tensor:
    """Stack parsed samples into one batch tensor."""
    try:
        if all(isinstance(item, torch.Tensor) for item in items):
            return torch.stack(items)
        return torch.as_tensor(items)
    except Exception as exc:
        raise EvaluationFailure(
            f"cannot stack the outputs of bytes_parser_function into a batch: {type(exc).__name__}: {exc}"
        ) from exc
