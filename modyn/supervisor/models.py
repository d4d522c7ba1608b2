"""Supervisor tables in the metadata DB: each pipeline's run record and each trigger's progress, recorded
as it goes (what `modyn-supervisor --resume` continues from)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class SupervisorBase(DeclarativeBase):
    pass


class SupervisorPipeline(SupervisorBase):
    """One row per pipeline the supervisor registered: how it was started (to check a resume against)
    and where it stands."""

    __tablename__ = "supervisor_pipelines"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # sha256 of the pipeline config as canonical JSON (sorted keys): a resume must bring the same config
    config_fingerprint: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))  # experiment | production
    start_replay_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stop_replay_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # production: storage's last key when the pipeline started (the end of its initial pass) ...
    initial_cursor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # ... and the highest key of the polled chunks fed so far
    key_cursor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    stop_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now(), onupdate=func.now())


class SupervisorTrigger(SupervisorBase):
    __tablename__ = "supervisor_triggers"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # selected → stored → evaluated (the last stage reached), or abandoned
    stage: Mapped[str] = mapped_column(String(16))
    num_samples: Mapped[int] = mapped_column(BigInteger, default=0)
    first_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    model_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    log_entry: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now(), onupdate=func.now())
