"""The gRPC face of the metadata processor: a thin adapter over MetadataProcessorManager."""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc

from modyn.generated import metadata_processor_pb2 as pb
from modyn.generated.metadata_processor_pb2_grpc import MetadataProcessorServicer as _GeneratedServicer
from modyn.metadata_processor.metadata_processor_manager import InvalidMetadataError, MetadataProcessorManager

logger = logging.getLogger(__name__)


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """context.abort, typed as never returning (it raises to end the RPC)."""
    context.abort(code, message)
    raise AssertionError("context.abort returned")


class MetadataProcessorServicer(_GeneratedServicer):
    """Serves ProcessTrainingMetadata and GetTrainingMetadata from a MetadataProcessorManager."""

    def __init__(self, manager: MetadataProcessorManager) -> None:
        self._manager = manager

    def ProcessTrainingMetadata(  # noqa: N802 - gRPC method name
        self, request: pb.TrainingMetadataRequest, context: grpc.ServicerContext
    ) -> pb.TrainingMetadataResponse:
        samples = request.sample_metadata
        try:
            stored = self._manager.store_training_metadata(
                pipeline_id=request.pipeline_id,
                trigger_id=request.trigger_id,
                loss=request.trigger_metadata.loss,
                num_samples=request.trigger_metadata.num_samples,
                sample_keys=[s.sample_key for s in samples],
                sample_losses=[s.loss for s in samples],
            )
        except InvalidMetadataError as exc:
            _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"training metadata of pipeline {request.pipeline_id} trigger {request.trigger_id}: {exc}",
            )
        except Exception as exc:
            logger.exception("storing metadata of pipeline %d trigger %d", request.pipeline_id, request.trigger_id)
            _abort(
                context,
                grpc.StatusCode.INTERNAL,
                f"storing metadata of pipeline {request.pipeline_id} trigger {request.trigger_id} failed: "
                f"{type(exc).__name__}: {exc}",
            )
        return pb.TrainingMetadataResponse(num_samples_stored=stored)

    def GetTrainingMetadata(  # noqa: N802 - gRPC method name
        self, request: pb.GetTrainingMetadataRequest, context: grpc.ServicerContext
    ) -> pb.GetTrainingMetadataResponse:
        try:
            metadata = self._manager.get_training_metadata(request.pipeline_id, request.trigger_id)
        except Exception as exc:
            logger.exception("reading metadata of pipeline %d trigger %d", request.pipeline_id, request.trigger_id)
            _abort(
                context,
                grpc.StatusCode.INTERNAL,
                f"reading metadata of pipeline {request.pipeline_id} trigger {request.trigger_id} failed: "
                f"{type(exc).__name__}: {exc}",
            )
        if metadata is None:
            return pb.GetTrainingMetadataResponse(found=False)
        return pb.GetTrainingMetadataResponse(
            found=True,
            trigger_metadata=pb.TriggerMetadata(loss=metadata.loss, num_samples=metadata.num_samples),
            sample_metadata=[
                pb.SampleMetadata(sample_key=k, loss=v)
                for k, v in zip(metadata.sample_keys, metadata.sample_losses, strict=True)
            ],
        )
