"""The gRPC face of the evaluator: a thin adapter over EvaluationManager."""

from __future__ import annotations

import json
from typing import NoReturn

import grpc

from modyn.evaluator.evaluation_manager import (
    DatasetNotFound,
    EvaluationManager,
    EvaluationNotFound,
    EvaluationNotStarted,
    EvaluationRequest,
    InvalidEvaluationRequest,
    StorageUnavailable,
)
from modyn.generated import evaluator_pb2 as pb
from modyn.generated.evaluator_pb2_grpc import EvaluatorServicer as _GeneratedServicer


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")


class EvaluatorServicer(_GeneratedServicer):
    """EvaluateModel starts a job, checked first: bad metrics, parser or transformations → INVALID_ARGUMENT;
    storage or model storage down → UNAVAILABLE; unknown model, unknown dataset or no samples in the
    interval → evaluation_started false with `not_start_reason` and a message. GetEvaluationResult polls a
    job (unknown id → NOT_FOUND)."""

    def __init__(self, manager: EvaluationManager) -> None:
        self.manager = manager

    def EvaluateModel(  # noqa: N802 - gRPC method name
        self, request: pb.EvaluateModelRequest, context: grpc.ServicerContext
    ) -> pb.EvaluateModelResponse:
        try:
            transformations = json.loads(request.transformations) if request.transformations else []
        except json.JSONDecodeError as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"transformations is not a JSON list: {exc}")
        if not isinstance(transformations, list):
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "transformations must be a JSON list")
        evaluation_request = EvaluationRequest(
            model_id=request.model_id,
            dataset_id=request.dataset_id,
            bytes_parser_function=request.bytes_parser_function,
            metrics=list(request.metrics),
            batch_size=request.batch_size,
            label_transformer_function=request.label_transformer_function,
            device=request.device or "cpu",
            interval=(request.start_timestamp, request.end_timestamp) if request.has_interval else None,
            evaluation_transformer_function=request.evaluation_transformer_function,
            transformations=transformations,
        )
        try:
            evaluation_id, dataset_size = self.manager.start(evaluation_request)
        except EvaluationNotStarted as exc:
            return pb.EvaluateModelResponse(
                evaluation_started=False,
                dataset_size=0,
                not_start_reason=pb.EvaluationNotStartReason.Value(exc.reason),
                message=str(exc),
            )
        except InvalidEvaluationRequest as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except DatasetNotFound as exc:
            _abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        except StorageUnavailable as exc:
            _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        return pb.EvaluateModelResponse(evaluation_started=True, evaluation_id=evaluation_id, dataset_size=dataset_size)

    def GetEvaluationResult(  # noqa: N802 - gRPC method name
        self, request: pb.EvaluationResultRequest, context: grpc.ServicerContext
    ) -> pb.EvaluationResultResponse:
        try:
            status = self.manager.status(request.evaluation_id)
        except EvaluationNotFound as exc:
            _abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        return pb.EvaluationResultResponse(
            valid=True,
            is_running=status.is_running,
            failed=status.failed,
            exception=status.exception,
            num_samples=status.num_samples,
            results=[pb.MetricResult(name=name, value=value) for name, value in status.results],
        )
