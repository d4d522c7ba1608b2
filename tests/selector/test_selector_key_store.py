"""The bulk key store on both back ends: fast paths, duplicate handling, labels, reads."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from modyn.common.database import Database
from modyn.selector import key_store
from modyn.selector.models import SelectorBase, StateKey


def test_first_occurrences() -> None:
    assert key_store.first_occurrences(np.array([1, 2, 5], dtype=np.int64)) is None
    assert key_store.first_occurrences(np.array([5, 1, 2], dtype=np.int64)) is None
    assert key_store.first_occurrences(np.array([5, 1, 5, 2, 1], dtype=np.int64)).tolist() == [0, 1, 3]


def test_insert_and_read_keys_with_duplicates(database: Database) -> None:
    database.create_tables(SelectorBase.metadata)
    n = 50_000
    keys = np.arange(n, dtype=np.int64) * 3
    with database.engine.begin() as conn:
        assert key_store.insert_keys(conn, 1, 0, keys, keys + 7, keys % 10) == n  # fast path
        assert key_store.insert_keys(conn, 2, 0, keys[:5], keys[:5], None) == 5  # another pipeline: independent
    with database.engine.begin() as conn:
        # Overlaps stored keys: the known ones keep their first record, only the new ones are added.
        overlap = np.array([3, 1, 1, 6, 2], dtype=np.int64)
        assert key_store.insert_keys(conn, 1, 1, overlap, np.array([0, 11, 12, 0, 22]), None) == 2
        assert key_store.count_keys(conn, 1, 0) == n
        assert key_store.count_keys(conn, 1, 1) == 2
    with database.engine.connect() as conn:
        read, timestamps = key_store.read_keys(conn, 1, 0, 0)
        order = np.argsort(read)
        assert np.array_equal(read[order], keys) and np.array_equal(timestamps[order], keys + 7)
        read, timestamps = key_store.read_keys(conn, 1, 1, 5)
        assert sorted(zip(read.tolist(), timestamps.tolist(), strict=True)) == [(1, 11), (2, 22)]
        assert len(key_store.read_keys(conn, 3, 0, 9)[0]) == 0
        rows = conn.execute(select(StateKey).where(StateKey.pipeline_id == 1, StateKey.key.in_([3, 1, 6]))).all()
        assert sorted((r.key, r.timestamp, r.label, r.trigger_id) for r in rows) == [
            (1, 11, None, 1),
            (3, 10, 3, 0),
            (6, 13, 6, 0),
        ]
