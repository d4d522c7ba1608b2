"""OnlineDataset: streams one trigger's training set from the selector (keys) and storage (bytes).

Each DataLoader worker asks the selector only for its own share of every partition (the selector
splits each partition into `num_workers` shares when the pipeline is registered), fetches the
samples' bytes from storage in chunks of `keys_per_request` keys, parses them with the pipeline's
bytes parser (a built-in name or Python source), applies the pipeline's transformations and yields
`(key, sample, label)` or, when there are weights (from the selector or a downsampling selection),
`(key, sample, label, weight)`.

Prefetching: with `num_prefetched_partitions` = P > 0, the current partition and the next P are
fetched in the background by `parallel_prefetch_requests` threads, chunk by chunk and in order, so
the consumer starts on the first chunk while the rest arrives; at most P + 1 partitions are held in
memory. With P = 0 chunks are fetched on demand, one at a time, without threads.

Shuffling (seeded, anew every epoch): the order of the partitions and the order of the samples
within each partition.

Service calls are retried with exponential backoff when the service is unavailable or slow
(`max_retries`, `initial_backoff_s`); then the error names the service.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc
from torch.utils.data import IterableDataset, get_worker_info

from modyn.common.clients import describe_rpc_error
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.data import DataConfigError, build_bytes_parser, build_transform
from modyn.common.user_functions import UserFunctionError, compile_user_function

logger = logging.getLogger(__name__)

DEFAULT_KEYS_PER_REQUEST = 2000
FIRST_CHUNK_KEYS = 128
DEFAULT_MAX_RETRIES = 5
DEFAULT_INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
RETRIABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)

# One fetched record: key, raw bytes, label, weight (None when there are no weights).
RawSample = tuple[int, bytes, int, float | None]
Chunk = list[RawSample]
# key -> weight: the samples to train on (a downsampling selection); None: all of them.
Selection = dict[int, float]
T = TypeVar("T")


class SampleParseError(ValueError):
    """The pipeline's bytes parser, transformations or label transformer failed on a sample."""


class MissingSamplesError(LookupError):
    """Storage did not return every key that the selector handed out."""


class ServiceCallError(RuntimeError):
    """A call to another Modyn service failed; the message names the service and the gRPC status."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def calling(service: str) -> Iterator[None]:
    """Turn a gRPC error inside the block into a ServiceCallError that names `service`."""
    try:
        yield
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        raise ServiceCallError(describe_rpc_error(service, exc), code) from exc


def call_with_retries(
    service: str,
    call: Callable[[], T],
    max_retries: int = DEFAULT_MAX_RETRIES,
    initial_backoff_s: float = DEFAULT_INITIAL_BACKOFF_S,
    on_retry: Callable[[int, grpc.RpcError], None] | None = None,
) -> T:
    """`call()`, retried with exponential backoff (doubling, capped at MAX_BACKOFF_S) while it fails
    with a transient gRPC status; other errors, and the last transient one, become ServiceCallError."""
    backoff = initial_backoff_s
    for attempt in range(max_retries + 1):
        try:
            return call()
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code not in RETRIABLE_CODES or attempt == max_retries:
                suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                raise ServiceCallError(describe_rpc_error(service, exc) + suffix, code) from exc
            logger.warning(
                "%s call failed (%s), retry %d/%d in %.2f s", service, code, attempt + 1, max_retries, backoff
            )
            if on_retry is not None:
                on_retry(attempt + 1, exc)
            time.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)
    raise AssertionError("unreachable")


def _as_client(value: Any, client_class: type) -> Any:
    """Accept a client, or a (hostname, port) pair to build one from."""
    if isinstance(value, client_class):
        return value
    hostname, port = value
    return client_class(hostname, int(port))


def save_selection(path: str, selection: Selection | None) -> None:
    """Write a downsampling selection atomically where the dataset's workers read it (None: remove)."""
    if selection is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    import numpy as np

    partial = f"{path}.partial"
    with open(partial, "wb") as out:
        np.savez(
            out,
            keys=np.fromiter(selection.keys(), dtype=np.int64, count=len(selection)),
            weights=np.fromiter(selection.values(), dtype=np.float64, count=len(selection)),
        )
    os.replace(partial, path)


