from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import model_storage_pb2 as pb
from modyn.generated.model_storage_pb2_grpc import ModelStorageStub

CHUNK_BYTES = 4 * 1024 * 1024


@dataclass
class StoredModelInfo:
    model_id: int
    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: dict[str, Any]
    sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class ModelStorageClient(LazyStubClient):
    stub_class = ModelStorageStub

    def store_model_file(
        self,
        path: Path,
        pipeline_id: int,
        trigger_id: int,
        model_class_name: str,
        model_config: dict[str, Any],
        parent_model_id: int | None = None,
        training_set_size: int | None = None,
    ) -> int:
        """Stream the file at `path` (a torch.save'd state dict) in chunks; return its model id.

        `parent_model_id`: the model the training started from (lineage; also the base an incremental
        storage policy stores the difference to); `training_set_size`: the trigger training set's size.
        """
        sha256 = file_sha256(path)
        parent = parent_model_id if parent_model_id is not None and parent_model_id > 0 else None

        def requests() -> Iterator[pb.StoreModelRequest]:
            with open(path, "rb") as f:
                first = True
                while True:
                    chunk = f.read(CHUNK_BYTES)
                    if not chunk and not first:
                        return
                    if first:
                        yield pb.StoreModelRequest(
                            pipeline_id=pipeline_id,
                            trigger_id=trigger_id,
                            model_class_name=model_class_name,
                            model_config=json.dumps(model_config),
                            sha256=sha256,
                            chunk=chunk,
                            parent_model_id=parent,
                            training_set_size=training_set_size,
                        )
                        first = False
                    else:
                        yield pb.StoreModelRequest(chunk=chunk)

        response = self.stub.StoreModel(requests(), timeout=LONG_DEADLINE_S)
        return int(response.model_id)

    def fetch_model_file(self, model_id: int, destination: Path) -> StoredModelInfo:
        """Download model `model_id` into `destination`, verifying its checksum."""
        digest = hashlib.sha256()
        info: StoredModelInfo | None = None
        partial = destination.with_name(destination.name + ".partial")
        with open(partial, "wb") as f:
            for r in self.stub.FetchModel(pb.FetchModelRequest(model_id=model_id), timeout=LONG_DEADLINE_S):
                if info is None:
                    info = StoredModelInfo(
                        model_id=int(r.model_id),
                        pipeline_id=int(r.pipeline_id),
                        trigger_id=int(r.trigger_id),
                        model_class_name=r.model_class_name,
                        model_config=json.loads(r.model_config or "{}"),
                        sha256=r.sha256,
                    )
                digest.update(r.chunk)
                f.write(r.chunk)
        if info is None:
            raise ValueError(f"model storage sent nothing for model {model_id}")
        if digest.hexdigest() != info.sha256:
            partial.unlink(missing_ok=True)
            raise ValueError(f"model {model_id}: checksum mismatch after download")
        os.replace(partial, destination)
        return info

    def delete_model(self, model_id: int) -> bool:
        """FAILED_PRECONDITION while other models are stored as differences to it or an alias names it."""
        return bool(self.stub.DeleteModel(pb.DeleteModelRequest(model_id=model_id), timeout=SHORT_DEADLINE_S).success)

    def get_model_info(self, model_id: int) -> pb.ModelInfo:
        """The model's registry entry (lineage, storage, aliases, metrics); NOT_FOUND for an unknown id."""
        return self.stub.GetModelInfo(pb.GetModelInfoRequest(model_id=model_id), timeout=SHORT_DEADLINE_S)

    def list_models(self, pipeline_id: int | None = None) -> list[pb.ModelInfo]:
        request = pb.ListModelsRequest(pipeline_id=pipeline_id)
        return list(self.stub.ListModels(request, timeout=SHORT_DEADLINE_S).models)

    def set_pipeline(
        self,
        pipeline_id: int,
        pipeline_name: str,
        model_storage_config: dict[str, Any] | None,
        deployment_config: dict[str, Any] | None,
    ) -> None:
        """Tell model storage a pipeline's storage policy and deployment (idempotent)."""
        self.stub.SetPipeline(
            pb.SetPipelineRequest(
                pipeline_id=pipeline_id,
                pipeline_name=pipeline_name,
                model_storage_config=json.dumps(model_storage_config or {}),
                deployment_config=json.dumps(deployment_config or {}),
            ),
            timeout=SHORT_DEADLINE_S,
        )

    def record_metrics(
        self, model_id: int, dataset_id: str, interval: tuple[int, int] | None, metrics: dict[str, float]
    ) -> None:
        """Record evaluation results of a model (interval None: the whole dataset); idempotent."""
        self.stub.RecordMetrics(
            pb.RecordMetricsRequest(
                model_id=model_id,
                dataset_id=dataset_id,
                has_interval=interval is not None,
                interval_start=interval[0] if interval else 0,
                interval_end=interval[1] if interval else 0,
                metrics=metrics,
            ),
            timeout=SHORT_DEADLINE_S,
        )

    def promote(
        self,
        model_id: int,
        alias: str,
        gate: dict[str, Any] | None = None,
        interval: tuple[int, int] | None = None,
    ) -> pb.PromoteResponse:
        """Point `alias` at the model. `gate`: {dataset_id, metric, max_regression, higher_is_better}; the
        models are compared on `interval` when given, else on the latest evaluation data they share."""
        request = pb.PromoteRequest(model_id=model_id, alias=alias)
        if gate is not None:
            request.gate.CopyFrom(
                pb.PromotionGate(
                    dataset_id=gate["dataset_id"],
                    metric=gate["metric"],
                    max_regression=float(gate.get("max_regression", 0.0)),
                    higher_is_better=bool(gate.get("higher_is_better", True)),
                    has_interval=interval is not None,
                    interval_start=interval[0] if interval else 0,
                    interval_end=interval[1] if interval else 0,
                )
            )
        return self.stub.Promote(request, timeout=LONG_DEADLINE_S)

    def resolve_alias(self, pipeline_id: int, alias: str) -> int:
        request = pb.ResolveAliasRequest(pipeline_id=pipeline_id, alias=alias)
        return int(self.stub.ResolveAlias(request, timeout=SHORT_DEADLINE_S).model_id)
