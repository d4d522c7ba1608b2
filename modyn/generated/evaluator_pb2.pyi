from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluationNotStartReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOT_STARTED_REASON_UNSPECIFIED: _ClassVar[EvaluationNotStartReason]
    EMPTY_DATASET: _ClassVar[EvaluationNotStartReason]
    MODEL_NOT_FOUND: _ClassVar[EvaluationNotStartReason]
    DATASET_NOT_FOUND: _ClassVar[EvaluationNotStartReason]
NOT_STARTED_REASON_UNSPECIFIED: EvaluationNotStartReason
EMPTY_DATASET: EvaluationNotStartReason
MODEL_NOT_FOUND: EvaluationNotStartReason
DATASET_NOT_FOUND: EvaluationNotStartReason

class EvaluateModelRequest(_message.Message):
    __slots__ = ("model_id", "dataset_id", "bytes_parser_function", "label_transformer_function", "batch_size", "device", "metrics", "has_interval", "start_timestamp", "end_timestamp", "evaluation_transformer_function", "transformations")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    BYTES_PARSER_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    LABEL_TRANSFORMER_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    HAS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    END_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_TRANSFORMER_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    TRANSFORMATIONS_FIELD_NUMBER: _ClassVar[int]
    model_id: int
    dataset_id: str
    bytes_parser_function: str
    label_transformer_function: str
    batch_size: int
    device: str
    metrics: _containers.RepeatedScalarFieldContainer[str]
    has_interval: bool
    start_timestamp: int
    end_timestamp: int
    evaluation_transformer_function: str
    transformations: str
    def __init__(self, model_id: _Optional[int] = ..., dataset_id: _Optional[str] = ..., bytes_parser_function: _Optional[str] = ..., label_transformer_function: _Optional[str] = ..., batch_size: _Optional[int] = ..., device: _Optional[str] = ..., metrics: _Optional[_Iterable[str]] = ..., has_interval: _Optional[bool] = ..., start_timestamp: _Optional[int] = ..., end_timestamp: _Optional[int] = ..., evaluation_transformer_function: _Optional[str] = ..., transformations: _Optional[str] = ...) -> None: ...

class EvaluateModelResponse(_message.Message):
    __slots__ = ("evaluation_started", "evaluation_id", "dataset_size", "not_start_reason", "message")
    EVALUATION_STARTED_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_SIZE_FIELD_NUMBER: _ClassVar[int]
    NOT_START_REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    evaluation_started: bool
    evaluation_id: int
    dataset_size: int
    not_start_reason: EvaluationNotStartReason
    message: str
    def __init__(self, evaluation_started: _Optional[bool] = ..., evaluation_id: _Optional[int] = ..., dataset_size: _Optional[int] = ..., not_start_reason: _Optional[_Union[EvaluationNotStartReason, str]] = ..., message: _Optional[str] = ...) -> None: ...

class EvaluationResultRequest(_message.Message):
    __slots__ = ("evaluation_id",)
    EVALUATION_ID_FIELD_NUMBER: _ClassVar[int]
    evaluation_id: int
    def __init__(self, evaluation_id: _Optional[int] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class EvaluationResultResponse(_message.Message):
    __slots__ = ("valid", "is_running", "failed", "exception", "num_samples", "results")
    VALID_FIELD_NUMBER: _ClassVar[int]
    IS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    is_running: bool
    failed: bool
    exception: str
    num_samples: int
    results: _containers.RepeatedCompositeFieldContainer[MetricResult]
    def __init__(self, valid: _Optional[bool] = ..., is_running: _Optional[bool] = ..., failed: _Optional[bool] = ..., exception: _Optional[str] = ..., num_samples: _Optional[int] = ..., results: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ...) -> None: ...
