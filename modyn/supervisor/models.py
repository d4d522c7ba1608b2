"""Supervisor tables in the metadata DB: each trigger's progress, recorded as it goes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class SupervisorBase(DeclarativeBase):
    pass


class SupervisorTrigger(SupervisorBase):
    __tablename__ = "supervisor_triggers"

    pipeline_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # selected → trained → stored → evaluated (the last stage reached)
    stage: Mapped[str] = mapped_column(String(16))
    num_samples: Mapped[int] = mapped_column(BigInteger, default=0)
    first_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    model_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    log_entry: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now(), onupdate=func.now())
