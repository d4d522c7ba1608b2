"""OnlineDataset: streams one trigger's training set from the selector (keys) and storage (bytes).

Each DataLoader worker asks the selector only for its own share of every partition (the selector
splits each partition into `num_workers` shares when the pipeline is registered), fetches the
samples' bytes from storage in chunks of `keys_per_request` keys, parses them with the pipeline's
bytes parser (a built-in name or Python source), applies the pipeline's transformations and yields
`(key, sample, label)` or, when there are weights (from the selector or a downsampling selection),
`(key, sample, label, weight)`.

With `batch_size` set, it yields ready batches instead, collated as a DataLoader would collate
those tuples (`keys`, `inputs`, `labels`[, `weights`] tensors, each worker's last batch possibly
smaller or dropped with `drop_last`): use it with `DataLoader(dataset, batch_size=None)`. Keys,
labels and weights then never become Python objects per sample, and the fixed-width built-in
parsers (`float32`, `int64`, ...) parse a whole chunk with one numpy call.

Prefetching: with `num_prefetched_partitions` = P > 0, the current partition and the next P are
fetched in the background by `parallel_prefetch_requests` threads, chunk by chunk and in order, so
the consumer starts on the first chunk while the rest arrives; at most P + 1 partitions are held in
memory. With P = 0 chunks are fetched on demand, one at a time, without threads.

Shuffling (seeded, anew every epoch): the order of the partitions and the order of the samples
within each partition.

Epoch cache: with `sample_cache_bytes` > 0 every process (the main one, or each DataLoader worker
for its own share) keeps parsed samples (after the bytes parser, before transformations, which
stay random per epoch) by key, up to that many bytes. A chunk whose keys are all cached is served
from memory without a storage call; so when a worker's share fits, every epoch after the first
reads nothing from storage.

Service calls are retried with exponential backoff when the service is unavailable or slow
(`max_retries`, `initial_backoff_s`); then the error names the service.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np
import torch
from torch.utils.data import IterableDataset, default_collate, get_worker_info

from modyn.common.clients import describe_rpc_error
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.data import DataConfigError, build_bytes_parser, build_transform
from modyn.common.data.parsers import build_chunk_parser
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

DEFAULT_SAMPLE_CACHE_MB = 256
CACHE_ENTRY_OVERHEAD = 100  # bytes per cached sample beyond its data (dict slot, tuple, tensor header)
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
    partial = f"{path}.partial"
    with open(partial, "wb") as out:
        np.savez(
            out,
            keys=np.fromiter(selection.keys(), dtype=np.int64, count=len(selection)),
            weights=np.fromiter(selection.values(), dtype=np.float64, count=len(selection)),
        )
    os.replace(partial, path)


def load_selection(path: str) -> Selection | None:
    try:
        with np.load(path) as data:
            return dict(zip(data["keys"].tolist(), data["weights"].tolist(), strict=True))
    except FileNotFoundError:
        return None


@dataclass
class _Fetched:
    """One chunk as storage returned it: sample i is data[offsets[i]:offsets[i + 1]]."""

    keys: np.ndarray  # int64
    labels: np.ndarray  # int64
    weights: np.ndarray | None  # float64
    data: bytes
    offsets: np.ndarray  # int64, len(keys) + 1


@dataclass
class _Chunk:
    """One chunk of parsed samples (before transformations): either `rows`, the samples stacked in one
    tensor (fixed-width built-in parsers), or `samples`, one object per sample."""

    keys: np.ndarray  # int64
    labels: np.ndarray  # int64
    weights: np.ndarray | None  # float64
    rows: torch.Tensor | None = None
    samples: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def sample_list(self, start: int = 0, end: int | None = None) -> Sequence[Any]:
        if self.rows is not None:
            return self.rows[start:end].unbind(0)
        assert self.samples is not None
        return self.samples[start:end]


def approx_nbytes(value: Any, depth: int = 0) -> int:
    """Roughly how many bytes a parsed sample holds (tensors, arrays, text, containers of them)."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, bytes | bytearray | str):
        return len(value)
    if depth < 4 and isinstance(value, dict):
        return sum(approx_nbytes(v, depth + 1) for v in value.values()) + 64 * len(value)
    if depth < 4 and isinstance(value, list | tuple):
        return sum(approx_nbytes(v, depth + 1) for v in value) + 8 * len(value)
    if hasattr(value, "getbands") and hasattr(value, "size"):  # a Pillow image
        width, height = value.size
        return int(width) * int(height) * len(value.getbands())
    return sys.getsizeof(value)


