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
        self, path: Path, pipeline_id: int, trigger_id: int, model_class_name: str, model_config: dict[str, Any]
    ) -> int:
        """Stream the file at `path` (a torch.save'd state dict) in chunks; return its model id."""
        sha256 = file_sha256(path)

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
        return bool(self.stub.DeleteModel(pb.DeleteModelRequest(model_id=model_id), timeout=SHORT_DEADLINE_S).success)
