"""OnlineDataset: streams one trigger's training set from the selector (keys) and storage (bytes).

Each DataLoader worker asks the selector only for its own share of every partition (the selector
splits each partition into `num_workers` shares when the pipeline is registered), fetches the
samples' bytes from storage in bounded chunks, parses them with the pipeline's bytes parser and
yields `(key, sample, label)` or, when the selector sends weights, `(key, sample, label, weight)`.
While one partition is consumed the next ones are fetched by background threads.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import grpc
from torch.utils.data import IterableDataset, get_worker_info

from modyn.common.clients import describe_rpc_error
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.user_functions import compile_user_function

logger = logging.getLogger(__name__)

DEFAULT_KEYS_PER_REQUEST = 2000

# One fetched record: key, raw bytes, label, weight (None when the selector sent no weights).
RawSample = tuple[int, bytes, int, float | None]
Chunk = list[RawSample]


class SampleParseError(ValueError):
    """The pipeline's bytes parser or label transformer failed on a sample (the message names it)."""


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


def _as_client(value: Any, client_class: type) -> Any:
    """Accept a client, or a (hostname, port) pair to build one from."""
    if isinstance(value, client_class):
        return value
    hostname, port = value
    return client_class(hostname, int(port))


class OnlineDataset(IterableDataset):
    """The samples of trigger `trigger_id` of pipeline `pipeline_id`, streamed from the services.

    Picklable (clients travel as addresses and the user functions as source), so it works with
    spawned DataLoader workers; every worker opens its own channels on first use.
    Shuffling differs per epoch: each `__iter__` counts as the next epoch, and `set_epoch(e)` sets
    the epoch of the next iteration. Calling `set_epoch` before each epoch gives the same orders
    with and without persistent DataLoader workers (persistent workers keep counting themselves).
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
    ) -> None:
        super().__init__()
        if keys_per_request <= 0:
            raise ValueError(f"keys_per_request must be > 0, got {keys_per_request}")
        self.pipeline_id = pipeline_id
        self.trigger_id = trigger_id
        self.dataset_id = dataset_id
        self.bytes_parser_source = bytes_parser_function
        self.label_transformer_source = label_transformer_function or ""
        self.storage: StorageClient = _as_client(storage, StorageClient)
        self.selector: SelectorClient = _as_client(selector, SelectorClient)
        self.shuffle = shuffle
        # Without a seed, still shuffle reproducibly within this dataset object (and its workers).
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.num_prefetched_partitions = max(0, num_prefetched_partitions)
        self.parallel_prefetch_requests = max(1, parallel_prefetch_requests)
        self.keys_per_request = keys_per_request
        self.next_epoch = 0
        # Compile once here so that a broken function fails before any worker starts.
        if compile_user_function(bytes_parser_function, "bytes_parser_function") is None:
            raise ValueError("data.bytes_parser_function: must define a function named 'bytes_parser_function'")
        compile_user_function(self.label_transformer_source, "label_transformer_function")
        self._parser: Callable[[bytes], Any] | None = None
        self._label_transformer: Callable[[int], Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Compiled user functions come from exec() and cannot be pickled: each worker recompiles.
        state = self.__dict__.copy()
        state["_parser"] = None
        state["_label_transformer"] = None
        return state

    def set_epoch(self, epoch: int) -> None:
        self.next_epoch = epoch

    # --- fetching ---------------------------------------------------------------------------

    def _share_keys(self, worker_id: int, partition_id: int) -> tuple[list[int], list[float] | None]:
        with calling("selector"):
            keys, weights = self.selector.get_sample_keys_and_weights(
                self.pipeline_id, self.trigger_id, worker_id, partition_id
            )
        if not weights:
            return keys, None
        if len(weights) != len(keys):
            raise ValueError(
                f"selector sent {len(keys)} keys but {len(weights)} weights for pipeline {self.pipeline_id}, "
                f"trigger {self.trigger_id}, worker {worker_id}, partition {partition_id}"
            )
        return keys, weights

    def _partition_chunks(self, epoch: int, worker_id: int, partition_id: int) -> Iterator[Chunk]:
        """This worker's share of one partition, in (shuffled) order, as chunks of fetched samples."""
        keys, weights = self._share_keys(worker_id, partition_id)
        if self.shuffle and keys:
            order = list(range(len(keys)))
            # A string seed is hashed deterministically (not with PYTHONHASHSEED).
            random.Random(f"{self.seed}/{epoch}/{worker_id}/{partition_id}").shuffle(order)
            keys = [keys[i] for i in order]
            weights = [weights[i] for i in order] if weights is not None else None
        for start in range(0, len(keys), self.keys_per_request):
            chunk_keys = keys[start : start + self.keys_per_request]
            fetched: dict[int, tuple[bytes, int]] = {}
            with calling("storage"):
                for got_keys, samples, labels in self.storage.get_samples(self.dataset_id, chunk_keys):
                    for key, sample, label in zip(got_keys, samples, labels, strict=True):
                        fetched[key] = (sample, label)
            missing = [k for k in chunk_keys if k not in fetched]
            if missing:
                raise MissingSamplesError(
                    f"storage returned no sample for {len(missing)} of {len(chunk_keys)} keys of dataset "
                    f"'{self.dataset_id}' (e.g. key {missing[0]})"
                )
            yield [
                (
                    key,
                    fetched[key][0],
                    fetched[key][1],
                    weights[start + i] if weights is not None else None,
                )
                for i, key in enumerate(chunk_keys)
            ]

    def _fetch_partition(self, epoch: int, worker_id: int, partition_id: int) -> list[Chunk]:
        return list(self._partition_chunks(epoch, worker_id, partition_id))

    def _raw_samples(self, epoch: int, worker_id: int) -> Iterator[RawSample]:
        with calling("selector"):
            num_partitions = self.selector.number_of_partitions(self.pipeline_id, self.trigger_id)
        if self.num_prefetched_partitions == 0:
            # No prefetching: stream chunk by chunk, at most one chunk in memory.
            for partition_id in range(num_partitions):
                for chunk in self._partition_chunks(epoch, worker_id, partition_id):
                    yield from chunk
            return
        # Open the channels here, not racing in the fetch threads.
        _ = self.selector.stub, self.storage.stub
        executor = ThreadPoolExecutor(
            max_workers=self.parallel_prefetch_requests, thread_name_prefix=f"prefetch-w{worker_id}"
        )
        pending: dict[int, Future[list[Chunk]]] = {}
        try:
            for partition_id in range(num_partitions):
                # Keep the current partition and the next `num_prefetched_partitions` in flight.
                for ahead in range(
                    partition_id, min(num_partitions, partition_id + self.num_prefetched_partitions + 1)
                ):
                    if ahead not in pending:
                        pending[ahead] = executor.submit(self._fetch_partition, epoch, worker_id, ahead)
                chunks = pending.pop(partition_id).result()
                for chunk in chunks:
                    yield from chunk
                del chunks
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    # --- parsing ----------------------------------------------------------------------------

    def _compile(self) -> None:
        if self._parser is None:
            self._parser = compile_user_function(self.bytes_parser_source, "bytes_parser_function")
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
        if self._label_transformer is not None:
            try:
                label = self._label_transformer(label)
            except Exception as exc:
                raise SampleParseError(
                    f"label_transformer_function failed on label {label!r} of sample {key}: {type(exc).__name__}: {exc}"
                ) from exc
        return sample, label

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        info = get_worker_info()
        worker_id = info.id if info is not None else 0
        epoch = self.next_epoch
        self.next_epoch += 1
        self._compile()
        for key, data, label, weight in self._raw_samples(epoch, worker_id):
            sample, target = self._parse(key, data, label)
            if weight is None:
                yield key, sample, target
            else:
                yield key, sample, target, weight