class SampleCache:
    """Parsed samples by key, up to `budget_bytes` (estimated); once a chunk does not fit any more,
    nothing more is added (nothing is evicted: what is cached stays valid for the whole job).

    Chunks go in whole: an entry is (owner, row, label) where owner is the chunk's stacked tensor or
    its list of samples, so adding a chunk copies nothing. Reads and adds may come from different
    threads (prefetching): entries are only ever added, and each dict operation is atomic."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self.full = False
        self.owners: list[Any] = []
        self.entries: dict[int, tuple[int, int, int]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def covers(self, keys: np.ndarray) -> bool:
        entries = self.entries
        if len(entries) < len(keys):
            return False
        return all(key in entries for key in keys.tolist())

    def add(self, chunk: _Chunk) -> bool:
        """Cache the chunk's samples if they fit; False (and no more adding) when they do not."""
        if self.full or not len(chunk):
            return False
        n = len(chunk)
        if chunk.rows is not None:
            owner: Any = chunk.rows
            size = chunk.rows.element_size() * chunk.rows.nelement()
        else:
            owner = chunk.samples
            size = sum(approx_nbytes(sample) for sample in owner)
        size += CACHE_ENTRY_OVERHEAD * n
        if self.used_bytes + size > self.budget_bytes:
            self.full = True
            return False
        owner_id = len(self.owners)
        self.owners.append(owner)
        self.entries.update(
            zip(
                chunk.keys.tolist(),
                zip(itertools.repeat(owner_id, n), range(n), chunk.labels.tolist(), strict=True),
                strict=True,
            )
        )
        self.used_bytes += size
        return True

    def chunk(self, keys: np.ndarray, weights: np.ndarray | None) -> _Chunk:
        """The cached samples of `keys` (all of them cached) as one chunk."""
        entries = self.entries
        table = np.array([entries[key] for key in keys.tolist()], dtype=np.int64).reshape(len(keys), 3)
        owner_ids, rows, labels = table[:, 0], table[:, 1], table[:, 2].copy()
        distinct = np.unique(owner_ids).tolist()
        owners = [self.owners[i] for i in distinct]
        first = owners[0]
        if all(
            isinstance(o, torch.Tensor) and o.dtype == first.dtype and o.shape[1:] == first.shape[1:] for o in owners
        ):
            if len(distinct) == 1:
                return _Chunk(keys, labels, weights, rows=first.index_select(0, torch.from_numpy(rows)))
            stacked = torch.empty((len(keys), *first.shape[1:]), dtype=first.dtype)
            for owner_id, owner in zip(distinct, owners, strict=True):
                where = owner_ids == owner_id
                stacked[torch.from_numpy(where)] = owner.index_select(0, torch.from_numpy(rows[where]))
            return _Chunk(keys, labels, weights, rows=stacked)
        all_owners = self.owners
        samples = [all_owners[o][r] for o, r in zip(owner_ids.tolist(), rows.tolist(), strict=True)]
        return _Chunk(keys, labels, weights, samples=samples)


