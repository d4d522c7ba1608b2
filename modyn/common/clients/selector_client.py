from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import selector_pb2 as pb
from modyn.generated.selector_pb2_grpc import SelectorStub

IntArrayLike = Sequence[int] | NDArray[np.integer[Any]]


def _pack(values: IntArrayLike | None) -> bytes:
    if values is None or len(values) == 0:
        return b""
    return np.asarray(values, dtype="<i8").tobytes()


class SelectorClient(LazyStubClient):
    """Typed calls to the selector. Keys, timestamps and labels travel packed (int64 bytes): lists or
    numpy arrays are accepted alike."""

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
    def _inform_request(
        pipeline_id: int, keys: IntArrayLike, timestamps: IntArrayLike, labels: IntArrayLike | None
    ) -> Any:
        return pb.DataInformRequest(
            pipeline_id=pipeline_id,
            keys_packed=_pack(keys),
            timestamps_packed=_pack(timestamps),
            labels_packed=_pack(labels),
        )

    def inform_data(
        self, pipeline_id: int, keys: IntArrayLike, timestamps: IntArrayLike, labels: IntArrayLike | None = None
    ) -> int:
        """Returns how many of the keys were new to the pipeline."""
        request = self._inform_request(pipeline_id, keys, timestamps, labels)
        return int(self.stub.InformData(request, timeout=LONG_DEADLINE_S).num_keys)

    def inform_data_and_trigger(
        self, pipeline_id: int, keys: IntArrayLike, timestamps: IntArrayLike, labels: IntArrayLike | None = None
    ) -> tuple[int, int, int]:
        """Returns (trigger_id, num_samples, num_partitions)."""
        r = self.stub.InformDataAndTrigger(
            self._inform_request(pipeline_id, keys, timestamps, labels), timeout=LONG_DEADLINE_S
        )
        return int(r.trigger_id), int(r.num_samples), int(r.num_partitions)

    def get_sample_keys_and_weights_arrays(
        self, pipeline_id: int, trigger_id: int, worker_id: int, partition_id: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32] | None]:
        """One worker's share of one partition as numpy arrays: (keys, weights or None)."""
        request = pb.GetSamplesRequest(
            pipeline_id=pipeline_id, trigger_id=trigger_id, worker_id=worker_id, partition_id=partition_id, packed=True
        )
        keys: list[bytes] = []
        weights: list[bytes] = []
        for r in self.stub.GetSampleKeysAndWeights(request, timeout=LONG_DEADLINE_S):
            keys.append(r.keys_packed)
            weights.append(r.weights_packed)
        key_array = np.frombuffer(b"".join(keys), dtype="<i8").astype(np.int64, copy=False)
        weight_bytes = b"".join(weights)
        if not weight_bytes:
            return key_array, None
        return key_array, np.frombuffer(weight_bytes, dtype="<f4").astype(np.float32, copy=False)

    def get_sample_keys_and_weights(
        self, pipeline_id: int, trigger_id: int, worker_id: int, partition_id: int
    ) -> tuple[list[int], list[float]]:
        """One worker's share of one partition: (keys, weights); weights is [] when the set has none."""
        keys, weights = self.get_sample_keys_and_weights_arrays(pipeline_id, trigger_id, worker_id, partition_id)
        return keys.tolist(), [] if weights is None else weights.tolist()

    def number_of_samples(self, pipeline_id: int, trigger_id: int) -> int:
        request = pb.GetNumberOfSamplesRequest(pipeline_id=pipeline_id, trigger_id=trigger_id)
        return int(self.stub.GetNumberOfSamples(request, timeout=SHORT_DEADLINE_S).num_samples)

    def number_of_partitions(self, pipeline_id: int, trigger_id: int) -> int:
        request = pb.GetNumberOfPartitionsRequest(pipeline_id=pipeline_id, trigger_id=trigger_id)
        return int(self.stub.GetNumberOfPartitions(request, timeout=SHORT_DEADLINE_S).num_partitions)

    def available_labels(self, pipeline_id: int) -> list[int]:
        request = pb.PipelineRequest(pipeline_id=pipeline_id)
        return list(self.stub.GetAvailableLabels(request, timeout=SHORT_DEADLINE_S).available_labels)

    def selection_strategy(self, pipeline_id: int) -> dict[str, Any]:
        """{name, config, downsampling_enabled, downsampling_config, warmup_triggers} of the pipeline."""
        r = self.stub.GetSelectionStrategy(pb.PipelineRequest(pipeline_id=pipeline_id), timeout=SHORT_DEADLINE_S)
        return {
            "name": r.strategy_name,
            "config": json.loads(r.selection_strategy),
            "downsampling_enabled": bool(r.downsampling_enabled),
            "downsampling_config": json.loads(r.downsampling_config) if r.downsampling_config else {},
            "warmup_triggers": int(r.warmup_triggers),
        }

    def uses_weights(self, pipeline_id: int) -> bool:
        request = pb.PipelineRequest(pipeline_id=pipeline_id)
        return bool(self.stub.UsesWeights(request, timeout=SHORT_DEADLINE_S).uses_weights)

    def status_bar_scale(self, pipeline_id: int) -> int:
        request = pb.PipelineRequest(pipeline_id=pipeline_id)
        return int(self.stub.GetStatusBarScale(request, timeout=SHORT_DEADLINE_S).status_bar_scale)
