from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StoreModelRequest(_message.Message):
    __slots__ = ("pipeline_id", "trigger_id", "model_class_name", "model_config", "sha256", "chunk")
    PIPELINE_ID_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    sha256: str
    chunk: bytes
    def __init__(self, pipeline_id: _Optional[int] = ..., trigger_id: _Optional[int] = ..., model_class_name: _Optional[str] = ..., model_config: _Optional[str] = ..., sha256: _Optional[str] = ..., chunk: _Optional[bytes] = ...) -> None: ...

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
