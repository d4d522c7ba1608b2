"""`modyn-trainer-server SYSTEM_YAML`: serve the trainer server until SIGINT/SIGTERM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from modyn.common.service_main import ServiceParts, run_service
from modyn.generated.trainer_server_pb2_grpc import add_TrainerServerServicer_to_server
from modyn.trainer_server.servicer import TrainerServerServicer
from modyn.trainer_server.training_manager import TrainingManager


def build(config: dict[str, Any]) -> ServiceParts:
    manager = TrainingManager(config)

    def add_servicers(server: grpc.Server) -> None:
        add_TrainerServerServicer_to_server(TrainerServerServicer(manager), server)

    return ServiceParts(add_servicers=add_servicers, on_shutdown=[manager.shutdown])


def main(argv: Sequence[str] | None = None) -> int:
    return run_service("trainer_server", "trainer_server", build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
