"""gRPC adapter of the trainer server over TrainingManager: parses requests, maps errors to status codes."""

from __future__ import annotations

import json
import logging

import grpc

from modyn.common.clients import describe_rpc_error
from modyn.generated import trainer_server_pb2 as pb
from modyn.generated.trainer_server_pb2_grpc import TrainerServerServicer as TrainerServerServicerBase
from modyn.trainer_server.training_manager import (
    InvalidTrainingRequestError,
    TrainingManager,
    TrainingNotDoneError,
    UnknownTrainingError,
)

logger = logging.getLogger(__name__)


class TrainerServerServicer(TrainerServerServicerBase):
    """StartTraining / GetTrainingStatus / StoreFinalModel over a TrainingManager."""

    def __init__(self, manager: TrainingManager) -> None:
        self.manager = manager

    def StartTraining(  # noqa: N802 - gRPC method name
        self, request: pb.StartTrainingRequest, context: grpc.ServicerContext
    ) -> pb.StartTrainingResponse:
        try:
            config = json.loads(request.pipeline_config)
        except json.JSONDecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"pipeline_config is not valid JSON: {exc}")
        if not isinstance(config, dict):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"pipeline_config must be a JSON object, got {type(config).__name__}",
            )
        try:
            training_id = self.manager.start_training(
                request.pipeline_id, request.trigger_id, config, request.previous_model_id
            )
        except InvalidTrainingRequestError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return pb.StartTrainingResponse(training_started=True, training_id=training_id)

    def GetTrainingStatus(  # noqa: N802
        self, request: pb.TrainingStatusRequest, context: grpc.ServicerContext
    ) -> pb.TrainingStatusResponse:
        try:
            s = self.manager.status(request.training_id)
        except UnknownTrainingError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return pb.TrainingStatusResponse(
            valid=True,
            is_running=s.is_running,
            is_done=s.is_done,
            failed=s.failed,
            exception=s.exception,
            samples_seen=s.samples_seen,
            total_samples=s.total_samples,
            current_loss=s.current_loss,
            epoch=s.epoch,
            loss_first=s.loss_first,
            loss_last=s.loss_last,
            duration_s=s.duration_s,
            samples_trained=s.samples_trained,
            time_setup_s=s.time_setup_s,
            time_wait_data_s=s.time_wait_data_s,
            time_train_s=s.time_train_s,
            time_downsample_s=s.time_downsample_s,
            time_finish_s=s.time_finish_s,
            loss_curve=s.loss_curve,
            record_loss_every=s.record_loss_every,
        )

    def StopTraining(  # noqa: N802
        self, request: pb.StopTrainingRequest, context: grpc.ServicerContext
    ) -> pb.StopTrainingResponse:
        try:
            stopped = self.manager.stop_training(request.training_id)
        except UnknownTrainingError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return pb.StopTrainingResponse(stopped=stopped)

    def StoreFinalModel(  # noqa: N802
        self, request: pb.StoreFinalModelRequest, context: grpc.ServicerContext
    ) -> pb.StoreFinalModelResponse:
        try:
            model_id = self.manager.store_final_model(request.training_id)
        except UnknownTrainingError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except TrainingNotDoneError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except grpc.RpcError as exc:
            message = describe_rpc_error("model storage", exc)
            logger.warning("training %d: storing the final model failed: %s", request.training_id, message)
            context.abort(
                grpc.StatusCode.UNAVAILABLE, f"storing the model of training {request.training_id}: {message}"
            )
        return pb.StoreFinalModelResponse(valid_state=True, model_id=model_id)
