from __future__ import annotations

import json
from typing import Any

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import selector_pb2 as pb
from modyn.generated.selector_pb2_grpc import SelectorStub


class SelectorClient(LazyStubClient):
    stub_class = SelectorStub

    def register_pipeline(self, pipeline_config: dict[str, Any]) -> int:
        request = pb.RegisterPipelineRequest(
            pipeline_name=pipeline_config["pipeline"]["name"],
            num_workers=max(1, int(pipeline_config["training"]["dataloader_workers"])),
            selection_strategy=json.dumps(pipeline_config["selection_strategy"]),
            pipeline_config=json.dumps(pipeline_config),
        )
        return int(self.stub.RegisterPipeline(request, timeout=SHORT_DEADLINE_S).pipeline_id)

    @staticmethod
    def _inform_request(pipeline_id: int, keys: list[int], timestamps: list[int], labels: list[int]) -> Any:
        return pb.DataInformRequest(pipeline_id=pipeline_id, keys=keys, timestamps=timestamps, labels=labels)

    def inform_data(self, pipeline_id: int, keys: list[int], timestamps: list[int], labels: list[int]) -> None:
        self.stub.InformData(self._inform_request(pipeline_id, keys, timestamps, labels), timeout=LONG_DEADLINE_S)

    def inform_data_and_trigger(
        self, pipeline_id: int, keys: list[int], timestamps: list[int], labels: list[int]
    ) -> tuple[int, int, int]:
        """Returns (trigger_id, num_samples, num_partitions)."""
        r = self.stub.InformDataAndTrigger(
            self._inform_request(pipeline_id, keys, timestamps, labels), timeout=LONG_DEADLINE_S
        )
        return int(r.trigger_id), int(r.num_samples), int(r.num_partitions)

    def get_sample_keys_and_weights(
        self, pipeline_id: int, trigger_id: int, worker_id: int, partition_id: int
    ) -> tuple[list[int], list[float]]:
        request = pb.GetSamplesRequest(
            pipeline_id=pipeline_id, trigger_id=trigger_id, worker_id=worker_id, partition_id=partition_id
        )
        keys: list[int] = []
        weights: list[float] = []
        for r in self.stub.GetSampleKeysAndWeights(request, timeout=LONG_DEADLINE_S):
            keys.extend(r.training_samples_subset)
            weights.extend(r.training_samples_weights)
        return keys, weights

    def number_of_samples(self, pipeline_id: int, trigger_id: int) -> int:
        request = pb.GetNumberOfSamplesRequest(pipeline_id=pipeline_id, trigger_id=trigger_id)
        return int(self.stub.GetNumberOfSamples(request, timeout=SHORT_DEADLINE_S).num_samples)

    def number_of_partitions(self, pipeline_id: int, trigger_id: int) -> int:
        request = pb.GetNumberOfPartitionsRequest(pipeline_id=pipeline_id, trigger_id=trigger_id)
        return int(self.stub.GetNumberOfPartitions(request, timeout=SHORT_DEADLINE_S).num_partitions)
