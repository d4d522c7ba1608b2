"""The metadata processor's logic: store and query training metadata, no gRPC involved."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modyn.common.database import Database
from modyn.metadata_processor.models import MetadataBase, SampleTrainingMetadata, TriggerTrainingMetadata

logger = logging.getLogger(__name__)

# Two identical requests racing on the (pipeline, trigger) unique constraint: the loser retries and replaces.
_STORE_ATTEMPTS = 3
INT32_MAX = 2**31 - 1


class InvalidMetadataError(ValueError):
    """The metadata handed in is malformed (the message says what)."""


@dataclass(frozen=True)
class TrainingMetadata:
    """Everything stored for one trigger of one pipeline."""

    pipeline_id: int
    trigger_id: int
    loss: float
    num_samples: int
    sample_keys: list[int] = field(default_factory=list)
    sample_losses: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TriggerSummary:
    """The per-trigger part of the metadata (without the per-sample rows)."""

    trigger_id: int
    loss: float
    num_samples: int
    num_sample_rows: int = 0


def _loss_out(value: float | None) -> float:
    # SQLite turns NaN into NULL on the way in.
    return math.nan if value is None else float(value)


def _loss_in(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


class MetadataProcessorManager:
    """Persists per-trigger and per-sample training metadata in the metadata database.

    Storing is idempotent: storing (pipeline, trigger) again replaces what was there, in one
    transaction, so a retried request never duplicates rows.
    """

    def __init__(self, database: Database) -> None:
        self._db = database
        self._db.create_tables(MetadataBase.metadata)

    def store_training_metadata(
        self,
        pipeline_id: int,
        trigger_id: int,
        loss: float,
        num_samples: int,
        sample_keys: Sequence[int] = (),
        sample_losses: Sequence[float] = (),
    ) -> int:
        """Store (or replace) the metadata of one trigger; returns the number of per-sample rows stored."""
        self._validate(pipeline_id, trigger_id, num_samples, sample_keys, sample_losses)
        for attempt in range(1, _STORE_ATTEMPTS + 1):
            try:
                with self._db.session() as session:
                    self._replace(session, pipeline_id, trigger_id, loss, num_samples, sample_keys, sample_losses)
                break
            except IntegrityError:
                if attempt == _STORE_ATTEMPTS:
                    raise
                logger.info("pipeline %d trigger %d: concurrent store, retrying", pipeline_id, trigger_id)
        return len(sample_keys)

    @staticmethod
    def _validate(
        pipeline_id: int,
        trigger_id: int,
        num_samples: int,
        sample_keys: Sequence[int],
        sample_losses: Sequence[float],
    ) -> None:
        if not 0 <= pipeline_id <= INT32_MAX:
            raise InvalidMetadataError(f"pipeline_id must be >= 0, got {pipeline_id}")
        if not 0 <= trigger_id <= INT32_MAX:
            raise InvalidMetadataError(f"trigger_id must be >= 0, got {trigger_id}")
        if num_samples < 0:
            raise InvalidMetadataError(f"num_samples must be >= 0, got {num_samples}")
        if len(sample_keys) != len(sample_losses):
            raise InvalidMetadataError(
                f"{len(sample_keys)} sample keys but {len(sample_losses)} sample losses (they must pair up)"
            )

    def _replace(
        self,
        session: Session,
        pipeline_id: int,
        trigger_id: int,
        loss: float,
        num_samples: int,
        sample_keys: Sequence[int],
        sample_losses: Sequence[float],
    ) -> None:
        # The first statement writes, so SQLite takes its write lock up front (no upgrade from a read snapshot).
        session.execute(
            delete(SampleTrainingMetadata).where(
                SampleTrainingMetadata.pipeline_id == pipeline_id, SampleTrainingMetadata.trigger_id == trigger_id
            )
        )
        session.execute(
            delete(TriggerTrainingMetadata).where(
                TriggerTrainingMetadata.pipeline_id == pipeline_id, TriggerTrainingMetadata.trigger_id == trigger_id
            )
        )
        session.execute(
            insert(TriggerTrainingMetadata).values(
                pipeline_id=pipeline_id, trigger_id=trigger_id, loss=_loss_in(loss), num_samples=num_samples
            )
        )
        if not sample_keys:
            return
        if self._db.is_postgres:
            self._copy_samples(session, pipeline_id, trigger_id, sample_keys, sample_losses)
        else:
            rows = [
                {"pipeline_id": pipeline_id, "trigger_id": trigger_id, "sample_key": int(k), "loss": _loss_in(v)}
                for k, v in zip(sample_keys, sample_losses, strict=True)
            ]
            session.execute(insert(SampleTrainingMetadata), rows)

    @staticmethod
    def _copy_samples(
        session: Session,
        pipeline_id: int,
        trigger_id: int,
        sample_keys: Sequence[int],
        sample_losses: Sequence[float],
    ) -> None:
        """Bulk-load the per-sample rows with COPY, inside the session's transaction (several times faster)."""
        buffer = io.StringIO()
        prefix = f"{pipeline_id},{trigger_id},"
        # repr keeps every bit of a float; PostgreSQL parses nan/inf/-inf as well.
        buffer.writelines(f"{prefix}{int(k)},{float(v)!r}\n" for k, v in zip(sample_keys, sample_losses, strict=True))
        buffer.seek(0)
        dbapi_connection = session.connection().connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.copy_expert(
                f"COPY {SampleTrainingMetadata.__tablename__} (pipeline_id, trigger_id, sample_key, loss) "
                "FROM STDIN WITH (FORMAT csv)",
                buffer,
            )
        finally:
            cursor.close()

    def get_training_metadata(self, pipeline_id: int, trigger_id: int) -> TrainingMetadata | None:
        """The metadata of one trigger with its samples in the order they were reported; None if unknown."""
        with self._db.session() as session:
            trigger = session.execute(
                select(TriggerTrainingMetadata.loss, TriggerTrainingMetadata.num_samples).where(
                    TriggerTrainingMetadata.pipeline_id == pipeline_id,
                    TriggerTrainingMetadata.trigger_id == trigger_id,
                )
            ).one_or_none()
            if trigger is None:
                return None
            samples = session.execute(
                select(SampleTrainingMetadata.sample_key, SampleTrainingMetadata.loss)
                .where(
                    SampleTrainingMetadata.pipeline_id == pipeline_id,
                    SampleTrainingMetadata.trigger_id == trigger_id,
                )
                .order_by(SampleTrainingMetadata.id)
            ).all()
        return TrainingMetadata(
            pipeline_id=pipeline_id,
            trigger_id=trigger_id,
            loss=_loss_out(trigger.loss),
            num_samples=int(trigger.num_samples),
            sample_keys=[int(row.sample_key) for row in samples],
            sample_losses=[_loss_out(row.loss) for row in samples],
        )

    def list_triggers(self, pipeline_id: int) -> list[TriggerSummary]:
        """The per-trigger metadata of every trigger of a pipeline, by trigger id, with its sample row count."""
        table, samples = TriggerTrainingMetadata, SampleTrainingMetadata
        counts = (
            select(samples.trigger_id, func.count().label("rows"))
            .where(samples.pipeline_id == pipeline_id)
            .group_by(samples.trigger_id)
            .subquery()
        )
        with self._db.session() as session:
            rows = session.execute(
                select(table.trigger_id, table.loss, table.num_samples, counts.c.rows)
                .outerjoin(counts, counts.c.trigger_id == table.trigger_id)
                .where(table.pipeline_id == pipeline_id)
                .order_by(table.trigger_id)
            ).all()
        return [
            TriggerSummary(int(r.trigger_id), _loss_out(r.loss), int(r.num_samples), int(r.rows or 0)) for r in rows
        ]

    def get_trigger_summary(self, pipeline_id: int, trigger_id: int) -> TriggerSummary | None:
        """The per-trigger metadata of one trigger (None if unknown)."""
        return next((t for t in self.list_triggers(pipeline_id) if t.trigger_id == trigger_id), None)

    def sample_metadata(
        self, pipeline_id: int, trigger_id: int, keys: Sequence[int] = (), chunk_size: int = 100_000
    ) -> Iterator[tuple[list[int], list[float]]]:
        """(sample keys, losses) of one trigger in chunks, in the order reported; only `keys` if given.

        Reads with keyset pagination on the row id, so a large trigger is never held in memory at once.
        """
        table = SampleTrainingMetadata
        wanted = sorted({int(k) for k in keys})
        last_id = 0
        while True:
            query = (
                select(table.id, table.sample_key, table.loss)
                .where(table.pipeline_id == pipeline_id, table.trigger_id == trigger_id, table.id > last_id)
                .order_by(table.id)
                .limit(chunk_size)
            )
            if wanted:
                query = query.where(table.sample_key.in_(wanted))
            with self._db.session() as session:
                rows = session.execute(query).all()
            if not rows:
                return
            last_id = int(rows[-1].id)
            yield [int(r.sample_key) for r in rows], [_loss_out(r.loss) for r in rows]
            if len(rows) < chunk_size:
                return
