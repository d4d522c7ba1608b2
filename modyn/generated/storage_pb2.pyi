from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetRequest(_message.Message):
    __slots__ = ("dataset_id", "keys", "packed", "packed_keys")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    PACKED_KEYS_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    keys: _containers.RepeatedScalarFieldContainer[int]
    packed: bool
    packed_keys: bytes
    def __init__(self, dataset_id: _Optional[str] = ..., keys: _Optional[_Iterable[int]] = ..., packed: _Optional[bool] = ..., packed_keys: _Optional[bytes] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("samples", "keys", "labels", "packed_samples", "packed_sample_lengths", "packed_keys", "packed_labels")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PACKED_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PACKED_SAMPLE_LENGTHS_FIELD_NUMBER: _ClassVar[int]
    PACKED_KEYS_FIELD_NUMBER: _ClassVar[int]
    PACKED_LABELS_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedScalarFieldContainer[bytes]
    keys: _containers.RepeatedScalarFieldContainer[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    packed_samples: bytes
    packed_sample_lengths: bytes
    packed_keys: bytes
    packed_labels: bytes
    def __init__(self, samples: _Optional[_Iterable[bytes]] = ..., keys: _Optional[_Iterable[int]] = ..., labels: _Optional[_Iterable[int]] = ..., packed_samples: _Optional[bytes] = ..., packed_sample_lengths: _Optional[bytes] = ..., packed_keys: _Optional[bytes] = ..., packed_labels: _Optional[bytes] = ...) -> None: ...

class GetNewDataSinceRequest(_message.Message):
    __slots__ = ("dataset_id", "timestamp", "after_key", "packed")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    AFTER_KEY_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    timestamp: int
    after_key: int
    packed: bool
    def __init__(self, dataset_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., after_key: _Optional[int] = ..., packed: _Optional[bool] = ...) -> None: ...

class GetNewDataSinceResponse(_message.Message):
    __slots__ = ("keys", "timestamps", "labels", "packed_keys", "packed_timestamps", "packed_labels")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PACKED_KEYS_FIELD_NUMBER: _ClassVar[int]
    PACKED_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    PACKED_LABELS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[int]
    timestamps: _containers.RepeatedScalarFieldContainer[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    packed_keys: bytes
    packed_timestamps: bytes
    packed_labels: bytes
    def __init__(self, keys: _Optional[_Iterable[int]] = ..., timestamps: _Optional[_Iterable[int]] = ..., labels: _Optional[_Iterable[int]] = ..., packed_keys: _Optional[bytes] = ..., packed_timestamps: _Optional[bytes] = ..., packed_labels: _Optional[bytes] = ...) -> None: ...

class GetDataInIntervalRequest(_message.Message):
    __slots__ = ("dataset_id", "start_timestamp", "end_timestamp", "packed")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    END_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    start_timestamp: int
    end_timestamp: int
    packed: bool
    def __init__(self, dataset_id: _Optional[str] = ..., start_timestamp: _Optional[int] = ..., end_timestamp: _Optional[int] = ..., packed: _Optional[bool] = ...) -> None: ...

class GetDataInIntervalResponse(_message.Message):
    __slots__ = ("keys", "timestamps", "labels", "packed_keys", "packed_timestamps", "packed_labels")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PACKED_KEYS_FIELD_NUMBER: _ClassVar[int]
    PACKED_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    PACKED_LABELS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[int]
    timestamps: _containers.RepeatedScalarFieldContainer[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    packed_keys: bytes
    packed_timestamps: bytes
    packed_labels: bytes
    def __init__(self, keys: _Optional[_Iterable[int]] = ..., timestamps: _Optional[_Iterable[int]] = ..., labels: _Optional[_Iterable[int]] = ..., packed_keys: _Optional[bytes] = ..., packed_timestamps: _Optional[bytes] = ..., packed_labels: _Optional[bytes] = ...) -> None: ...

class DatasetAvailableRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class DatasetAvailableResponse(_message.Message):
    __slots__ = ("available",)
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    available: bool
    def __init__(self, available: _Optional[bool] = ...) -> None: ...

class RegisterNewDatasetRequest(_message.Message):
    __slots__ = ("dataset_id", "filesystem_wrapper_type", "file_wrapper_type", "description", "base_path", "version", "file_wrapper_config", "file_watcher_interval", "unlogged")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    FILESYSTEM_WRAPPER_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_WRAPPER_TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BASE_PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILE_WRAPPER_CONFIG_FIELD_NUMBER: _ClassVar[int]
    FILE_WATCHER_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    UNLOGGED_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    filesystem_wrapper_type: str
    file_wrapper_type: str
    description: str
    base_path: str
    version: str
    file_wrapper_config: str
    file_watcher_interval: int
    unlogged: bool
    def __init__(self, dataset_id: _Optional[str] = ..., filesystem_wrapper_type: _Optional[str] = ..., file_wrapper_type: _Optional[str] = ..., description: _Optional[str] = ..., base_path: _Optional[str] = ..., version: _Optional[str] = ..., file_wrapper_config: _Optional[str] = ..., file_watcher_interval: _Optional[int] = ..., unlogged: _Optional[bool] = ...) -> None: ...

class RegisterNewDatasetResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class GetCurrentTimestampRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCurrentTimestampResponse(_message.Message):
    __slots__ = ("timestamp",)
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    def __init__(self, timestamp: _Optional[int] = ...) -> None: ...

class DeleteDatasetResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class DeleteDataRequest(_message.Message):
    __slots__ = ("dataset_id", "keys")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    keys: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, dataset_id: _Optional[str] = ..., keys: _Optional[_Iterable[int]] = ...) -> None: ...

class DeleteDataResponse(_message.Message):
    __slots__ = ("success", "num_deleted")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    NUM_DELETED_FIELD_NUMBER: _ClassVar[int]
    success: bool
    num_deleted: int
    def __init__(self, success: _Optional[bool] = ..., num_deleted: _Optional[int] = ...) -> None: ...

class GetDatasetSizeRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class GetDatasetSizeResponse(_message.Message):
    __slots__ = ("success", "num_keys")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    NUM_KEYS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    num_keys: int
    def __init__(self, success: _Optional[bool] = ..., num_keys: _Optional[int] = ...) -> None: ...

class GetLastKeyRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class GetLastKeyResponse(_message.Message):
    __slots__ = ("last_key",)
    LAST_KEY_FIELD_NUMBER: _ClassVar[int]
    last_key: int
    def __init__(self, last_key: _Optional[int] = ...) -> None: ...

class UpdateDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class UpdateDatasetResponse(_message.Message):
    __slots__ = ("num_new_files", "num_new_samples", "skipped_files")
    NUM_NEW_FILES_FIELD_NUMBER: _ClassVar[int]
    NUM_NEW_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FILES_FIELD_NUMBER: _ClassVar[int]
    num_new_files: int
    num_new_samples: int
    skipped_files: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, num_new_files: _Optional[int] = ..., num_new_samples: _Optional[int] = ..., skipped_files: _Optional[_Iterable[str]] = ...) -> None: ...
