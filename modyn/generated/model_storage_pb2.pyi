from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoreModelRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id", "model_class_name", "model_config", "sha256", "chunk", "parent_model_id", "training_set_size")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    PARENT_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_SIZE_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    sha256: str
    chunk: bytes
    parent_model_id: int
    training_set_size: int
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., model_class_name: _Optional[str] = ..., model_config: _Optional[str] = ..., sha256: _Optional[str] = ..., chunk: _Optional[bytes] = ..., parent_model_id: _Optional[int] = ..., training_set_size: _Optional[int] = ...) -> None: ...

class StoreModelResponse(_message.Message):
    __slots__ = ("success", "model_id")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    success: bool
    model_id: int
    def __init__(self, success: _Optional[bool] = ..., model_id: _Optional[int] = ...) -> None: ...

class FetchModelRequest(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    def __init__(self, model_id: _Optional[int] = ...) -> None: ...

class FetchModelResponse(_message.Message):
    __slots__ = ("model_id", "pipeline_id", "trigger_id", "model_class_name", "model_config", "sha256", "chunk")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    sha256: str
    chunk: bytes
    def __init__(self, model_id: _Optional[int] = ..., pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., model_class_name: _Optional[str] = ..., model_config: _Optional[str] = ..., sha256: _Optional[str] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    def __init__(self, model_id: _Optional[int] = ...) -> None: ...

class DeleteModelResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class MetricValue(_message.Message):
    __slots__ = ("dataset_id", "metric", "has_interval", "interval_start", "interval_end", "value", "recorded_at")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    HAS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_START_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_END_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    metric: str
    has_interval: bool
    interval_start: int
    interval_end: int
    value: float
    recorded_at: str
    def __init__(self, dataset_id: _Optional[str] = ..., metric: _Optional[str] = ..., has_interval: _Optional[bool] = ..., interval_start: _Optional[int] = ..., interval_end: _Optional[int] = ..., value: _Optional[float] = ..., recorded_at: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("model_id", "pipeline_id", "trigger_id", "model_class_name", "model_config", "sha256", "size_bytes", "created_at", "parent_model_id", "training_set_size", "storage", "base_model_id", "stored_size_bytes", "state_sha256", "aliases", "metrics")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PARENT_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_SIZE_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STATE_SHA256_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    sha256: str
    size_bytes: int
    created_at: str
    parent_model_id: int
    training_set_size: int
    storage: str
    base_model_id: int
    stored_size_bytes: int
    state_sha256: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricValue]
    def __init__(self, model_id: _Optional[int] = ..., pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., model_class_name: _Optional[str] = ..., model_config: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., created_at: _Optional[str] = ..., parent_model_id: _Optional[int] = ..., training_set_size: _Optional[int] = ..., storage: _Optional[str] = ..., base_model_id: _Optional[int] = ..., stored_size_bytes: _Optional[int] = ..., state_sha256: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., metrics: _Optional[_Iterable[_Union[MetricValue, _Mapping]]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    def __init__(self, model_id: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("pipeline_id",)
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    def __init__(self, pipeline_id: _Optional[int] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class SetPipelineRequest(_message.Message):
    __slots__ = ("pipeline_id", "pipeline_name", "model_storage_config", "deployment_config")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_STORAGE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    pipeline_name: str
    model_storage_config: str
    deployment_config: str
    def __init__(self, pipeline_id: _Optional[int] = ..., pipeline_name: _Optional[str] = ..., model_storage_config: _Optional[str] = ..., deployment_config: _Optional[str] = ...) -> None: ...

class SetPipelineResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class RecordMetricsRequest(_message.Message):
    __slots__ = ("model_id", "dataset_id", "has_interval", "interval_start", "interval_end", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_START_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_END_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    dataset_id: str
    has_interval: bool
    interval_start: int
    interval_end: int
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, model_id: _Optional[int] = ..., dataset_id: _Optional[str] = ..., has_interval: _Optional[bool] = ..., interval_start: _Optional[int] = ..., interval_end: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class RecordMetricsResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class PromotionGate(_message.Message):
    __slots__ = ("dataset_id", "metric", "max_regression", "higher_is_better", "has_interval", "interval_start", "interval_end")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MAX_REGRESSION_FIELD_NUMBER: _ClassVar[int]
    HIGHER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    HAS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_START_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_END_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    metric: str
    max_regression: float
    higher_is_better: bool
    has_interval: bool
    interval_start: int
    interval_end: int
    def __init__(self, dataset_id: _Optional[str] = ..., metric: _Optional[str] = ..., max_regression: _Optional[float] = ..., higher_is_better: _Optional[bool] = ..., has_interval: _Optional[bool] = ..., interval_start: _Optional[int] = ..., interval_end: _Optional[int] = ...) -> None: ...

class PromoteRequest(_message.Message):
    __slots__ = ("model_id", "alias", "gate")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    alias: str
    gate: PromotionGate
    def __init__(self, model_id: _Optional[int] = ..., alias: _Optional[str] = ..., gate: _Optional[_Union[PromotionGate, _Mapping]] = ...) -> None: ...

class PromoteResponse(_message.Message):
    __slots__ = ("promoted", "reason", "previous_model_id", "published_to")
    PROMOTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_TO_FIELD_NUMBER: _ClassVar[int]
    promoted: bool
    reason: str
    previous_model_id: int
    published_to: str
    def __init__(self, promoted: _Optional[bool] = ..., reason: _Optional[str] = ..., previous_model_id: _Optional[int] = ..., published_to: _Optional[str] = ...) -> None: ...

class ResolveAliasRequest(_message.Message):
    __slots__ = ("pipeline_id", "alias")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    alias: str
    def __init__(self, pipeline_id: _Optional[int] = ..., alias: _Optional[str] = ...) -> None: ...

class ResolveAliasResponse(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    def __init__(self, model_id: _Optional[int] = ...) -> None: ...
