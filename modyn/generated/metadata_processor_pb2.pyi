from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TriggerMetadata(_message.Message):
    __slots__ = ("loss", "num_samples")
    LOSS_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    loss: float
    num_samples: int
    def __init__(self, loss: _Optional[float] = ..., num_samples: _Optional[int] = ...) -> None: ...

class SampleMetadata(_message.Message):
    __slots__ = ("sample_key", "loss")
    SAMPLE_KEY_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    sample_key: int
    loss: float
    def __init__(self, sample_key: _Optional[int] = ..., loss: _Optional[float] = ...) -> None: ...

class TrainingMetadataRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id", "trigger_metadata", "sample_metadata", "sample_keys", "sample_losses")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_METADATA_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_METADATA_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_KEYS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_LOSSES_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    trigger_metadata: TriggerMetadata
    sample_metadata: _containers.RepeatedCompositeFieldContainer[SampleMetadata]
    sample_keys: _containers.RepeatedScalarFieldContainer[int]
    sample_losses: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., trigger_metadata: _Optional[_Union[TriggerMetadata, _Mapping]] = ..., sample_metadata: _Optional[_Iterable[_Union[SampleMetadata, _Mapping]]] = ..., sample_keys: _Optional[_Iterable[int]] = ..., sample_losses: _Optional[_Iterable[float]] = ...) -> None: ...

class TrainingMetadataResponse(_message.Message):
    __slots__ = ("num_samples_stored",)
    NUM_SAMPLES_STORED_FIELD_NUMBER: _ClassVar[int]
    num_samples_stored: int
    def __init__(self, num_samples_stored: _Optional[int] = ...) -> None: ...

class GetTrainingMetadataRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ...) -> None: ...

class GetTrainingMetadataResponse(_message.Message):
    __slots__ = ("found", "trigger_metadata", "sample_metadata")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_METADATA_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_METADATA_FIELD_NUMBER: _ClassVar[int]
    found: bool
    trigger_metadata: TriggerMetadata
    sample_metadata: _containers.RepeatedCompositeFieldContainer[SampleMetadata]
    def __init__(self, found: _Optional[bool] = ..., trigger_metadata: _Optional[_Union[TriggerMetadata, _Mapping]] = ..., sample_metadata: _Optional[_Iterable[_Union[SampleMetadata, _Mapping]]] = ...) -> None: ...

class GetPipelineMetadataRequest(_message.Message):
    __slots__ = ("pipeline_id",)
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    def __init__(self, pipeline_id: _Optional[int] = ...) -> None: ...

class TriggerMetadataSummary(_message.Message):
    __slots__ = ("trigger_id", "trigger_metadata", "num_sample_rows")
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_METADATA_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLE_ROWS_FIELD_NUMBER: _ClassVar[int]
    trigger_id: int
    trigger_metadata: TriggerMetadata
    num_sample_rows: int
    def __init__(self, trigger_id: _Optional[int] = ..., trigger_metadata: _Optional[_Union[TriggerMetadata, _Mapping]] = ..., num_sample_rows: _Optional[int] = ...) -> None: ...

class GetPipelineMetadataResponse(_message.Message):
    __slots__ = ("triggers",)
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    triggers: _containers.RepeatedCompositeFieldContainer[TriggerMetadataSummary]
    def __init__(self, triggers: _Optional[_Iterable[_Union[TriggerMetadataSummary, _Mapping]]] = ...) -> None: ...

class GetSampleMetadataRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id", "keys")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    keys: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., keys: _Optional[_Iterable[int]] = ...) -> None: ...

class SampleMetadataChunk(_message.Message):
    __slots__ = ("found", "sample_keys", "sample_losses")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_KEYS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_LOSSES_FIELD_NUMBER: _ClassVar[int]
    found: bool
    sample_keys: _containers.RepeatedScalarFieldContainer[int]
    sample_losses: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, found: _Optional[bool] = ..., sample_keys: _Optional[_Iterable[int]] = ..., sample_losses: _Optional[_Iterable[float]] = ...) -> None: ...
