"""The selector's gRPC servicer: a thin adapter from protos/selector.proto to SelectorManager."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import numpy as np

from modyn.generated import selector_pb2, selector_pb2_grpc
from modyn.selector.errors import SelectorNotFoundError
from modyn.selector.selector_manager import SelectorManager

logger = logging.getLogger(__name__)

# Keys per streamed SamplesResponse: 500k int64 are ~4 MB, well inside gRPC's sweet spot.
MAX_KEYS_PER_MESSAGE = 500_000

T = TypeVar("T")


def _parse_json_object(text: str, field: str, required: bool) -> dict[str, Any] | None:
    if not text.strip():
        if required:
            raise ValueError(f"{field}: is required (a JSON object)")
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{field}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{field}: must be a JSON object, got {type(value).__name__}")
    return value


def _repeated_int64(values: Any) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64, count=len(values))


def _int64_field(request: selector_pb2.DataInformRequest, name: str) -> np.ndarray:
    """A DataInformRequest array, from its repeated field or its packed (little-endian int64) twin."""
    repeated = getattr(request, name)
    packed: bytes = getattr(request, f"{name}_packed")
    if packed:
        if len(repeated):
            raise ValueError(f"{name}: give either {name} or {name}_packed, not both")
        if len(packed) % 8:
            raise ValueError(f"{name}_packed: {len(packed)} bytes is not a whole number of int64 values")
        return np.frombuffer(packed, dtype="<i8").astype(np.int64, copy=False)
    return _repeated_int64(repeated)


def _inform_fields(request: selector_pb2.DataInformRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _int64_field(request, "keys"), _int64_field(request, "timestamps"), _int64_field(request, "labels")


class SelectorServicer(selector_pb2_grpc.SelectorServicer):
    """Serves every Selector RPC. Bad input → INVALID_ARGUMENT; unknown pipeline/trigger/partition → NOT_FOUND."""

    def __init__(self, manager: SelectorManager) -> None:
        self._manager = manager

    def _call(self, context: grpc.ServicerContext, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except SelectorNotFoundError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            logger.exception("%s failed", what)
            context.abort(grpc.StatusCode.INTERNAL, f"{what} failed: {type(exc).__name__}: {exc}")
        raise AssertionError("unreachable: context.abort raises")

    def RegisterPipeline(  # noqa: N802 - gRPC method name
        self, request: selector_pb2.RegisterPipelineRequest, context: grpc.ServicerContext
    ) -> selector_pb2.PipelineResponse:
        def register() -> int:
            strategy = _parse_json_object(request.selection_strategy, "selection_strategy", required=True)
            config = _parse_json_object(request.pipeline_config, "pipeline_config", required=False)
            assert strategy is not None
            return self._manager.register_pipeline(request.pipeline_name, request.num_workers, strategy, config)

        return selector_pb2.PipelineResponse(pipeline_id=self._call(context, "RegisterPipeline", register))

    def InformData(  # noqa: N802
        self, request: selector_pb2.DataInformRequest, context: grpc.ServicerContext
    ) -> selector_pb2.DataInformResponse:
        num_new = self._call(
            context, "InformData", lambda: self._manager.inform_data(request.pipeline_id, *_inform_fields(request))
        )
        return selector_pb2.DataInformResponse(num_keys=num_new)

    def InformDataAndTrigger(  # noqa: N802
        self, request: selector_pb2.DataInformRequest, context: grpc.ServicerContext
    ) -> selector_pb2.TriggerResponse:
        info = self._call(
            context,
            "InformDataAndTrigger",
            lambda: self._manager.inform_data_and_trigger(request.pipeline_id, *_inform_fields(request)),
        )
        return selector_pb2.TriggerResponse(
            trigger_id=info.trigger_id, num_samples=info.num_samples, num_partitions=info.num_partitions
        )

    def GetSampleKeysAndWeights(  # noqa: N802
        self, request: selector_pb2.GetSamplesRequest, context: grpc.ServicerContext
    ) -> Iterator[selector_pb2.SamplesResponse]:
        keys, weights = self._call(
            context,
            "GetSampleKeysAndWeights",
            lambda: self._manager.get_sample_keys_and_weights(
                request.pipeline_id, request.trigger_id, request.worker_id, request.partition_id
            ),
        )
        if len(keys) == 0:
            # One empty message, so a client always sees at least one response for an existing share.
            yield selector_pb2.SamplesResponse()
            return
        for start in range(0, len(keys), MAX_KEYS_PER_MESSAGE):
            end = start + MAX_KEYS_PER_MESSAGE
            if request.packed:
                yield selector_pb2.SamplesResponse(
                    keys_packed=keys[start:end].astype("<i8", copy=False).tobytes(),
                    weights_packed=b"" if weights is None else weights[start:end].astype("<f4", copy=False).tobytes(),
                )
            else:
                yield selector_pb2.SamplesResponse(
                    training_samples_subset=keys[start:end].tolist(),
                    training_samples_weights=[] if weights is None else weights[start:end].tolist(),
                )

    def GetNumberOfSamples(  # noqa: N802
        self, request: selector_pb2.GetNumberOfSamplesRequest, context: grpc.ServicerContext
    ) -> selector_pb2.NumberOfSamplesResponse:
        num = self._call(
            context,
            "GetNumberOfSamples",
            lambda: self._manager.get_number_of_samples(request.pipeline_id, request.trigger_id),
        )
        return selector_pb2.NumberOfSamplesResponse(num_samples=num)

    def GetNumberOfPartitions(  # noqa: N802
        self, request: selector_pb2.GetNumberOfPartitionsRequest, context: grpc.ServicerContext
    ) -> selector_pb2.NumberOfPartitionsResponse:
        num = self._call(
            context,
            "GetNumberOfPartitions",
            lambda: self._manager.get_number_of_partitions(request.pipeline_id, request.trigger_id),
        )
        return selector_pb2.NumberOfPartitionsResponse(num_partitions=num)

    def GetAvailableLabels(  # noqa: N802
        self, request: selector_pb2.PipelineRequest, context: grpc.ServicerContext
    ) -> selector_pb2.AvailableLabelsResponse:
        labels = self._call(
            context, "GetAvailableLabels", lambda: self._manager.get_available_labels(request.pipeline_id)
        )
        return selector_pb2.AvailableLabelsResponse(available_labels=labels)

    def GetSelectionStrategy(  # noqa: N802
        self, request: selector_pb2.PipelineRequest, context: grpc.ServicerContext
    ) -> selector_pb2.SelectionStrategyResponse:
        strategy = self._call(context, "GetSelectionStrategy", lambda: self._manager.get_strategy(request.pipeline_id))
        downsampling = strategy.downsampling_config
        return selector_pb2.SelectionStrategyResponse(
            strategy_name=strategy.name,
            selection_strategy=json.dumps(strategy.config, sort_keys=True),
            downsampling_enabled=downsampling is not None,
            downsampling_config=json.dumps(downsampling or {}, sort_keys=True),
            warmup_triggers=strategy.warmup_triggers,
        )

    def UsesWeights(  # noqa: N802
        self, request: selector_pb2.PipelineRequest, context: grpc.ServicerContext
    ) -> selector_pb2.UsesWeightsResponse:
        strategy = self._call(context, "UsesWeights", lambda: self._manager.get_strategy(request.pipeline_id))
        return selector_pb2.UsesWeightsResponse(uses_weights=strategy.uses_weights)

    def GetStatusBarScale(  # noqa: N802
        self, request: selector_pb2.PipelineRequest, context: grpc.ServicerContext
    ) -> selector_pb2.StatusBarScaleResponse:
        strategy = self._call(context, "GetStatusBarScale", lambda: self._manager.get_strategy(request.pipeline_id))
        return selector_pb2.StatusBarScaleResponse(status_bar_scale=strategy.status_bar_scale)


def add_selector_servicer(manager: SelectorManager) -> Callable[[grpc.Server], None]:
    """The `add_servicers` callback for GrpcServer."""

    def add(server: grpc.Server) -> None:
        selector_pb2_grpc.add_SelectorServicer_to_server(SelectorServicer(manager), server)

    return add
