"""`modyn-metadata-processor SYSTEM_YAML`: serve the metadata processor until SIGINT/SIGTERM."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import grpc

from modyn.common.database import Database
from modyn.common.service_main import ServiceParts, run_service
from modyn.generated.metadata_processor_pb2_grpc import add_MetadataProcessorServicer_to_server
from modyn.metadata_processor.metadata_processor_manager import MetadataProcessorManager
from modyn.metadata_processor.servicer import MetadataProcessorServicer


def build(config: dict[str, Any]) -> ServiceParts:
    database = Database(config["metadata_database"])
    servicer = MetadataProcessorServicer(MetadataProcessorManager(database))

    def add_servicers(server: grpc.Server) -> None:
        add_MetadataProcessorServicer_to_server(servicer, server)

    return ServiceParts(add_servicers=add_servicers, on_shutdown=[database.dispose])


def main(argv: Sequence[str] | None = None) -> int:
    return run_service("metadata-processor", "metadata_processor", build, argv)


if __name__ == "__main__":
    sys.exit(main())
