"""The storage service's tables (in its own database, config["storage"]["database"])."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY (which is 64-bit there); PostgreSQL gets BIGSERIAL.
BigIntKey = BigInteger().with_variant(Integer, "sqlite")


class StorageBase(DeclarativeBase):
    """Declarative base of the storage service's tables only."""


class Dataset(StorageBase):
    """A registered dataset: where its files are and how to read them."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    version: Mapped[str] = mapped_column(String(64), nullable=False, default="1")
    base_path: Mapped[str] = mapped_column(Text, nullable=False)
    filesystem_wrapper_type: Mapped[str] = mapped_column(String(64), nullable=False)
    file_wrapper_type: Mapped[str] = mapped_column(String(64), nullable=False)
    # The file wrapper's config as a JSON object (text, so both back ends store it the same way).
    file_wrapper_config: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    file_watcher_interval: Mapped[float] = mapped_column(Float, nullable=False, default=5.0)


class File(StorageBase):
    """An ingested file. Its presence means all of its samples are in `samples`.

    It is also the dataset's compact key index: sample i of the file has key `first_key + i`, timestamp
    `mtime` and label `labels[i]` (packed little-endian int64), unless `has_deletions` says some of its
    samples were deleted (then `samples` says which remain). Files recorded by older versions have
    first_key and labels NULL; their samples are found through `samples` alone.
    """

    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("dataset_id", "path", name="uq_files_dataset_path"),
        Index("ix_files_dataset_mtime_first_key", "dataset_id", "mtime", "first_key"),
        Index("ix_files_dataset_first_key", "dataset_id", "first_key"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    # Relative to the dataset's base_path, with "/" separators.
    path: Mapped[str] = mapped_column(Text, nullable=False)
    mtime: Mapped[int] = mapped_column(BigInteger, nullable=False)
    number_of_samples: Mapped[int] = mapped_column(Integer, nullable=False)
    first_key: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    labels: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    has_deletions: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class Sample(StorageBase):
    """One sample. Its `key` is the storage-wide unique sample key, increasing in insertion order.

    No foreign keys here on purpose: a per-row FK check would slow bulk ingestion (COPY) several
    times; the manager keeps samples consistent with files and datasets itself. No time index either:
    queries by time go through `files` (one row per file, all of whose samples share its mtime).
    """

    __tablename__ = "samples"
    # AUTOINCREMENT on SQLite: never hand out a key again after the highest one was deleted.
    __table_args__ = {"sqlite_autoincrement": True}

    key: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(Integer, nullable=False)
    file_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    index_in_file: Mapped[int] = mapped_column("index_in_file", Integer, nullable=False)
    timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    label: Mapped[int] = mapped_column(BigInteger, nullable=False)
