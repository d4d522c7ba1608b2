from typing import Any

import pytest
from sqlalchemy import Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modyn.common.database import Database, database_url


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "test_things"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)


def test_tables_created_and_sessions_commit_or_roll_back(db_config: dict[str, Any]) -> None:
    db = Database(db_config)
    db.create_tables(Base.metadata)
    db.create_tables(Base.metadata)  # idempotent on start-up
    with db.session() as session:
        session.add(Thing(name="a"))
    with pytest.raises(IntegrityError):
        with db.session() as session:
            session.add(Thing(name="b"))
            session.flush()
            session.add(Thing(name="a"))  # unique violation: the whole session rolls back
            session.flush()
    with db.session() as session:
        assert session.scalars(select(Thing.name)).all() == ["a"]
    assert db.is_postgres == (db_config["drivername"] == "postgresql")
    db.dispose()


def test_sqlite_parent_folder_is_created(tmp_path: Any) -> None:
    db = Database({"drivername": "sqlite", "database": str(tmp_path / "deep" / "er" / "x.db")})
    db.create_tables(Base.metadata)
    assert (tmp_path / "deep" / "er" / "x.db").exists()


def test_unknown_driver_is_named() -> None:
    with pytest.raises(ValueError, match="unsupported 'mysql'"):
        database_url({"drivername": "mysql", "database": "x"})
