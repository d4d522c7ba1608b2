"""The gRPC face of the metadata processor: a thin adapter over MetadataProcessorManager."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
        return self._store([request], context)

    def ProcessTrainingMetadataStream(  # noqa: N802 - gRPC method name
        self, request_iterator: Iterator[pb.TrainingMetadataRequest], context: grpc.ServicerContext
    ) -> pb.TrainingMetadataResponse:
        requests = list(request_iterator)
        if not requests:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "training metadata stream: no message")
        return self._store(requests, context)

    def _store(
        self, requests: list[pb.TrainingMetadataRequest], context: grpc.ServicerContext
    ) -> pb.TrainingMetadataResponse:
        request = requests[0]
        keys: list[int] = []
        losses: list[float] = []
        for number, part in enumerate(requests):
            if len(part.sample_keys) != len(part.sample_losses):
                _abort(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"training metadata of pipeline {request.pipeline_id} trigger {request.trigger_id}: message "
                    f"{number} has {len(part.sample_keys)} sample_keys but {len(part.sample_losses)} sample_losses",
                )
            keys += [s.sample_key for s in part.sample_metadata]
            losses += [s.loss for s in part.sample_metadata]
            keys += part.sample_keys
            losses += part.sample_losses
        try:
            stored = self._manager.store_training_metadata(
                pipeline_id=request.pipeline_id,
                trigger_id=request.trigger_id,
                loss=request.trigger_metadata.loss,
                num_samples=request.trigger_metadata.num_samples,
                sample_keys=keys,
                sample_losses=losses,
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

    def GetPipelineMetadata(  # noqa: N802 - gRPC method name
        self, request: pb.GetPipelineMetadataRequest, context: grpc.ServicerContext
    ) -> pb.GetPipelineMetadataResponse:
        try:
            triggers = self._manager.list_triggers(request.pipeline_id)
        except Exception as exc:
            logger.exception("listing metadata of pipeline %d", request.pipeline_id)
            _abort(
                context,
                grpc.StatusCode.INTERNAL,
                f"listing metadata of pipeline {request.pipeline_id} failed: {type(exc).__name__}: {exc}",
            )
        return pb.GetPipelineMetadataResponse(
            triggers=[
                pb.TriggerMetadataSummary(
                    trigger_id=t.trigger_id,
                    trigger_metadata=pb.TriggerMetadata(loss=t.loss, num_samples=t.num_samples),
                    num_sample_rows=t.num_sample_rows,
                )
                for t in triggers
            ]
        )

    def GetSampleMetadata(  # noqa: N802 - gRPC method name
        self, request: pb.GetSampleMetadataRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.SampleMetadataChunk]:
        try:
            if self._manager.get_trigger_summary(request.pipeline_id, request.trigger_id) is None:
                yield pb.SampleMetadataChunk(found=False)
                return
            for keys, losses in self._manager.sample_metadata(request.pipeline_id, request.trigger_id, request.keys):
                yield pb.SampleMetadataChunk(found=True, sample_keys=keys, sample_losses=losses)
        except Exception as exc:
            logger.exception("reading samples of pipeline %d trigger %d", request.pipeline_id, request.trigger_id)
            _abort(
                context,
                grpc.StatusCode.INTERNAL,
                f"reading sample metadata of pipeline {request.pipeline_id} trigger {request.trigger_id} failed: "
                f"{type(exc).__name__}: {exc}",
            )
