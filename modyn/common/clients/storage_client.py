from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import storage_pb2 as pb
from modyn.generated.storage_pb2_grpc import StorageStub

KeyChunk = tuple[list[int], list[int], list[int]]  # keys, timestamps, labels


class StorageClient(LazyStubClient):
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
        )
        return bool(self.stub.RegisterNewDataset(request, timeout=SHORT_DEADLINE_S).success)

    def new_data_since(self, dataset_id: str, timestamp: int) -> Iterator[KeyChunk]:
        request = pb.GetNewDataSinceRequest(dataset_id=dataset_id, timestamp=timestamp)
        for r in self.stub.GetNewDataSince(request, timeout=LONG_DEADLINE_S):
            yield list(r.keys), list(r.timestamps), list(r.labels)

    def data_in_interval(self, dataset_id: str, start: int, end: int) -> Iterator[KeyChunk]:
        request = pb.GetDataInIntervalRequest(dataset_id=dataset_id, start_timestamp=start, end_timestamp=end)
        for r in self.stub.GetDataInInterval(request, timeout=LONG_DEADLINE_S):
            yield list(r.keys), list(r.timestamps), list(r.labels)

    def get_samples(self, dataset_id: str, keys: list[int]) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
        """Yield (keys, sample bytes, labels) messages covering every requested key."""
        for r in self.stub.Get(pb.GetRequest(dataset_id=dataset_id, keys=keys), timeout=LONG_DEADLINE_S):
            yield list(r.keys), list(r.samples), list(r.labels)
