"""The shared `main` of every service's console script: `modyn-<service> SYSTEM_YAML`.

Loads and validates the system config (exit 2 with every problem on an invalid one), builds the
service, serves on the host and port of its config section until SIGINT/SIGTERM, exits 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from modyn.common.grpc_utils import GrpcServer, run_until_signalled
from modyn.common.logging_setup import setup_logging
from modyn.config import ConfigError, load_system_config


@dataclass
class ServiceParts:
    """What a service hands to the shared main: how to register its servicers, what to close."""

    add_servicers: Callable[[grpc.Server], None]
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)
    max_workers: int = 16


def run_service(
    name: str, section: str, build: Callable[[dict[str, Any]], ServiceParts], argv: Sequence[str] | None = None
) -> int:
    parser = argparse.ArgumentParser(prog=f"modyn-{name}", description=f"Run the Modyn {name} service.")
    parser.add_argument("system_config", help="path to the system YAML")
    args = parser.parse_args(argv)
    logger = setup_logging(name)
    try:
        config = load_system_config(args.system_config)
    except ConfigError as exc:
        print(f"modyn-{name}: {exc}", file=sys.stderr)
        return 2
    try:
        parts = build(config)
        server = GrpcServer(
            name, config[section]["hostname"], config[section]["port"], parts.add_servicers, parts.max_workers
        )
    except Exception as exc:
        logger.exception("failed to start")
        print(f"modyn-{name}: failed to start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return run_until_signalled(server, parts.on_shutdown)
