from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StartTrainingRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id", "pipeline_config", "previous_model_id")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    pipeline_config: str
    previous_model_id: int
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., pipeline_config: _Optional[str] = ..., previous_model_id: _Optional[int] = ...) -> None: ...

class StartTrainingResponse(_message.Message):
    __slots__ = ("training_started", "training_id")
    TRAINING_STARTED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_ID_FIELD_NUMBER: _ClassVar[int]
    training_started: bool
    training_id: int
    def __init__(self, training_started: _Optional[bool] = ..., training_id: _Optional[int] = ...) -> None: ...

class TrainingStatusRequest(_message.Message):
    __slots__ = ("training_id",)
    TRAINING_ID_FIELD_NUMBER: _ClassVar[int]
    training_id: int
    def __init__(self, training_id: _Optional[int] = ...) -> None: ...

class TrainingStatusResponse(_message.Message):
    __slots__ = ("valid", "is_running", "is_done", "failed", "exception", "samples_seen", "total_samples", "current_loss", "epoch", "loss_first", "loss_last", "duration_s", "samples_trained", "time_setup_s", "time_wait_data_s", "time_train_s", "time_downsample_s", "time_finish_s", "loss_curve", "record_loss_every")
    VALID_FIELD_NUMBER: _ClassVar[int]
    IS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    IS_DONE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_SEEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CURRENT_LOSS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIRST_FIELD_NUMBER: _ClassVar[int]
    LOSS_LAST_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_TRAINED_FIELD_NUMBER: _ClassVar[int]
    TIME_SETUP_S_FIELD_NUMBER: _ClassVar[int]
    TIME_WAIT_DATA_S_FIELD_NUMBER: _ClassVar[int]
    TIME_TRAIN_S_FIELD_NUMBER: _ClassVar[int]
    TIME_DOWNSAMPLE_S_FIELD_NUMBER: _ClassVar[int]
    TIME_FINISH_S_FIELD_NUMBER: _ClassVar[int]
    LOSS_CURVE_FIELD_NUMBER: _ClassVar[int]
    RECORD_LOSS_EVERY_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    is_running: bool
    is_done: bool
    failed: bool
    exception: str
    samples_seen: int
    total_samples: int
    current_loss: float
    epoch: int
    loss_first: float
    loss_last: float
    duration_s: float
    samples_trained: int
    time_setup_s: float
    time_wait_data_s: float
    time_train_s: float
    time_downsample_s: float
    time_finish_s: float
    loss_curve: _containers.RepeatedScalarFieldContainer[float]
    record_loss_every: int
    def __init__(self, valid: _Optional[bool] = ..., is_running: _Optional[bool] = ..., is_done: _Optional[bool] = ..., failed: _Optional[bool] = ..., exception: _Optional[str] = ..., samples_seen: _Optional[int] = ..., total_samples: _Optional[int] = ..., current_loss: _Optional[float] = ..., epoch: _Optional[int] = ..., loss_first: _Optional[float] = ..., loss_last: _Optional[float] = ..., duration_s: _Optional[float] = ..., samples_trained: _Optional[int] = ..., time_setup_s: _Optional[float] = ..., time_wait_data_s: _Optional[float] = ..., time_train_s: _Optional[float] = ..., time_downsample_s: _Optional[float] = ..., time_finish_s: _Optional[float] = ..., loss_curve: _Optional[_Iterable[float]] = ..., record_loss_every: _Optional[int] = ...) -> None: ...

class StoreFinalModelRequest(_message.Message):
    __slots__ = ("training_id",)
    TRAINING_ID_FIELD_NUMBER: _ClassVar[int]
    training_id: int
    def __init__(self, training_id: _Optional[int] = ...) -> None: ...

class StoreFinalModelResponse(_message.Message):
    __slots__ = ("valid_state", "model_id")
    VALID_STATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    valid_state: bool
    model_id: int
    def __init__(self, valid_state: _Optional[bool] = ..., model_id: _Optional[int] = ...) -> None: ...

class StopTrainingRequest(_message.Message):
    __slots__ = ("training_id",)
    TRAINING_ID_FIELD_NUMBER: _ClassVar[int]
    training_id: int
    def __init__(self, training_id: _Optional[int] = ...) -> None: ...

class StopTrainingResponse(_message.Message):
    __slots__ = ("stopped",)
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    stopped: bool
    def __init__(self, stopped: _Optional[bool] = ...) -> None: ...
