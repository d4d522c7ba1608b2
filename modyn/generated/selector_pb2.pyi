from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterPipelineRequest(_message.Message):
    __slots__ = ("pipeline_name", "num_workers", "selection_strategy", "pipeline_config")
    PIPELINE_NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_WORKERS_FIELD_NUMBER: _ClassVar[int]
    SELECTION_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    pipeline_name: str
    num_workers: int
    selection_strategy: str
    pipeline_config: str
    def __init__(self, pipeline_name: _Optional[str] = ..., num_workers: _Optional[int] = ..., selection_strategy: _Optional[str] = ..., pipeline_config: _Optional[str] = ...) -> None: ...

class PipelineResponse(_message.Message):
    __slots__ = ("pipeline_id",)
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    def __init__(self, pipeline_id: _Optional[int] = ...) -> None: ...

class PipelineRequest(_message.Message):
    __slots__ = ("pipeline_id",)
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    def __init__(self, pipeline_id: _Optional[int] = ...) -> None: ...

class DataInformRequest(_message.Message):
    __slots__ = ("pipeline_id", "keys", "timestamps", "labels", "keys_packed", "timestamps_packed", "labels_packed")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    KEYS_PACKED_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_PACKED_FIELD_NUMBER: _ClassVar[int]
    LABELS_PACKED_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    keys: _containers.RepeatedScalarFieldContainer[int]
    timestamps: _containers.RepeatedScalarFieldContainer[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    keys_packed: bytes
    timestamps_packed: bytes
    labels_packed: bytes
    def __init__(self, pipeline_id: _Optional[int] = ..., keys: _Optional[_Iterable[int]] = ..., timestamps: _Optional[_Iterable[int]] = ..., labels: _Optional[_Iterable[int]] = ..., keys_packed: _Optional[bytes] = ..., timestamps_packed: _Optional[bytes] = ..., labels_packed: _Optional[bytes] = ...) -> None: ...

class DataInformResponse(_message.Message):
    __slots__ = ("num_keys",)
    NUM_KEYS_FIELD_NUMBER: _ClassVar[int]
    num_keys: int
    def __init__(self, num_keys: _Optional[int] = ...) -> None: ...

class TriggerResponse(_message.Message):
    __slots__ = ("trigger_id", "num_samples", "num_partitions")
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    NUM_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    trigger_id: int
    num_samples: int
    num_partitions: int
    def __init__(self, trigger_id: _Optional[int] = ..., num_samples: _Optional[int] = ..., num_partitions: _Optional[int] = ...) -> None: ...

class GetSamplesRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id", "worker_id", "partition_id", "packed")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    worker_id: int
    partition_id: int
    packed: bool
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., worker_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., packed: _Optional[bool] = ...) -> None: ...

class SamplesResponse(_message.Message):
    __slots__ = ("training_samples_subset", "training_samples_weights", "keys_packed", "weights_packed")
    TRAINING_SAMPLES_SUBSET_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SAMPLES_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    KEYS_PACKED_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_PACKED_FIELD_NUMBER: _ClassVar[int]
    training_samples_subset: _containers.RepeatedScalarFieldContainer[int]
    training_samples_weights: _containers.RepeatedScalarFieldContainer[float]
    keys_packed: bytes
    weights_packed: bytes
    def __init__(self, training_samples_subset: _Optional[_Iterable[int]] = ..., training_samples_weights: _Optional[_Iterable[float]] = ..., keys_packed: _Optional[bytes] = ..., weights_packed: _Optional[bytes] = ...) -> None: ...

class GetNumberOfSamplesRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ...) -> None: ...

class NumberOfSamplesResponse(_message.Message):
    __slots__ = ("num_samples",)
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    num_samples: int
    def __init__(self, num_samples: _Optional[int] = ...) -> None: ...

class GetNumberOfPartitionsRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ...) -> None: ...

class NumberOfPartitionsResponse(_message.Message):
    __slots__ = ("num_partitions",)
    NUM_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    num_partitions: int
    def __init__(self, num_partitions: _Optional[int] = ...) -> None: ...

class AvailableLabelsResponse(_message.Message):
    __slots__ = ("available_labels",)
    AVAILABLE_LABELS_FIELD_NUMBER: _ClassVar[int]
    available_labels: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, available_labels: _Optional[_Iterable[int]] = ...) -> None: ...

class SelectionStrategyResponse(_message.Message):
    __slots__ = ("strategy_name", "selection_strategy", "downsampling_enabled", "downsampling_config", "warmup_triggers")
    STRATEGY_NAME_FIELD_NUMBER: _ClassVar[int]
    SELECTION_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    DOWNSAMPLING_ENABLED_FIELD_NUMBER: _ClassVar[int]
    DOWNSAMPLING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    WARMUP_TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    strategy_name: str
    selection_strategy: str
    downsampling_enabled: bool
    downsampling_config: str
    warmup_triggers: int
    def __init__(self, strategy_name: _Optional[str] = ..., selection_strategy: _Optional[str] = ..., downsampling_enabled: _Optional[bool] = ..., downsampling_config: _Optional[str] = ..., warmup_triggers: _Optional[int] = ...) -> None: ...

class UsesWeightsResponse(_message.Message):
    __slots__ = ("uses_weights",)
    USES_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    uses_weights: bool
    def __init__(self, uses_weights: _Optional[bool] = ...) -> None: ...

class StatusBarScaleResponse(_message.Message):
    __slots__ = ("status_bar_scale",)
    STATUS_BAR_SCALE_FIELD_NUMBER: _ClassVar[int]
    status_bar_scale: int
    def __init__(self, status_bar_scale: _Optional[int] = ...) -> None: ...
