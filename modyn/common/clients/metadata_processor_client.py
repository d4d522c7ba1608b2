from __future__ import annotations

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import metadata_processor_pb2 as pb
from modyn.generated.metadata_processor_pb2_grpc import MetadataProcessorStub


class MetadataProcessorClient(LazyStubClient):
    stub_class = MetadataProcessorStub

    def send_training_metadata(
        self,
        pipeline_id: int,
        trigger_id: int,
        loss: float,
        num_samples: int,
        sample_keys: list[int] | None = None,
        sample_losses: list[float] | None = None,
    ) -> int:
        samples = [
            pb.SampleMetadata(sample_key=k, loss=v) for k, v in zip(sample_keys or [], sample_losses or [], strict=True)
        ]
        request = pb.TrainingMetadataRequest(
            pipeline_id=pipeline_id,
            trigger_id=trigger_id,
            trigger_metadata=pb.TriggerMetadata(loss=loss, num_samples=num_samples),
            sample_metadata=samples,
        )
        return int(self.stub.ProcessTrainingMetadata(request, timeout=LONG_DEADLINE_S).num_samples_stored)

    def get_training_metadata(self, pipeline_id: int, trigger_id: int) -> pb.GetTrainingMetadataResponse:
        request = pb.GetTrainingMetadataRequest(pipeline_id=pipeline_id, trigger_id=trigger_id)
        return self.stub.GetTrainingMetadata(request, timeout=SHORT_DEADLINE_S)
