"""Tables of the metadata processor in the shared metadata database (prefix `metadata_`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, Index, Integer, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGSERIAL-like column.
_ID = BigInteger().with_variant(Integer, "sqlite")


class MetadataBase(DeclarativeBase):
    """The metadata processor's own declarative base: only its tables, created on start-up."""


class TriggerTrainingMetadata(MetadataBase):
    """What the trainer reported for one trigger's training: one row per (pipeline, trigger)."""

    __tablename__ = "metadata_trigger_training"
    __table_args__ = (UniqueConstraint("pipeline_id", "trigger_id", name="uq_metadata_trigger_training_pt"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[int] = mapped_column(Integer, nullable=False)
    trigger_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # Nullable because SQLite stores NaN (a diverged training) as NULL; read back as NaN.
    loss: Mapped[float | None] = mapped_column(Double, nullable=True)
    num_samples: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SampleTrainingMetadata(MetadataBase):
    """Per-sample metadata of one trigger's training (e.g. the sample's loss)."""

    __tablename__ = "metadata_sample_training"
    __table_args__ = (Index("ix_metadata_sample_training_pt", "pipeline_id", "trigger_id"),)

    # The id keeps the order in which the samples were reported.
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[int] = mapped_column(Integer, nullable=False)
    trigger_id: Mapped[int] = mapped_column(Integer, nullable=False)
    sample_key: Mapped[int] = mapped_column(BigInteger, nullable=False)
    loss: Mapped[float | None] = mapped_column(Double, nullable=True)
