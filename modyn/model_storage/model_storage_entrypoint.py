"""`modyn-model-storage SYSTEM_YAML`: serve model storage until SIGINT/SIGTERM."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import grpc

from modyn.common.database import Database
from modyn.common.service_main import ServiceParts, run_service
from modyn.generated.model_storage_pb2_grpc import add_ModelStorageServicer_to_server
from modyn.model_storage.model_storage_manager import ModelStorageManager
from modyn.model_storage.servicer import ModelStorageServicer


def build(config: dict[str, Any]) -> ServiceParts:
    database = Database(config["metadata_database"])
    manager = ModelStorageManager(database, config["model_storage"]["models_directory"])
    servicer = ModelStorageServicer(manager)

    def add_servicers(server: grpc.Server) -> None:
        add_ModelStorageServicer_to_server(servicer, server)

    return ServiceParts(add_servicers=add_servicers, on_shutdown=[database.dispose])


def main(argv: Sequence[str] | None = None) -> int:
    return run_service("model-storage", "model_storage", build, argv)


if __name__ == "__main__":
    sys.exit(main())
