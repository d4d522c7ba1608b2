from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import storage_pb2 as pb
from modyn.generated.storage_pb2_grpc import StorageStub

KeyChunk = tuple[list[int], list[int], list[int]]  # keys, timestamps, labels


@dataclass
class SampleChunk:
    """One Get response as arrays: sample i is data[offsets[i]:offsets[i + 1]] with keys[i] and labels[i]."""

    keys: np.ndarray  # int64
    labels: np.ndarray  # int64
    data: bytes
    offsets: np.ndarray  # int64, len(keys) + 1

    def __len__(self) -> int:
        return len(self.keys)

    def samples(self) -> list[bytes]:
        bounds = self.offsets.tolist()
        data = self.data
        return [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass
class KeyArrays:
    """One key message as int64 arrays of equal length (no Python object per key)."""

    keys: np.ndarray
    timestamps: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


def _ints(data: bytes) -> np.ndarray:
    """A packed_* field: little-endian int64 values."""
    return np.frombuffer(data, dtype="<i8")


def _key_arrays(response: Any) -> KeyArrays:
    return KeyArrays(_ints(response.packed_keys), _ints(response.packed_timestamps), _ints(response.packed_labels))


def _lists(arrays: Iterator[KeyArrays]) -> Iterator[KeyChunk]:
    for a in arrays:
        yield a.keys.tolist(), a.timestamps.tolist(), a.labels.tolist()


class StorageClient(LazyStubClient):
    """Typed access to the storage service. Bulk answers are requested packed (bytes fields) and unpacked
    here, which is several times cheaper in Python than repeated fields."""

    stub_class = StorageStub

    def dataset_available(self, dataset_id: str) -> bool:
        return bool(
            self.stub.CheckAvailability(
                pb.DatasetAvailableRequest(dataset_id=dataset_id), timeout=SHORT_DEADLINE_S
            ).available
        )

    def update_dataset(self, dataset_id: str) -> pb.UpdateDatasetResponse:
        return self.stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id=dataset_id), timeout=LONG_DEADLINE_S)

    def dataset_size(self, dataset_id: str) -> int:
        return int(
            self.stub.GetDatasetSize(pb.GetDatasetSizeRequest(dataset_id=dataset_id), timeout=SHORT_DEADLINE_S).num_keys
        )

    def current_timestamp(self) -> int:
        return int(self.stub.GetCurrentTimestamp(pb.GetCurrentTimestampRequest(), timeout=SHORT_DEADLINE_S).timestamp)

    def last_key(self, dataset_id: str) -> int:
        """The highest key the dataset holds now (0 when empty): the cursor for new_data_after_key."""
        return int(self.stub.GetLastKey(pb.GetLastKeyRequest(dataset_id=dataset_id), timeout=SHORT_DEADLINE_S).last_key)

    def register_dataset(self, dataset: dict[str, Any]) -> bool:
        request = pb.RegisterNewDatasetRequest(
            dataset_id=dataset["name"],
            filesystem_wrapper_type=dataset.get("filesystem_wrapper_type", "LocalFilesystemWrapper"),
            file_wrapper_type=dataset["file_wrapper_type"],
            description=dataset.get("description", ""),
            base_path=dataset["base_path"],
            version=str(dataset.get("version", "1")),
            file_wrapper_config=json.dumps(dataset.get("file_wrapper_config", {})),
            file_watcher_interval=int(dataset.get("file_watcher_interval", 5)),
            unlogged=bool(dataset.get("unlogged", False)),
        )
        return bool(self.stub.RegisterNewDataset(request, timeout=SHORT_DEADLINE_S).success)

    def new_data_since(self, dataset_id: str, timestamp: int) -> Iterator[KeyChunk]:
        """Samples with timestamp > `timestamp`, by (timestamp, key), in chunks."""
        return _lists(self.new_data_since_arrays(dataset_id, timestamp))

    def new_data_after_key(self, dataset_id: str, after_key: int) -> Iterator[KeyChunk]:
        """Samples with key > after_key, by key (= commit order), in chunks.

        Following a dataset live: start from `last_key()` and pass the last key of the last chunk handled
        as the next `after_key`; no sample is skipped or repeated, whatever its timestamp.
        """
        return _lists(self.new_data_after_key_arrays(dataset_id, after_key))

    def data_in_interval(self, dataset_id: str, start: int, end: int) -> Iterator[KeyChunk]:
        """Samples with start <= timestamp <= end, by (timestamp, key), in chunks."""
        return _lists(self.data_in_interval_arrays(dataset_id, start, end))

    # Array forms of the key streams: how services should consume bulk keys (read-only int64 arrays).

    def new_data_since_arrays(self, dataset_id: str, timestamp: int) -> Iterator[KeyArrays]:
        """Samples with timestamp > `timestamp`, by (timestamp, key), each message as arrays."""
        request = pb.GetNewDataSinceRequest(dataset_id=dataset_id, timestamp=timestamp, packed=True)
        for r in self.stub.GetNewDataSince(request, timeout=LONG_DEADLINE_S):
            yield _key_arrays(r)

    def new_data_after_key_arrays(self, dataset_id: str, after_key: int) -> Iterator[KeyArrays]:
        """Samples with key > after_key, by key, each message as arrays (see new_data_after_key)."""
        request = pb.GetNewDataSinceRequest(dataset_id=dataset_id, after_key=after_key, packed=True)
        for r in self.stub.GetNewDataSince(request, timeout=LONG_DEADLINE_S):
            yield _key_arrays(r)

    def data_in_interval_arrays(self, dataset_id: str, start: int, end: int) -> Iterator[KeyArrays]:
        """Samples with start <= timestamp <= end, each message as arrays."""
        request = pb.GetDataInIntervalRequest(
            dataset_id=dataset_id, start_timestamp=start, end_timestamp=end, packed=True
        )
        for r in self.stub.GetDataInInterval(request, timeout=LONG_DEADLINE_S):
            yield _key_arrays(r)

    def get_sample_chunks(self, dataset_id: str, keys: Sequence[int] | np.ndarray) -> Iterator[SampleChunk]:
        """The requested samples (each key once, in request order) as array chunks, one per Get message."""
        packed = np.ascontiguousarray(np.asarray(keys, dtype="<i8").reshape(-1)).tobytes()
        request = pb.GetRequest(dataset_id=dataset_id, packed_keys=packed, packed=True)
        for r in self.stub.Get(request, timeout=LONG_DEADLINE_S):
            lengths = _ints(r.packed_sample_lengths)
            offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            yield SampleChunk(_ints(r.packed_keys), _ints(r.packed_labels), r.packed_samples, offsets)

    def get_samples(
        self, dataset_id: str, keys: Sequence[int] | np.ndarray
    ) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
        """Yield (keys, sample bytes, labels) messages covering every requested key."""
        for chunk in self.get_sample_chunks(dataset_id, keys):
            yield chunk.keys.tolist(), chunk.samples(), chunk.labels.tolist()
