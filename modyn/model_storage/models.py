"""Tables of model storage in the shared metadata database (prefix `model_storage_`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Integer, String, Text, UniqueConstraint, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL-like column.
_ID = BigInteger().with_variant(Integer, "sqlite")


class ModelStorageBase(DeclarativeBase):
    """Model storage's own declarative base: only its tables, created on start-up."""


class ModelRecord(ModelStorageBase):
    """One stored model: where its file lies (relative to models_directory), what it is and where it came from.

    `sha256`/`size_bytes` describe the bytes that were uploaded; `file_sha256`/`file_size_bytes` the
    stored file (they differ for compressed or incremental models). `encoding` (JSON) says how the file
    was written; `base_model_id` is the model an incremental file is a difference to (NULL: full).
    """

    __tablename__ = "model_storage_models"
    __table_args__ = (
        # The same upload again (a retried StoreModel) maps to the model already stored.
        UniqueConstraint("pipeline_id", "trigger_id", "sha256", name="uq_model_storage_models_pts"),
        # AUTOINCREMENT: SQLite must never hand a deleted model's id to a new model.
        {"sqlite_autoincrement": True},
    )

    model_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    trigger_id: Mapped[int] = mapped_column(Integer, nullable=False)
    model_class_name: Mapped[str] = mapped_column(String(255), nullable=False)
    model_config: Mapped[str] = mapped_column(Text, nullable=False)
    file_path: Mapped[str] = mapped_column(String(1024), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Added with the registry (columns are nullable so older databases are upgraded in place).
    parent_model_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    training_set_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    base_model_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    chain_depth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    encoding: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    file_size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PipelineSettings(ModelStorageBase):
    """What model storage knows of a pipeline: its name, storage policy and deployment (JSON)."""

    __tablename__ = "model_storage_pipelines"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    pipeline_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    model_storage_config: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    deployment_config: Mapped[str] = mapped_column(Text, nullable=False, default="{}")


class AliasRecord(ModelStorageBase):
    """A named pointer per pipeline (`latest`, `champion`, ...) to one of its models."""

    __tablename__ = "model_storage_aliases"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MetricRecord(ModelStorageBase):
    """One evaluation result of a model: a metric on a dataset, restricted to [interval_start, interval_end]
    (the whole dataset is the full int64 range)."""

    __tablename__ = "model_storage_metrics"
    __table_args__ = (
        UniqueConstraint(
            "model_id", "dataset_id", "metric", "interval_start", "interval_end", name="uq_model_storage_metrics"
        ),
    )

    metric_id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    dataset_id: Mapped[str] = mapped_column(String(255), nullable=False)
    metric: Mapped[str] = mapped_column(String(255), nullable=False)
    interval_start: Mapped[int] = mapped_column(BigInteger, nullable=False)
    interval_end: Mapped[int] = mapped_column(BigInteger, nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


def upgrade_schema(engine: Engine) -> None:
    """Add the columns later versions introduced to a model table created by an older version."""
    columns = {column["name"] for column in inspect(engine).get_columns(ModelRecord.__tablename__)}
    missing = [c for c in ModelRecord.__table__.columns if c.name not in columns]
    if not missing:
        return
    with engine.begin() as connection:
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            connection.execute(text(f"ALTER TABLE {ModelRecord.__tablename__} ADD COLUMN {column.name} {kind}"))