class _SelectionArrays:
    """A Selection as sorted arrays, to filter whole key arrays at once."""

    def __init__(self, keys: np.ndarray, weights: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64)
        order = np.argsort(keys, kind="stable")
        self.keys, self.weights = keys[order], weights[order]

    def keep(self, keys: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if not len(self.keys):
            return keys[:0], np.zeros(0, dtype=np.float64)
        position = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        kept = self.keys[position] == keys
        chosen = self.weights[position[kept]]
        if weights is not None:
            chosen = chosen * weights[kept]
        return keys[kept], chosen

    @classmethod
    def of(cls, selection: Selection) -> _SelectionArrays:
        return cls(
            np.fromiter(selection.keys(), dtype=np.int64, count=len(selection)),
            np.fromiter(selection.values(), dtype=np.float64, count=len(selection)),
        )

    @classmethod
    def load(cls, path: str) -> _SelectionArrays | None:
        """The selection that `save_selection` wrote to `path`; None when there is none."""
        try:
            with np.load(path) as data:
                return cls(data["keys"], data["weights"])
        except FileNotFoundError:
            return None


def _seed_words(*values: int) -> list[int]:
    """Non-negative 64-bit words for numpy's SeedSequence (deterministic, unlike hash())."""
    return [v & 0xFFFFFFFFFFFFFFFF for v in values]


def _concat_rows(parts: list[torch.Tensor]) -> torch.Tensor:
    """Concatenated rows; inside a DataLoader worker straight into shared memory (as default_collate
    does), so that sending the batch to the main process copies nothing."""
    if get_worker_info() is not None:
        first = parts[0]
        numel = sum(p.numel() for p in parts)
        storage = first._typed_storage()._new_shared(numel, device=first.device)
        out = first.new(storage).resize_(sum(len(p) for p in parts), *first.shape[1:])
        return torch.cat(parts, 0, out=out)
    return torch.cat(parts, 0) if len(parts) > 1 else parts[0].clone()


class OnlineDataset(IterableDataset):
    """The samples of trigger `trigger_id` of pipeline `pipeline_id`, streamed from the services.

    Picklable (clients travel as addresses and the user functions as source), so it works with
    spawned DataLoader workers; every worker opens its own channels on first use.
    Shuffling differs per epoch: each `__iter__` counts as the next epoch, and `set_epoch(e)` sets
    the epoch of the next iteration. Calling `set_epoch` before each epoch gives the same orders
    with and without persistent DataLoader workers (persistent workers keep counting themselves).

    `batch_size`: yield batches of that many samples (per worker; with `drop_last` the last short
    one is dropped) collated like a DataLoader does, for `DataLoader(dataset, batch_size=None)`;
    None: yield one tuple per sample. `sample_cache_bytes`: the epoch cache's budget per process
    (0: off); the cache is not pickled, so each worker builds its own.

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
        batch_size: int | None = None,
        drop_last: bool = False,
        sample_cache_bytes: int = 0,
    ) -> None:
        super().__init__()
        if keys_per_request <= 0:
            raise ValueError(f"keys_per_request must be > 0, got {keys_per_request}")
        if batch_size is not None and batch_size <= 0:
            raise ValueError(f"batch_size must be > 0 (or None for single samples), got {batch_size}")
        if sample_cache_bytes < 0:
            raise ValueError(f"sample_cache_bytes must be >= 0 (0: no cache), got {sample_cache_bytes}")
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
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sample_cache_bytes = sample_cache_bytes
        self.next_epoch = 0
        # Counters of this copy (per process): transient failures survived, chunks read from
        # storage, chunks served from the epoch cache.
        self.retries = 0
        self.storage_fetches = 0
        self.cache_hits = 0
        # Build once here so that a broken parser or transformation fails before any worker starts.
        try:
            build_bytes_parser(bytes_parser_function)
            build_transform(self.transformations)
        except DataConfigError as exc:
            raise UserFunctionError(str(exc).removeprefix("data.bytes_parser_function: ")) from exc
        compile_user_function(self.label_transformer_source, "label_transformer_function")
        self._parser: Callable[[bytes], Any] | None = None
        self._chunk_parser: Callable[[bytes, np.ndarray], Any] | None = None
        self._transform: Callable[[Any], Any] | None = None
        self._label_transformer: Callable[[int], Any] | None = None
        self._cache: SampleCache | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Compiled user functions come from exec() and cannot be pickled: each worker recompiles.
        # The cache stays with its process: each worker caches its own share.
        state = self.__dict__.copy()
        for name in ("_parser", "_chunk_parser", "_transform", "_label_transformer", "_cache"):
            state[name] = None
        return state

    def set_epoch(self, epoch: int) -> None:
        self.next_epoch = epoch

    @property
    def cache(self) -> SampleCache | None:
        """This process's epoch cache (None when off)."""
        if self._cache is None and self.sample_cache_bytes > 0:
            self._cache = SampleCache(self.sample_cache_bytes)
        return self._cache

    # --- service calls ----------------------------------------------------------------------

    def _retrying(self, service: str, call: Callable[[], T]) -> T:
        def count(_attempt: int, _exc: grpc.RpcError) -> None:
            self.retries += 1

        return call_with_retries(service, call, self.max_retries, self.initial_backoff_s, count)

    def number_of_partitions(self) -> int:
        return self._retrying("selector", lambda: self.selector.number_of_partitions(self.pipeline_id, self.trigger_id))

    def _share_keys(self, worker_id: int, partition_id: int) -> tuple[np.ndarray, np.ndarray | None]:
        keys, weights = self._retrying(
            "selector",
            lambda: self.selector.get_sample_keys_and_weights_arrays(
                self.pipeline_id, self.trigger_id, worker_id, partition_id
            ),
        )
        if weights is None or not len(weights):
            return keys, None
        if len(weights) != len(keys):
            raise ValueError(
                f"selector sent {len(keys)} keys but {len(weights)} weights for pipeline {self.pipeline_id}, "
                f"trigger {self.trigger_id}, worker {worker_id}, partition {partition_id}"
            )
        return keys, weights.astype(np.float64)

    def all_keys(self) -> list[int]:
        """Every key of the trigger training set (all shares, all partitions), in selector order."""
        keys: list[int] = []
        for partition_id in range(self.number_of_partitions()):
            for share in range(self.num_shares):
                keys += self._share_keys(share, partition_id)[0].tolist()
        return keys

    def _fetch_from_storage(self, keys: np.ndarray, weights: np.ndarray | None) -> _Fetched:
        parts = self._retrying("storage", lambda: list(self.storage.get_sample_chunks(self.dataset_id, keys)))
        if len(parts) == 1:
            got, labels, data, offsets = parts[0].keys, parts[0].labels, parts[0].data, parts[0].offsets
        else:
            got = np.concatenate([p.keys for p in parts]) if parts else np.zeros(0, dtype=np.int64)
            labels = np.concatenate([p.labels for p in parts]) if parts else np.zeros(0, dtype=np.int64)
            data = b"".join(p.data for p in parts)
            lengths = np.concatenate([np.diff(p.offsets) for p in parts]) if parts else np.zeros(0, dtype=np.int64)
            offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
        if len(got) != len(keys) or not np.array_equal(got, keys):
            # Storage answers each key once, in request order: a key repeated in the request (or a
            # storage that left one out) needs the samples matched up by key.
            got, labels, data, offsets = self._match_keys(keys, got, labels, data, offsets)
        return _Fetched(keys, np.asarray(labels, dtype=np.int64), weights, data, offsets)

    def _match_keys(
        self, keys: np.ndarray, got: np.ndarray, labels: np.ndarray, data: bytes, offsets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, bytes, np.ndarray]:
        order = np.argsort(got, kind="stable")
        found = np.zeros(len(keys), dtype=bool)
        position = np.zeros(len(keys), dtype=np.int64)
        if len(got):
            position = np.minimum(np.searchsorted(got[order], keys), len(got) - 1)
            found = got[order][position] == keys
        if not found.all():
            missing = keys[~found]
            raise MissingSamplesError(
                f"storage returned no sample for {len(np.unique(missing))} of {len(np.unique(keys))} keys of dataset "
                f"'{self.dataset_id}' (e.g. key {int(missing[0])})"
            )
        index = order[position]
        starts, ends = offsets[:-1][index], offsets[1:][index]
        matched = b"".join(data[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True))
        new_offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=new_offsets[1:])
        return keys, labels[index], matched, new_offsets

    def _fetch(self, keys: np.ndarray, weights: np.ndarray | None) -> _Fetched | _Chunk:
        """One chunk: from the epoch cache when it holds all of its keys, else its bytes from storage."""
        cache = self._cache
        if cache is not None and cache.covers(keys):
            return cache.chunk(keys, weights)
        return self._fetch_from_storage(keys, weights)

    def _plan(
        self, epoch: int, worker_id: int, partition_id: int, selection: _SelectionArrays | None, shuffle: bool
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """This worker's share of one partition, filtered and (shuffled) ordered, cut into chunks."""
        keys, weights = self._share_keys(worker_id, partition_id)
        if selection is not None:
            keys, weights = selection.keep(keys, weights)
        if shuffle and len(keys):
            order = np.random.default_rng(_seed_words(self.seed, epoch, worker_id, 0, partition_id)).permutation(
                len(keys)
            )
            keys = keys[order]
            weights = weights[order] if weights is not None else None
        chunks = []
        start, step = 0, min(self.keys_per_request, FIRST_CHUNK_KEYS)
        while start < len(keys):
            # Small first chunks: the first batch is ready early; then up to keys_per_request per call.
            chunks.append((keys[start : start + step], weights[start : start + step] if weights is not None else None))
            start += step
            step = min(self.keys_per_request, step * 2)
        return chunks

    def _partition_order(self, epoch: int, worker_id: int, num_partitions: int, shuffle: bool) -> list[int]:
        if not shuffle:
            return list(range(num_partitions))
        rng = np.random.default_rng(_seed_words(self.seed, epoch, worker_id, 1))
        return rng.permutation(num_partitions).tolist()

    def _fetched(
        self, epoch: int, worker_ids: Sequence[int], selection: _SelectionArrays | None, shuffle: bool
    ) -> Iterator[_Fetched | _Chunk]:
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
                    yield self._fetch(keys, weights)
            return
        # Open the channels here, not racing in the fetch threads.
        _ = self.selector.stub, self.storage.stub
        executor = ThreadPoolExecutor(max_workers=self.parallel_prefetch_requests, thread_name_prefix="prefetch")

        def plan_and_submit(index: int) -> list[Future[_Fetched | _Chunk]]:
            worker_id, partition_id = work[index]
            chunks = self._plan(epoch, worker_id, partition_id, selection, shuffle)
            # Submitted in order: the executor fetches this partition's chunks before later ones.
            return [executor.submit(self._fetch, keys, weights) for keys, weights in chunks]

        planned: dict[int, Future[list[Future[_Fetched | _Chunk]]]] = {}
        try:
            for index in range(len(work)):
                # Keep the current partition and the next `num_prefetched_partitions` in flight.
                for ahead in range(index, min(len(work), index + self.num_prefetched_partitions + 1)):
                    if ahead not in planned:
                        planned[ahead] = executor.submit(plan_and_submit, ahead)
                for chunk_future in planned.pop(index).result():
                    yield chunk_future.result()
        finally:
            for future in planned.values():
                future.cancel()
            executor.shutdown(wait=False, cancel_futures=True)

    # --- parsing ----------------------------------------------------------------------------

    def _compile(self) -> None:
        if self._parser is None:
            self._parser = build_bytes_parser(self.bytes_parser_source)
            self._chunk_parser = build_chunk_parser(self.bytes_parser_source)
            self._transform = build_transform(self.transformations)
            self._label_transformer = compile_user_function(self.label_transformer_source, "label_transformer_function")

    def _parse_chunk(self, fetched: _Fetched) -> _Chunk:
        if self._chunk_parser is not None:
            rows = self._chunk_parser(fetched.data, fetched.offsets)
            if rows is not None:
                return _Chunk(fetched.keys, fetched.labels, fetched.weights, rows=rows)
        parser = self._parser
        assert parser is not None
        bounds = fetched.offsets.tolist()
        data = fetched.data
        samples: list[Any] = []
        try:
            for start, end in zip(bounds[:-1], bounds[1:], strict=True):
                samples.append(parser(data[start:end]))
        except Exception as exc:
            raise SampleParseError(
                f"bytes_parser_function failed on sample {int(fetched.keys[len(samples)])} of dataset "
                f"'{self.dataset_id}': {type(exc).__name__}: {exc}"
            ) from exc
        return _Chunk(fetched.keys, fetched.labels, fetched.weights, samples=samples)

    def _chunks(
        self, epoch: int, worker_ids: Sequence[int], selection: _SelectionArrays | None, shuffle: bool
    ) -> Iterator[_Chunk]:
        """The parsed chunks of one pass (before transformations), cached as they come."""
        cache = self.cache
        for item in self._fetched(epoch, worker_ids, selection, shuffle):
            if isinstance(item, _Chunk):
                self.cache_hits += 1
                yield item
                continue
            self.storage_fetches += 1
            chunk = self._parse_chunk(item)
            if cache is not None:
                cache.add(chunk)
            yield chunk

    def _transform_sample(self, key: int, sample: Any) -> Any:
        assert self._transform is not None
        try:
            return self._transform(sample)
        except Exception as exc:
            raise SampleParseError(
                f"data.transformations failed on sample {key} of dataset '{self.dataset_id}': "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _transform_label(self, key: int, label: int) -> Any:
        assert self._label_transformer is not None
        try:
            return self._label_transformer(label)
        except Exception as exc:
            raise SampleParseError(
                f"label_transformer_function failed on label {label!r} of sample {key}: {type(exc).__name__}: {exc}"
            ) from exc

    def _samples(self, chunks: Iterator[_Chunk]) -> Iterator[tuple[Any, ...]]:
        """One (key, sample, label[, weight]) tuple per sample."""
        transform, label_transformer = self._transform, self._label_transformer
        for chunk in chunks:
            keys = chunk.keys.tolist()
            samples: Sequence[Any] = chunk.sample_list()
            labels: list[Any] = chunk.labels.tolist()
            if transform is not None:
                samples = [self._transform_sample(k, s) for k, s in zip(keys, samples, strict=True)]
            if label_transformer is not None:
                labels = [self._transform_label(k, label) for k, label in zip(keys, labels, strict=True)]
            if chunk.weights is None:
                yield from zip(keys, samples, labels, strict=True)
            else:
                yield from zip(keys, samples, labels, chunk.weights.tolist(), strict=True)

    def _batches(self, chunks: Iterator[_Chunk], batch_size: int, drop_last: bool) -> Iterator[tuple[Any, ...]]:
        """Batches of `batch_size` consecutive samples (across chunks), collated."""
        pending: list[tuple[_Chunk, int, int]] = []
        count = 0
        for chunk in chunks:
            start, n = 0, len(chunk)
            while start < n:
                take = min(n - start, batch_size - count)
                pending.append((chunk, start, start + take))
                count += take
                start += take
                if count == batch_size:
                    yield self._collate(pending)
                    pending, count = [], 0
        if pending and not drop_last:
            yield self._collate(pending)

    def _collate(self, pieces: list[tuple[_Chunk, int, int]]) -> tuple[Any, ...]:
        """What default_collate makes of the pieces' (key, sample, label[, weight]) tuples."""
        keys = np.concatenate([c.keys[a:b] for c, a, b in pieces])
        if self._label_transformer is None:
            labels: Any = torch.from_numpy(np.concatenate([c.labels[a:b] for c, a, b in pieces]))
        else:
            raw = np.concatenate([c.labels[a:b] for c, a, b in pieces]).tolist()
            key_list = keys.tolist()
            labels = default_collate([self._transform_label(k, lab) for k, lab in zip(key_list, raw, strict=True)])
        if self._transform is None and all(c.rows is not None for c, _, _ in pieces):
            inputs = _concat_rows([c.rows[a:b] for c, a, b in pieces])  # type: ignore[index]
        else:
            samples: list[Any] = []
            for c, a, b in pieces:
                samples.extend(c.sample_list(a, b))
            if self._transform is not None:
                samples = [self._transform_sample(k, s) for k, s in zip(keys.tolist(), samples, strict=True)]
            inputs = default_collate(samples)
        batch: tuple[Any, ...] = (torch.from_numpy(keys), inputs, labels)
        if any(c.weights is not None for c, _, _ in pieces):
            weights = np.concatenate(
                [c.weights[a:b] if c.weights is not None else np.ones(b - a) for c, a, b in pieces]
            )
            batch += (torch.from_numpy(weights),)
        return batch

    def _iterate(
        self,
        epoch: int,
        worker_ids: Sequence[int],
        selection: _SelectionArrays | None,
        shuffle: bool,
        batch_size: int | None,
    ) -> Iterator[tuple[Any, ...]]:
        self._compile()
        chunks = self._chunks(epoch, worker_ids, selection, shuffle)
        if batch_size is None:
            return self._samples(chunks)
        return self._batches(chunks, batch_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        info = get_worker_info()
        worker_id = info.id if info is not None else 0
        epoch = self.next_epoch
        self.next_epoch += 1
        selection = _SelectionArrays.load(self.selection_path) if self.selection_path else None
        return self._iterate(epoch, [worker_id], selection, self.shuffle, self.batch_size)

    def iterate_all(
        self, selection: Selection | None = None, batch_size: int | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """Every worker share in this process, unshuffled (for scoring passes), optionally filtered;
        single samples, or batches of `batch_size` (the last one may be smaller)."""
        self._compile()
        arrays = _SelectionArrays.of(selection) if selection is not None else None
        chunks = self._chunks(0, range(self.num_shares), arrays, False)
        if batch_size is None:
            return self._samples(chunks)
        return self._batches(chunks, batch_size, False)