def load_selection(path: str) -> Selection | None:
    import numpy as np

    try:
        with np.load(path) as data:
            return dict(zip(data["keys"].tolist(), data["weights"].tolist(), strict=True))
    except FileNotFoundError:
        return None


class OnlineDataset(IterableDataset):
    """The samples of trigger `trigger_id` of pipeline `pipeline_id`, streamed from the services.

    Picklable (clients travel as addresses and the user functions as source), so it works with
    spawned DataLoader workers; every worker opens its own channels on first use.
    Shuffling differs per epoch: each `__iter__` counts as the next epoch, and `set_epoch(e)` sets
    the epoch of the next iteration. Calling `set_epoch` before each epoch gives the same orders
    with and without persistent DataLoader workers (persistent workers keep counting themselves).

    `selection_path`: a file written by `save_selection`; when it exists at the start of an
    iteration, only its keys are yielded, weighted by it (the trainer's sample-then-batch
    downsampling). `num_shares`: into how many worker shares the selector split each partition
    (`iterate_all` reads all of them in one process).
    """

    def __init__(
        self,
        pipeline_id: int,
        trigger_id: int,
        dataset_id: str,
        bytes_parser_function: str,
        label_transformer_function: str,
        storage: StorageClient | tuple[str, int],
        selector: SelectorClient | tuple[str, int],
        shuffle: bool = False,
        seed: int | None = None,
        num_prefetched_partitions: int = 1,
        parallel_prefetch_requests: int = 1,
        keys_per_request: int = DEFAULT_KEYS_PER_REQUEST,
        transformations: Sequence[Any] = (),
        num_shares: int = 1,
        selection_path: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        initial_backoff_s: float = DEFAULT_INITIAL_BACKOFF_S,
    ) -> None:
        super().__init__()
        if keys_per_request <= 0:
            raise ValueError(f"keys_per_request must be > 0, got {keys_per_request}")
        self.pipeline_id = pipeline_id
        self.trigger_id = trigger_id
        self.dataset_id = dataset_id
        self.bytes_parser_source = bytes_parser_function
        self.label_transformer_source = label_transformer_function or ""
        self.transformations = list(transformations)
        self.storage: StorageClient = _as_client(storage, StorageClient)
        self.selector: SelectorClient = _as_client(selector, SelectorClient)
        self.shuffle = shuffle
        # Without a seed, still shuffle reproducibly within this dataset object (and its workers).
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.num_prefetched_partitions = max(0, num_prefetched_partitions)
        self.parallel_prefetch_requests = max(1, parallel_prefetch_requests)
        self.keys_per_request = keys_per_request
        self.num_shares = max(1, num_shares)
        self.selection_path = selection_path
        self.max_retries = max(0, max_retries)
        self.initial_backoff_s = initial_backoff_s
        self.next_epoch = 0
        self.retries = 0  # transient failures survived by this copy (per process)
        # Build once here so that a broken parser or transformation fails before any worker starts.
        try:
            build_bytes_parser(bytes_parser_function)
            build_transform(self.transformations)
        except DataConfigError as exc:
            raise UserFunctionError(str(exc).removeprefix("data.bytes_parser_function: ")) from exc
        compile_user_function(self.label_transformer_source, "label_transformer_function")
        self._parser: Callable[[bytes], Any] | None = None
        self._transform: Callable[[Any], Any] | None = None
        self._label_transformer: Callable[[int], Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Compiled user functions come from exec() and cannot be pickled: each worker recompiles.
        state = self.__dict__.copy()
        state["_parser"] = None
        state["_transform"] = None
        state["_label_transformer"] = None
        return state

    def set_epoch(self, epoch: int) -> None:
        self.next_epoch = epoch

    # --- service calls ----------------------------------------------------------------------

    def _retrying(self, service: str, call: Callable[[], T]) -> T:
        def count(_attempt: int, _exc: grpc.RpcError) -> None:
            self.retries += 1

        return call_with_retries(service, call, self.max_retries, self.initial_backoff_s, count)

    def number_of_partitions(self) -> int:
        return self._retrying("selector", lambda: self.selector.number_of_partitions(self.pipeline_id, self.trigger_id))

    def _share_keys(self, worker_id: int, partition_id: int) -> tuple[list[int], list[float] | None]:
        keys, weights = self._retrying(
            "selector",
            lambda: self.selector.get_sample_keys_and_weights(
                self.pipeline_id, self.trigger_id, worker_id, partition_id
            ),
        )
        if not weights:
            return keys, None
        if len(weights) != len(keys):
            raise ValueError(
                f"selector sent {len(keys)} keys but {len(weights)} weights for pipeline {self.pipeline_id}, "
                f"trigger {self.trigger_id}, worker {worker_id}, partition {partition_id}"
            )
        return keys, weights

    def all_keys(self) -> list[int]:
        """Every key of the trigger training set (all shares, all partitions), in selector order."""
        keys: list[int] = []
        for partition_id in range(self.number_of_partitions()):
            for share in range(self.num_shares):
                keys += self._share_keys(share, partition_id)[0]
        return keys

    def _fetch_chunk(self, keys: list[int], weights: list[float] | None) -> Chunk:
        def get() -> dict[int, tuple[bytes, int]]:
            fetched: dict[int, tuple[bytes, int]] = {}
            for got_keys, samples, labels in self.storage.get_samples(self.dataset_id, keys):
                fetched.update(zip(got_keys, zip(samples, labels, strict=True), strict=True))
            return fetched

        fetched = self._retrying("storage", get)
        if len(fetched) < len(keys):
            missing = [k for k in keys if k not in fetched]
            if missing:
                raise MissingSamplesError(
                    f"storage returned no sample for {len(missing)} of {len(keys)} keys of dataset "
                    f"'{self.dataset_id}' (e.g. key {missing[0]})"
                )
        if weights is None:
            return [(key, *fetched[key], None) for key in keys]
        return [(key, *fetched[key], weight) for key, weight in zip(keys, weights, strict=True)]

    def _plan(
        self, epoch: int, worker_id: int, partition_id: int, selection: Selection | None, shuffle: bool
    ) -> list[tuple[list[int], list[float] | None]]:
        """This worker's share of one partition, filtered and (shuffled) ordered, cut into chunks."""
        keys, weights = self._share_keys(worker_id, partition_id)
        if selection is not None:
            kept = [i for i, key in enumerate(keys) if key in selection]
            weights = [selection[keys[i]] * (weights[i] if weights is not None else 1.0) for i in kept]
            keys = [keys[i] for i in kept]
        if shuffle and keys:
            order = list(range(len(keys)))
            # A string seed is hashed deterministically (not with PYTHONHASHSEED).
            random.Random(f"{self.seed}/{epoch}/{worker_id}/{partition_id}").shuffle(order)
            keys = [keys[i] for i in order]
            weights = [weights[i] for i in order] if weights is not None else None
        chunks = []
        start, step = 0, min(self.keys_per_request, FIRST_CHUNK_KEYS)
        while start < len(keys):
            # Small first chunks: the first batch is ready early; then up to keys_per_request per call.
            chunks.append((keys[start : start + step], weights[start : start + step] if weights is not None else None))
            start += step
            step = min(self.keys_per_request, step * 2)
        return chunks

    def _partition_order(self, epoch: int, worker_id: int, num_partitions: int, shuffle: bool) -> list[int]:
        order = list(range(num_partitions))
        if shuffle:
            random.Random(f"{self.seed}/{epoch}/{worker_id}/partitions").shuffle(order)
        return order

    def _raw_samples(
        self, epoch: int, worker_ids: Sequence[int], selection: Selection | None, shuffle: bool
    ) -> Iterator[RawSample]:
        num_partitions = self.number_of_partitions()
        work = [
            (worker_id, partition_id)
            for worker_id in worker_ids
            for partition_id in self._partition_order(epoch, worker_id, num_partitions, shuffle)
        ]
        if self.num_prefetched_partitions == 0:
            # No prefetching: chunk by chunk on demand, at most one chunk in memory.
            for worker_id, partition_id in work:
                for keys, weights in self._plan(epoch, worker_id, partition_id, selection, shuffle):
                    yield from self._fetch_chunk(keys, weights)
            return
        # Open the channels here, not racing in the fetch threads.
        _ = self.selector.stub, self.storage.stub
        executor = ThreadPoolExecutor(max_workers=self.parallel_prefetch_requests, thread_name_prefix="prefetch")

        def plan_and_submit(index: int) -> list[Future[Chunk]]:
            worker_id, partition_id = work[index]
            chunks = self._plan(epoch, worker_id, partition_id, selection, shuffle)
            # Submitted in order: the executor fetches this partition's chunks before later ones.
            return [executor.submit(self._fetch_chunk, keys, weights) for keys, weights in chunks]

        planned: dict[int, Future[list[Future[Chunk]]]] = {}
        try:
            for index in range(len(work)):
                # Keep the current partition and the next `num_prefetched_partitions` in flight.
                for ahead in range(index, min(len(work), index + self.num_prefetched_partitions + 1)):
                    if ahead not in planned:
                        planned[ahead] = executor.submit(plan_and_submit, ahead)
                for chunk_future in planned.pop(index).result():
                    chunk = chunk_future.result()
                    yield from chunk
                    del chunk
        finally:
            for future in planned.values():
                future.cancel()
            executor.shutdown(wait=False, cancel_futures=True)

    # --- parsing ----------------------------------------------------------------------------

    def _compile(self) -> None:
        if self._parser is None:
            self._parser = build_bytes_parser(self.bytes_parser_source)
            self._transform = build_transform(self.transformations)
            self._label_transformer = compile_user_function(self.label_transformer_source, "label_transformer_function")

    def _parse(self, key: int, data: bytes, label: int) -> tuple[Any, Any]:
        assert self._parser is not None
        try:
            sample = self._parser(data)
        except Exception as exc:
            raise SampleParseError(
                f"bytes_parser_function failed on sample {key} of dataset '{self.dataset_id}': "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if self._transform is not None:
            try:
                sample = self._transform(sample)
            except Exception as exc:
                raise SampleParseError(
                    f"data.transformations failed on sample {key} of dataset '{self.dataset_id}': "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        if self._label_transformer is not None:
            try:
                label = self._label_transformer(label)
            except Exception as exc:
                raise SampleParseError(
                    f"label_transformer_function failed on label {label!r} of sample {key}: {type(exc).__name__}: {exc}"
                ) from exc
        return sample, label

    def _samples(
        self, epoch: int, worker_ids: Sequence[int], selection: Selection | None, shuffle: bool
    ) -> Iterator[tuple[Any, ...]]:
        self._compile()
        raw = self._raw_samples(epoch, worker_ids, selection, shuffle)
        if self._transform is None and self._label_transformer is None:
            parser = self._parser
            assert parser is not None
            # The common case without transformations, kept lean: it runs once per sample.
            for key, data, label, weight in raw:
                try:
                    sample = parser(data)
                except Exception:
                    self._parse(key, data, label)  # raises the SampleParseError that names the sample
                    raise
                if weight is None:
                    yield key, sample, label
                else:
                    yield key, sample, label, weight
            return
        parse = self._parse
        for key, data, label, weight in raw:
            sample, target = parse(key, data, label)
            if weight is None:
                yield key, sample, target
            else:
                yield key, sample, target, weight

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        info = get_worker_info()
        worker_id = info.id if info is not None else 0
        epoch = self.next_epoch
        self.next_epoch += 1
        selection = load_selection(self.selection_path) if self.selection_path else None
        return self._samples(epoch, [worker_id], selection, self.shuffle)

    def iterate_all(self, selection: Selection | None = None) -> Iterator[tuple[Any, ...]]:
        """Every worker share in this process, unshuffled (for scoring passes), optionally filtered."""
        return self._samples(0, range(self.num_shares), selection, False)
