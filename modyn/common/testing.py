"""Support for tests and benchmarks: free ports and throwaway PostgreSQL databases.

PostgreSQL is found through MODYN_POSTGRES_URL (a SQLAlchemy URL; default
postgresql+psycopg2://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from sqlalchemy import create_engine, make_url, text

DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_url() -> str:
    return os.environ.get("MODYN_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_unavailable_reason() -> str | None:
    """None when PostgreSQL answers at MODYN_POSTGRES_URL, else why not."""
    try:
        engine = create_engine(postgres_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL not reachable at MODYN_POSTGRES_URL={postgres_url()}: {type(exc).__name__}: {exc}"
    return None


def create_postgres_database(prefix: str = "modyn_test") -> dict[str, Any]:
    """Create an empty database on the server; return a Modyn database config for it."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(postgres_url())
    return {
        "drivername": "postgresql",
        "username": url.username or "postgres",
        "password": url.password or "",
        "hostname": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "database": name,
    }


def drop_postgres_database(db_config: dict[str, Any]) -> None:
    engine = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db_config["database"]}" WITH (FORCE)'))
    engine.dispose()
