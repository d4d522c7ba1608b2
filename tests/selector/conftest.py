"""Fixtures for the selector tests: a SelectorManager on a fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modyn.common.database import Database
from modyn.selector.selector_manager import SelectorManager


@pytest.fixture
def database(db_config: dict[str, Any]) -> Iterator[Database]:
    db = Database(db_config)
    yield db
    db.dispose()


@pytest.fixture
def manager(database: Database) -> SelectorManager:
    return SelectorManager(database)
