"""Fixtures shared by all tests: database configs for SQLite and PostgreSQL, free ports.

PostgreSQL tests skip with a message when no server answers at MODYN_POSTGRES_URL, unless
MODYN_REQUIRE_POSTGRES=1 (as .ci/run sets), where they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modyn.common.testing import (
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_unavailable_reason,
)


def _require_postgres() -> None:
    reason = postgres_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("MODYN_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"MODYN_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_db_config() -> Iterator[dict[str, Any]]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    _require_postgres()
    config = create_postgres_database()
    yield config
    drop_postgres_database(config)


@pytest.fixture
def sqlite_db_config(tmp_path: Path) -> dict[str, Any]:
    return {"drivername": "sqlite", "database": str(tmp_path / "test.db")}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield {"drivername": "sqlite", "database": str(tmp_path / "test.db")}
        return
    _require_postgres()
    config = create_postgres_database()
    yield config
    drop_postgres_database(config)


@pytest.fixture
def port() -> int:
    return free_port()
