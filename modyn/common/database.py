"""The database layer every service uses: SQLite files by default, PostgreSQL when configured.

A database config is the system YAML's mapping, e.g. `{drivername: sqlite, database: ./x.db}` or
`{drivername: postgresql, username: postgres, password: ..., hostname: 127.0.0.1, port: 5432,
database: modyn}`. Each service declares its tables on its own DeclarativeBase and creates them
on start-up with `Database.create_tables`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, MetaData, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 60_000


def database_url(db_config: dict[str, Any]) -> URL:
    driver = db_config["drivername"]
    if driver == "sqlite":
        return URL.create("sqlite", database=str(db_config["database"]))
    if driver in ("postgresql", "postgresql+psycopg2"):
        return URL.create(
            "postgresql+psycopg2",
            username=db_config.get("username"),
            password=db_config.get("password") or None,
            host=db_config.get("hostname"),
            port=db_config.get("port"),
            database=db_config["database"],
        )
    raise ValueError(f"database.drivername: unsupported '{driver}' (use sqlite or postgresql)")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; several services may share one file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_db_engine(db_config: dict[str, Any]) -> Engine:
    url = database_url(db_config)
    if url.drivername == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """An engine plus a session factory for one database."""

    def __init__(self, db_config: dict[str, Any]) -> None:
        self.config = db_config
        self.engine = create_db_engine(db_config)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def create_tables(self, metadata: MetaData) -> None:
        metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
