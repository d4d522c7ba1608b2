"""MetadataProcessorManager on SQLite and PostgreSQL: store, query, replace, validate."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from modyn.common.database import Database
from modyn.metadata_processor.metadata_processor_manager import (
    InvalidMetadataError,
    MetadataProcessorManager,
    TriggerSummary,
)
from modyn.metadata_processor.models import SampleTrainingMetadata, TriggerTrainingMetadata


@pytest.fixture
def database(db_config: dict[str, Any]) -> Iterator[Database]:
    db = Database(db_config)
    yield db
    db.dispose()


@pytest.fixture
def manager(database: Database) -> MetadataProcessorManager:
    return MetadataProcessorManager(database)


def _row_counts(database: Database) -> tuple[int, int]:
    with database.session() as session:
        triggers = session.scalar(select(func.count()).select_from(TriggerTrainingMetadata))
        samples = session.scalar(select(func.count()).select_from(SampleTrainingMetadata))
    return int(triggers or 0), int(samples or 0)


def test_store_and_get_round_trip(manager: MetadataProcessorManager) -> None:
    keys = [42, 7, 2**40, 0, 7]  # order kept, duplicates allowed (a sample may be seen twice)
    losses = [0.5, 1.25, 3.0, 0.0, 1.5]
    assert manager.store_training_metadata(1, 0, 0.75, 5, keys, losses) == 5

    got = manager.get_training_metadata(1, 0)
    assert got is not None
    assert (got.pipeline_id, got.trigger_id, got.loss, got.num_samples) == (1, 0, 0.75, 5)
    assert got.sample_keys == keys
    assert got.sample_losses == losses


def test_unknown_trigger_is_none(manager: MetadataProcessorManager) -> None:
    manager.store_training_metadata(1, 0, 1.0, 3)
    assert manager.get_training_metadata(1, 1) is None
    assert manager.get_training_metadata(2, 0) is None


def test_store_again_replaces_never_duplicates(manager: MetadataProcessorManager, database: Database) -> None:
    manager.store_training_metadata(3, 1, 2.0, 4, [1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    manager.store_training_metadata(3, 1, 2.0, 4, [1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    assert _row_counts(database) == (1, 4)

    assert manager.store_training_metadata(3, 1, 0.5, 2, [9, 8], [0.9, 0.8]) == 2
    got = manager.get_training_metadata(3, 1)
    assert got is not None
    assert (got.loss, got.num_samples, got.sample_keys, got.sample_losses) == (0.5, 2, [9, 8], [0.9, 0.8])
    assert _row_counts(database) == (1, 2)


def test_triggers_and_pipelines_are_separate(manager: MetadataProcessorManager) -> None:
    manager.store_training_metadata(1, 0, 1.0, 2, [1, 2], [0.1, 0.2])
    manager.store_training_metadata(1, 1, 0.8, 1, [3], [0.3])
    manager.store_training_metadata(2, 0, 5.0, 1, [1], [9.0])
    manager.store_training_metadata(1, 0, 0.9, 1, [5], [0.5])  # replacing one leaves the others alone

    assert manager.get_training_metadata(1, 1).sample_keys == [3]  # type: ignore[union-attr]
    assert manager.get_training_metadata(2, 0).sample_losses == [9.0]  # type: ignore[union-attr]
    assert manager.list_triggers(1) == [TriggerSummary(0, 0.9, 1, 1), TriggerSummary(1, 0.8, 1, 1)]
    assert manager.list_triggers(7) == []


def test_non_finite_losses_survive(manager: MetadataProcessorManager) -> None:
    # A diverged training reports NaN or inf; SQLite would store NaN as NULL.
    manager.store_training_metadata(1, 0, math.nan, 3, [1, 2, 3], [math.nan, math.inf, -math.inf])
    got = manager.get_training_metadata(1, 0)
    assert got is not None
    assert math.isnan(got.loss)
    assert math.isnan(got.sample_losses[0])
    assert got.sample_losses[1:] == [math.inf, -math.inf]


def test_bulk_samples(manager: MetadataProcessorManager, database: Database) -> None:
    n = 50_000
    keys = list(range(10**12, 10**12 + n))
    losses = [i / 7 for i in range(n)]
    assert manager.store_training_metadata(4, 2, 1.0, n, keys, losses) == n
    got = manager.get_training_metadata(4, 2)
    assert got is not None
    assert got.sample_keys == keys
    assert got.sample_losses == losses  # bit-exact floats, also through COPY
    assert _row_counts(database) == (1, n)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 0, 1.0, 1, [], []), "pipeline_id must be >= 0"),
        ((0, -2, 1.0, 1, [], []), "trigger_id must be >= 0"),
        ((0, 0, 1.0, -1, [], []), "num_samples must be >= 0"),
        ((0, 0, 1.0, 2, [1, 2], [0.5]), "2 sample keys but 1 sample losses"),
    ],
)
def test_invalid_input_is_rejected(
    manager: MetadataProcessorManager, database: Database, args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(InvalidMetadataError, match=message):
        manager.store_training_metadata(*args)
    assert _row_counts(database) == (0, 0)


def test_concurrent_identical_stores_leave_one_copy(manager: MetadataProcessorManager, database: Database) -> None:
    keys = list(range(2000))
    losses = [float(k) for k in keys]
    errors: list[BaseException] = []

    def store() -> None:
        try:
            manager.store_training_metadata(5, 0, 1.0, len(keys), keys, losses)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert _row_counts(database) == (1, len(keys))
    assert manager.get_training_metadata(5, 0).sample_keys == keys  # type: ignore[union-attr]


def test_tables_use_the_metadata_prefix(database: Database) -> None:
    MetadataProcessorManager(database)
    MetadataProcessorManager(database)  # creating the tables twice is harmless
    assert TriggerTrainingMetadata.__tablename__.startswith("metadata_")
    assert SampleTrainingMetadata.__tablename__.startswith("metadata_")


def test_sample_metadata_in_chunks_and_by_key(manager: MetadataProcessorManager) -> None:
    keys = list(range(100, 0, -1))
    manager.store_training_metadata(4, 2, 0.5, 100, keys, [k / 10 for k in keys])
    manager.store_training_metadata(4, 3, 0.4, 10)  # no per-sample rows
    chunks = list(manager.sample_metadata(4, 2, chunk_size=30))
    assert [len(c[0]) for c in chunks] == [30, 30, 30, 10]
    assert [k for c in chunks for k in c[0]] == keys  # the order they were reported in
    assert list(manager.sample_metadata(4, 2, keys=[7, 3, 500])) == [([7, 3], [0.7, 0.3])]
    assert list(manager.sample_metadata(4, 9)) == []
    assert manager.list_triggers(4) == [TriggerSummary(2, 0.5, 100, 100), TriggerSummary(3, 0.4, 10, 0)]
    assert manager.get_trigger_summary(4, 3) == TriggerSummary(3, 0.4, 10, 0)
    assert manager.get_trigger_summary(4, 4) is None
