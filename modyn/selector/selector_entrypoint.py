"""`modyn-selector SYSTEM_YAML`: serve the selector on the host and port of the config's `selector` section,
keeping its state in `metadata_database` (tables created on start-up)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modyn.common.database import Database
from modyn.common.service_main import ServiceParts, run_service
from modyn.selector.selector_manager import SelectorManager
from modyn.selector.servicer import add_selector_servicer


def build(config: dict[str, Any]) -> ServiceParts:
    database = Database(config["metadata_database"])
    manager = SelectorManager(database)
    return ServiceParts(add_servicers=add_selector_servicer(manager), on_shutdown=[database.dispose])


def main(argv: Sequence[str] | None = None) -> int:
    return run_service("selector", "selector", build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
