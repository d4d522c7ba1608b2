"""The gRPC face of model storage: a thin adapter over ModelStorageManager.

StoreModel is client-streaming (the first message carries the header, every message a chunk);
FetchModel streams chunks of ~4 MB, each message carrying the model's metadata and checksum.
Errors map to status codes: bad input INVALID_ARGUMENT, unknown model or alias NOT_FOUND, a
checksum that does not match DATA_LOSS, deleting a model others depend on FAILED_PRECONDITION.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import NoReturn, TypeVar

import grpc

from modyn.generated import model_storage_pb2 as pb
from modyn.generated.model_storage_pb2_grpc import ModelStorageServicer as _GeneratedServicer
from modyn.model_storage.model_storage_manager import (
    AliasNotFoundError,
    ChecksumMismatchError,
    InvalidModelError,
    MetricValue,
    ModelDataLossError,
    ModelHeader,
    ModelInfo,
    ModelInUseError,
    ModelNotFoundError,
    ModelStorageManager,
)
from modyn.model_storage.promotion import WHOLE_DATASET, PromotionGate

logger = logging.getLogger(__name__)

_HEADER_FIELDS = ("pipeline_id", "trigger_id", "model_class_name", "model_config", "sha256")
T = TypeVar("T")


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
        sha256=info.served_sha256,
        chunk=chunk,
    )


def _metric_message(metric: MetricValue) -> pb.MetricValue:
    whole = metric.interval == WHOLE_DATASET
    return pb.MetricValue(
        dataset_id=metric.dataset_id,
        metric=metric.metric,
        has_interval=not whole,
        interval_start=0 if whole else metric.interval[0],
        interval_end=0 if whole else metric.interval[1],
        value=metric.value,
        recorded_at=metric.recorded_at.isoformat(timespec="seconds"),
    )


def info_message(info: ModelInfo, metrics: Iterable[MetricValue] = ()) -> pb.ModelInfo:
    return pb.ModelInfo(
        model_id=info.model_id,
        pipeline_id=info.pipeline_id,
        trigger_id=info.trigger_id,
        model_class_name=info.model_class_name,
        model_config=info.model_config,
        sha256=info.sha256,
        size_bytes=info.size_bytes,
        created_at=info.created_at.isoformat(timespec="seconds"),
        parent_model_id=info.parent_model_id,
        training_set_size=info.training_set_size,
        storage=info.storage,
        base_model_id=info.base_model_id,
        stored_size_bytes=info.file_size_bytes,
        state_sha256=info.state_sha256,
        aliases=list(info.aliases),
        metrics=[_metric_message(m) for m in metrics],
    )


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """context.abort, typed as never returning (it raises to end the RPC)."""
    context.abort(code, message)
    raise AssertionError("context.abort returned")


def _interval(has_interval: bool, start: int, end: int) -> tuple[int, int] | None:
    return (start, end) if has_interval else None


class ModelStorageServicer(_GeneratedServicer):
    """Serves model storage's RPCs from a ModelStorageManager."""

    def __init__(self, manager: ModelStorageManager) -> None:
        self._manager = manager

    def _call(self, rpc: str, context: grpc.ServicerContext, action: Callable[[], T]) -> T:
        try:
            return action()
        except InvalidModelError as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{rpc}: {exc}")
        except (ModelNotFoundError, AliasNotFoundError) as exc:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"{rpc}: {exc}")
        except ModelInUseError as exc:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"{rpc}: {exc}")
        except (ModelDataLossError, ChecksumMismatchError) as exc:
            _abort(context, grpc.StatusCode.DATA_LOSS, f"{rpc}: {exc}")
        except Exception as exc:
            logger.exception("%s failed", rpc)
            _abort(context, grpc.StatusCode.INTERNAL, f"{rpc} failed: {type(exc).__name__}: {exc}")

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
            parent_model_id=first.parent_model_id if first.HasField("parent_model_id") else None,
            training_set_size=first.training_set_size if first.HasField("training_set_size") else None,
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
        info, chunks = self._call("FetchModel", context, lambda: self._manager.open_model(request.model_id))
        try:
            for chunk in chunks:
                yield _fetch_response(info, chunk)
        except ModelDataLossError as exc:
            _abort(context, grpc.StatusCode.DATA_LOSS, f"FetchModel: {exc}")

    def DeleteModel(  # noqa: N802 - gRPC method name
        self, request: pb.DeleteModelRequest, context: grpc.ServicerContext
    ) -> pb.DeleteModelResponse:
        self._call("DeleteModel", context, lambda: self._manager.delete_model(request.model_id))
        return pb.DeleteModelResponse(success=True)

    def GetModelInfo(  # noqa: N802 - gRPC method name
        self, request: pb.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> pb.ModelInfo:
        def action() -> pb.ModelInfo:
            return info_message(self._manager.get_model_info(request.model_id), self._manager.metrics(request.model_id))

        return self._call("GetModelInfo", context, action)

    def ListModels(  # noqa: N802 - gRPC method name
        self, request: pb.ListModelsRequest, context: grpc.ServicerContext
    ) -> pb.ListModelsResponse:
        pipeline_id = request.pipeline_id if request.HasField("pipeline_id") else None
        infos = self._call("ListModels", context, lambda: self._manager.list_models(pipeline_id))
        return pb.ListModelsResponse(models=[info_message(info) for info in infos])

    def SetPipeline(  # noqa: N802 - gRPC method name
        self, request: pb.SetPipelineRequest, context: grpc.ServicerContext
    ) -> pb.SetPipelineResponse:
        def action() -> None:
            configs = []
            for name, text in (
                ("model_storage_config", request.model_storage_config),
                ("deployment_config", request.deployment_config),
            ):
                try:
                    value = json.loads(text or "{}")
                except json.JSONDecodeError as exc:
                    raise InvalidModelError(f"{name} is not valid JSON: {exc}") from exc
                if not isinstance(value, dict):
                    raise InvalidModelError(f"{name} must be a JSON object")
                configs.append(value)
            self._manager.set_pipeline(request.pipeline_id, request.pipeline_name, configs[0], configs[1])

        self._call("SetPipeline", context, action)
        return pb.SetPipelineResponse(success=True)

    def RecordMetrics(  # noqa: N802 - gRPC method name
        self, request: pb.RecordMetricsRequest, context: grpc.ServicerContext
    ) -> pb.RecordMetricsResponse:
        interval = _interval(request.has_interval, request.interval_start, request.interval_end)
        self._call(
            "RecordMetrics",
            context,
            lambda: self._manager.record_metrics(request.model_id, request.dataset_id, interval, dict(request.metrics)),
        )
        return pb.RecordMetricsResponse(success=True)

    def Promote(  # noqa: N802 - gRPC method name
        self, request: pb.PromoteRequest, context: grpc.ServicerContext
    ) -> pb.PromoteResponse:
        gate = None
        if request.HasField("gate"):
            g = request.gate
            gate = PromotionGate(
                dataset_id=g.dataset_id,
                metric=g.metric,
                max_regression=g.max_regression,
                higher_is_better=g.higher_is_better,
                interval=_interval(g.has_interval, g.interval_start, g.interval_end),
            )
        result = self._call("Promote", context, lambda: self._manager.promote(request.model_id, request.alias, gate))
        return pb.PromoteResponse(
            promoted=result.promoted,
            reason=result.reason,
            previous_model_id=result.previous_model_id,
            published_to=result.published_to,
        )

    def ResolveAlias(  # noqa: N802 - gRPC method name
        self, request: pb.ResolveAliasRequest, context: grpc.ServicerContext
    ) -> pb.ResolveAliasResponse:
        model_id = self._call(
            "ResolveAlias", context, lambda: self._manager.resolve(request.pipeline_id, request.alias)
        )
        return pb.ResolveAliasResponse(model_id=model_id)
