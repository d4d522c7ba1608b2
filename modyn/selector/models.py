"""The selector's tables in the metadata database (all prefixed `selector_`).

- `selector_pipelines`: one row per registered pipeline, with the id of the trigger that is open
  (the one the next informed keys belong to).
- `selector_state_keys`: every key informed for a pipeline, once (primary key (pipeline_id, key):
  re-informing a key keeps its first record), with the id of the trigger that closes over it. The
  (pipeline_id, trigger_id) index is a BRIN index on PostgreSQL: keys arrive in trigger order, so a
  few bytes per block range find a trigger's rows, and bulk COPY stays about as fast as with the
  primary key alone (a B-tree would halve it).
- `selector_labels`: the distinct labels informed per pipeline (answers GetAvailableLabels without a scan).
- `selector_used_keys`: keys a strategy has marked as used in an earlier training set (Freshness
  sampling, RandomNoReplacement presampling).
- `selector_strategy_state`: a strategy's state after each trigger (e.g. the memory of GDumb or a
  reservoir), as numpy arrays in chunked blobs; trigger t's state is computed from trigger t-1's.
- `selector_triggers`: one row per closed trigger.
- `selector_training_set_shares`: the trigger training sets, one row per (trigger, partition,
  worker, chunk) with the keys as a little-endian int64 blob and the weights as a float32 blob
  (NULL when the strategy gives none). Reading or writing millions of keys then costs a few rows.
  Written once, in the transaction that closes the trigger, and never changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _now() -> datetime:
    return datetime.now(UTC)


class SelectorBase(DeclarativeBase):
    """Declarative base of the selector's tables (created on start-up)."""


class Pipeline(SelectorBase):
    __tablename__ = "selector_pipelines"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    num_workers: Mapped[int] = mapped_column(Integer, nullable=False)
    selection_strategy: Mapped[str] = mapped_column(Text, nullable=False)
    pipeline_config: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_now)
    next_trigger_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class StateKey(SelectorBase):
    """An informed key. No foreign key to the pipeline: checking one per row would slow bulk inserts,
    and the manager only writes keys for pipelines it has just looked up."""

    __tablename__ = "selector_state_keys"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    label: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    trigger_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        Index(
            "ix_selector_state_keys_pipeline_trigger",
            "pipeline_id",
            "trigger_id",
            postgresql_using="brin",
            postgresql_with={"pages_per_range": 32, "autosummarize": "on"},
        ),
    )


class PipelineLabel(SelectorBase):
    __tablename__ = "selector_labels"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    label: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class UsedKey(SelectorBase):
    __tablename__ = "selector_used_keys"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class StrategyState(SelectorBase):
    """One chunk of the serialized state a strategy kept after a trigger."""

    __tablename__ = "selector_strategy_state"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    trigger_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chunk_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Trigger(SelectorBase):
    __tablename__ = "selector_triggers"

    pipeline_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("selector_pipelines.pipeline_id", ondelete="CASCADE"), primary_key=True
    )
    trigger_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    num_keys: Mapped[int] = mapped_column(BigInteger, nullable=False)
    num_partitions: Mapped[int] = mapped_column(Integer, nullable=False)
    # Digest of the keys sent with the InformDataAndTrigger call that closed this trigger (NULL when it
    # sent none): lets a retried call be recognised and answered with this trigger instead of a new one.
    inform_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_now)


class TrainingSetShare(SelectorBase):
    """One chunk of one worker's share of one partition of a trigger training set."""

    __tablename__ = "selector_training_set_shares"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    trigger_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    partition_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    worker_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chunk_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    num_keys: Mapped[int] = mapped_column(Integer, nullable=False)
    keys: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    weights: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
