"""The gRPC face of model storage: a thin adapter over ModelStorageManager.

StoreModel is client-streaming (the first message carries the header, every message a chunk);
FetchModel streams chunks of ~4 MB, each message carrying the model's metadata and checksum.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import NoReturn

import grpc

from modyn.generated import model_storage_pb2 as pb
from modyn.generated.model_storage_pb2_grpc import ModelStorageServicer as _GeneratedServicer
from modyn.model_storage.model_storage_manager import (
    ChecksumMismatchError,
    InvalidModelError,
    ModelDataLossError,
    ModelHeader,
    ModelInfo,
    ModelNotFoundError,
    ModelStorageManager,
)

logger = logging.getLogger(__name__)

_HEADER_FIELDS = ("pipeline_id", "trigger_id", "model_class_name", "model_config", "sha256")


def _chunks(first: pb.StoreModelRequest, rest: Iterator[pb.StoreModelRequest]) -> Iterator[bytes]:
    """The stream's bytes; a later message may repeat the header but must not contradict it."""
    yield first.chunk
    for index, message in enumerate(rest, start=2):
        for name in _HEADER_FIELDS:
            value = getattr(message, name)
            if value and value != getattr(first, name):
                raise InvalidModelError(
                    f"message {index} of the stream has {name}={value!r}, but the first message had "
                    f"{getattr(first, name)!r}"
                )
        yield message.chunk


def _fetch_response(info: ModelInfo, chunk: bytes) -> pb.FetchModelResponse:
    return pb.FetchModelResponse(
        model_id=info.model_id,
        pipeline_id=info.pipeline_id,
        trigger_id=info.trigger_id,
        model_class_name=info.model_class_name,
        model_config=info.model_config,
        sha256=info.sha256,
        chunk=chunk,
    )


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """context.abort, typed as never returning (it raises to end the RPC)."""
    context.abort(code, message)
    raise AssertionError("context.abort returned")


class ModelStorageServicer(_GeneratedServicer):
    """Serves StoreModel, FetchModel and DeleteModel from a ModelStorageManager."""

    def __init__(self, manager: ModelStorageManager) -> None:
        self._manager = manager

    def StoreModel(  # noqa: N802 - gRPC method name
        self, request_iterator: Iterable[pb.StoreModelRequest], context: grpc.ServicerContext
    ) -> pb.StoreModelResponse:
        messages = iter(request_iterator)
        first = next(messages, None)
        if first is None:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "StoreModel: the stream was empty (expected a header)")
        header = ModelHeader(
            pipeline_id=first.pipeline_id,
            trigger_id=first.trigger_id,
            model_class_name=first.model_class_name,
            model_config=first.model_config,
            sha256=first.sha256,
        )
        what = f"model of pipeline {first.pipeline_id} trigger {first.trigger_id}"
        try:
            model_id = self._manager.store_model(header, _chunks(first, messages))
        except InvalidModelError as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"StoreModel: {what}: {exc}")
        except ChecksumMismatchError as exc:
            _abort(context, grpc.StatusCode.DATA_LOSS, f"StoreModel: {exc}")
        except grpc.RpcError:
            # The client went away mid-stream; the manager has already removed the partial file.
            raise
        except Exception as exc:
            logger.exception("StoreModel: %s", what)
            _abort(context, grpc.StatusCode.INTERNAL, f"StoreModel: {what} failed: {type(exc).__name__}: {exc}")
        return pb.StoreModelResponse(success=True, model_id=model_id)

    def FetchModel(  # noqa: N802 - gRPC method name
        self, request: pb.FetchModelRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.FetchModelResponse]:
        try:
            info, chunks = self._manager.open_model(request.model_id)
        except ModelNotFoundError as exc:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"FetchModel: {exc}")
        except ModelDataLossError as exc:
            _abort(context, grpc.StatusCode.DATA_LOSS, f"FetchModel: {exc}")
        except Exception as exc:
            logger.exception("FetchModel: model %d", request.model_id)
            _abort(
                context, grpc.StatusCode.INTERNAL, f"FetchModel: model {request.model_id}: {type(exc).__name__}: {exc}"
            )
        try:
            for chunk in chunks:
                yield _fetch_response(info, chunk)
        except ModelDataLossError as exc:
            _abort(context, grpc.StatusCode.DATA_LOSS, f"FetchModel: {exc}")

    def DeleteModel(  # noqa: N802 - gRPC method name
        self, request: pb.DeleteModelRequest, context: grpc.ServicerContext
    ) -> pb.DeleteModelResponse:
        try:
            self._manager.delete_model(request.model_id)
        except ModelNotFoundError as exc:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"DeleteModel: {exc}")
        except Exception as exc:
            logger.exception("DeleteModel: model %d", request.model_id)
            _abort(
                context, grpc.StatusCode.INTERNAL, f"DeleteModel: model {request.model_id}: {type(exc).__name__}: {exc}"
            )
        return pb.DeleteModelResponse(success=True)
