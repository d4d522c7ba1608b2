"""The gRPC face of the storage service: a thin adapter over StorageManager."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import numpy as np

from modyn.generated import storage_pb2 as pb
from modyn.generated import storage_pb2_grpc
from modyn.storage.sample_table import KeyPage
from modyn.storage.storage_manager import (
    DEFAULT_FILE_WATCHER_INTERVAL_S,
    DatasetConflictError,
    DatasetNotFoundError,
    DatasetUnavailableError,
    InvalidDatasetError,
    SampleReadError,
    StorageManager,
    UnknownKeysError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
KeyMessage = TypeVar("KeyMessage", pb.GetNewDataSinceResponse, pb.GetDataInIntervalResponse)


def _le(values: Any) -> bytes:
    """An int64 array as little-endian bytes (the packed_* fields)."""
    return values.astype("<i8", copy=False).tobytes()


def _key_message(cls: type[KeyMessage], page: KeyPage, packed: bool) -> KeyMessage:
    if packed:
        return cls(packed_keys=_le(page.keys), packed_timestamps=_le(page.timestamps), packed_labels=_le(page.labels))
    return cls(keys=page.keys.tolist(), timestamps=page.timestamps.tolist(), labels=page.labels.tolist())


# Each manager error and the status code a client gets for it.
_STATUS_OF: list[tuple[type[Exception], grpc.StatusCode]] = [
    (DatasetNotFoundError, grpc.StatusCode.NOT_FOUND),
    (UnknownKeysError, grpc.StatusCode.NOT_FOUND),
    (InvalidDatasetError, grpc.StatusCode.INVALID_ARGUMENT),
    (DatasetConflictError, grpc.StatusCode.ALREADY_EXISTS),
    (DatasetUnavailableError, grpc.StatusCode.FAILED_PRECONDITION),
    (SampleReadError, grpc.StatusCode.DATA_LOSS),
]


def _abort(context: grpc.ServicerContext, exc: Exception) -> Any:
    for cls, code in _STATUS_OF:
        if isinstance(exc, cls):
            context.abort(code, str(exc))
    logger.exception("storage: unexpected error")
    context.abort(grpc.StatusCode.INTERNAL, f"storage: {type(exc).__name__}: {exc}")


def _call(context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - mapped to a status code; abort raises
        return _abort(context, exc)  # type: ignore[no-any-return]


def _stream(context: grpc.ServicerContext, make: Callable[[], Iterator[T]]) -> Iterator[T]:
    try:
        yield from make()
    except Exception as exc:  # noqa: BLE001 - mapped to a status code; abort raises
        _abort(context, exc)


class StorageServicer(storage_pb2_grpc.StorageServicer):
    """Implements protos/storage.proto on a StorageManager."""

    def __init__(self, manager: StorageManager) -> None:
        self.manager = manager

    def Get(self, request: pb.GetRequest, context: grpc.ServicerContext) -> Iterator[pb.GetResponse]:
        def messages() -> Iterator[pb.GetResponse]:
            keys = np.frombuffer(request.packed_keys, dtype="<i8") if request.packed_keys else request.keys
            for batch in self.manager.get_samples(request.dataset_id, keys):
                if request.packed:
                    yield pb.GetResponse(
                        packed_samples=batch.data,
                        packed_sample_lengths=_le(batch.lengths),
                        packed_keys=_le(batch.keys),
                        packed_labels=_le(batch.labels),
                    )
                else:
                    yield pb.GetResponse(
                        samples=batch.samples(), keys=batch.keys.tolist(), labels=batch.labels.tolist()
                    )

        return _stream(context, messages)

    def GetNewDataSince(
        self, request: pb.GetNewDataSinceRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetNewDataSinceResponse]:
        def messages() -> Iterator[pb.GetNewDataSinceResponse]:
            if request.HasField("after_key"):
                pages = self.manager.get_new_data_after_key(request.dataset_id, request.after_key)
            else:
                pages = self.manager.get_new_data_since(request.dataset_id, request.timestamp)
            for page in pages:
                yield _key_message(pb.GetNewDataSinceResponse, page, request.packed)

        return _stream(context, messages)

    def GetDataInInterval(
        self, request: pb.GetDataInIntervalRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetDataInIntervalResponse]:
        if request.start_timestamp > request.end_timestamp:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"start_timestamp {request.start_timestamp} is after end_timestamp {request.end_timestamp}",
            )

        def messages() -> Iterator[pb.GetDataInIntervalResponse]:
            for page in self.manager.get_data_in_interval(
                request.dataset_id, request.start_timestamp, request.end_timestamp
            ):
                yield _key_message(pb.GetDataInIntervalResponse, page, request.packed)

        return _stream(context, messages)

    def CheckAvailability(
        self, request: pb.DatasetAvailableRequest, context: grpc.ServicerContext
    ) -> pb.DatasetAvailableResponse:
        return pb.DatasetAvailableResponse(
            available=_call(context, lambda: self.manager.dataset_exists(request.dataset_id))
        )

    def RegisterNewDataset(
        self, request: pb.RegisterNewDatasetRequest, context: grpc.ServicerContext
    ) -> pb.RegisterNewDatasetResponse:
        try:
            config = json.loads(request.file_wrapper_config) if request.file_wrapper_config.strip() else {}
        except json.JSONDecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"file_wrapper_config: not valid JSON: {exc}")
        if not isinstance(config, dict):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "file_wrapper_config: must be a JSON object")
        if not request.base_path:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "base_path: must not be empty")
        _call(
            context,
            lambda: self.manager.register_dataset(
                name=request.dataset_id,
                base_path=request.base_path,
                file_wrapper_type=request.file_wrapper_type,
                file_wrapper_config=config,
                description=request.description,
                version=request.version or "1",
                filesystem_wrapper_type=request.filesystem_wrapper_type or "LocalFilesystemWrapper",
                # proto3 has no "unset": 0 means the default interval.
                file_watcher_interval=request.file_watcher_interval or DEFAULT_FILE_WATCHER_INTERVAL_S,
                unlogged=request.unlogged,
            ),
        )
        return pb.RegisterNewDatasetResponse(success=True)

    def GetCurrentTimestamp(
        self, request: pb.GetCurrentTimestampRequest, context: grpc.ServicerContext
    ) -> pb.GetCurrentTimestampResponse:
        return pb.GetCurrentTimestampResponse(timestamp=self.manager.current_timestamp())

    def DeleteDataset(
        self, request: pb.DatasetAvailableRequest, context: grpc.ServicerContext
    ) -> pb.DeleteDatasetResponse:
        # An unknown dataset answers success=false rather than an error, so that a retried delete is harmless.
        return pb.DeleteDatasetResponse(success=_call(context, lambda: self.manager.delete_dataset(request.dataset_id)))

    def DeleteData(self, request: pb.DeleteDataRequest, context: grpc.ServicerContext) -> pb.DeleteDataResponse:
        deleted = _call(context, lambda: self.manager.delete_data(request.dataset_id, list(request.keys)))
        return pb.DeleteDataResponse(success=True, num_deleted=deleted)

    def GetDatasetSize(
        self, request: pb.GetDatasetSizeRequest, context: grpc.ServicerContext
    ) -> pb.GetDatasetSizeResponse:
        size = _call(context, lambda: self.manager.get_dataset_size(request.dataset_id))
        return pb.GetDatasetSizeResponse(success=True, num_keys=size)

    def GetLastKey(self, request: pb.GetLastKeyRequest, context: grpc.ServicerContext) -> pb.GetLastKeyResponse:
        return pb.GetLastKeyResponse(last_key=_call(context, lambda: self.manager.get_last_key(request.dataset_id)))

    def UpdateDataset(
        self, request: pb.UpdateDatasetRequest, context: grpc.ServicerContext
    ) -> pb.UpdateDatasetResponse:
        result = _call(context, lambda: self.manager.update_dataset(request.dataset_id))
        return pb.UpdateDatasetResponse(
            num_new_files=result.num_new_files,
            num_new_samples=result.num_new_samples,
            skipped_files=result.skipped_files,
        )


def add_storage_servicer(manager: StorageManager) -> Callable[[grpc.Server], None]:
    """The `add_servicers` hook for GrpcServer / ServiceParts."""

    def add(server: grpc.Server) -> None:
        storage_pb2_grpc.add_StorageServicer_to_server(StorageServicer(manager), server)

    return add
