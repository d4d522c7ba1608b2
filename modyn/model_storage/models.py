"""Tables of model storage in the shared metadata database (prefix `model_storage_`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL-like column.
_ID = BigInteger().with_variant(Integer, "sqlite")


class ModelStorageBase(DeclarativeBase):
    """Model storage's own declarative base: only its tables, created on start-up."""


class ModelRecord(ModelStorageBase):
    """One stored model: where its file lies (relative to models_directory) and what it is."""

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
