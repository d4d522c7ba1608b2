from __future__ import annotations

from collections.abc import Iterator

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import metadata_processor_pb2 as pb
from modyn.generated.metadata_processor_pb2_grpc import MetadataProcessorStub

SAMPLES_PER_MESSAGE = 1_000_000  # 16 MB of packed keys and losses


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
        """Store one trigger's metadata (replacing what was there); samples go in packed columns, and in
        several messages of at most SAMPLES_PER_MESSAGE samples when there are more."""
        keys = list(sample_keys or [])
        losses = list(sample_losses or [])
        if len(keys) != len(losses):
            raise ValueError(f"{len(keys)} sample keys but {len(losses)} sample losses")
        head = pb.TrainingMetadataRequest(
            pipeline_id=pipeline_id,
            trigger_id=trigger_id,
            trigger_metadata=pb.TriggerMetadata(loss=loss, num_samples=num_samples),
            sample_keys=keys[:SAMPLES_PER_MESSAGE],
            sample_losses=losses[:SAMPLES_PER_MESSAGE],
        )
        if len(keys) <= SAMPLES_PER_MESSAGE:
            return int(self.stub.ProcessTrainingMetadata(head, timeout=LONG_DEADLINE_S).num_samples_stored)

        def messages() -> Iterator[pb.TrainingMetadataRequest]:
            yield head
            for start in range(SAMPLES_PER_MESSAGE, len(keys), SAMPLES_PER_MESSAGE):
                end = start + SAMPLES_PER_MESSAGE
                yield pb.TrainingMetadataRequest(sample_keys=keys[start:end], sample_losses=losses[start:end])

        return int(self.stub.ProcessTrainingMetadataStream(messages(), timeout=LONG_DEADLINE_S).num_samples_stored)

    def get_pipeline_metadata(self, pipeline_id: int) -> list[pb.TriggerMetadataSummary]:
        """Every trigger of the pipeline with metadata: trigger_id, trigger_metadata, num_sample_rows."""
        request = pb.GetPipelineMetadataRequest(pipeline_id=pipeline_id)
        return list(self.stub.GetPipelineMetadata(request, timeout=SHORT_DEADLINE_S).triggers)

    def get_sample_metadata(
        self, pipeline_id: int, trigger_id: int, keys: list[int] | None = None
    ) -> tuple[list[int], list[float]] | None:
        """(sample keys, losses) of one trigger in the order reported (only `keys` if given); None if unknown."""
        request = pb.GetSampleMetadataRequest(pipeline_id=pipeline_id, trigger_id=trigger_id, keys=keys or [])
        found = False
        sample_keys: list[int] = []
        sample_losses: list[float] = []
        for chunk in self.stub.GetSampleMetadata(request, timeout=LONG_DEADLINE_S):
            found = found or chunk.found
            sample_keys.extend(chunk.sample_keys)
            sample_losses.extend(chunk.sample_losses)
        return (sample_keys, sample_losses) if found else None

    def get_training_metadata(self, pipeline_id: int, trigger_id: int) -> pb.GetTrainingMetadataResponse:
        request = pb.GetTrainingMetadataRequest(pipeline_id=pipeline_id, trigger_id=trigger_id)
        return self.stub.GetTrainingMetadata(request, timeout=SHORT_DEADLINE_S)
