"""`modyn-evaluator SYSTEM_YAML`: serve the evaluator until SIGINT/SIGTERM."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import grpc

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.service_main import ServiceParts, run_service
from modyn.evaluator.evaluation_manager import EvaluationManager
from modyn.evaluator.servicer import EvaluatorServicer
from modyn.generated.evaluator_pb2_grpc import add_EvaluatorServicer_to_server


def build(config: dict[str, Any]) -> ServiceParts:
    """The evaluator's parts: clients for storage and model storage (from the system config), the manager."""
    storage = StorageClient(config["storage"]["hostname"], config["storage"]["port"])
    model_storage = ModelStorageClient(config["model_storage"]["hostname"], config["model_storage"]["port"])
    manager = EvaluationManager(storage, model_storage)
    servicer = EvaluatorServicer(manager)

    def add_servicers(server: grpc.Server) -> None:
        add_EvaluatorServicer_to_server(servicer, server)

    return ServiceParts(add_servicers=add_servicers, on_shutdown=[manager.shutdown, storage.close, model_storage.close])


def main(argv: Sequence[str] | None = None) -> int:
    return run_service("evaluator", "evaluator", build, argv)


if __name__ == "__main__":
    sys.exit(main())
