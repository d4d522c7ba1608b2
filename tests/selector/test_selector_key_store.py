"""The bulk key store on both back ends: fast paths, duplicate handling, labels, reads."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
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


def test_stream_rows_orders_chunks_and_stops_early(database: Database) -> None:
    database.create_tables(SelectorBase.metadata)
    rng = np.random.default_rng(0)
    keys = rng.permutation(np.arange(1000, dtype=np.int64))
    timestamps = keys % 37  # many ties: order falls back to the key
    with database.engine.begin() as conn:
        key_store.insert_keys(conn, 1, 0, keys[:600], timestamps[:600], keys[:600] % 3)
        key_store.insert_keys(conn, 1, 1, keys[600:], timestamps[600:], None)
        key_store.mark_used(conn, 1, np.array([5, 6], dtype=np.int64))
    order = np.lexsort((keys, timestamps))
    expected = keys[order]

    def stream(first: int, last: int, columns: tuple[str, ...], chunk: int, offset: int = 0) -> list[dict]:
        return list(key_store.stream_rows(database.engine, 1, first, last, columns, chunk, offset))

    for chunk in (1000, 5000, 64):  # fits one chunk (sorted here) or not (sorted by the database)
        parts = stream(0, 1, ("key", "label", "trigger_id", "used"), chunk)
        assert [len(p["key"]) for p in parts] == ([1000] if chunk >= 1000 else [64] * 15 + [40])
        got = np.concatenate([p["key"] for p in parts])
        assert got.tolist() == expected.tolist()
        labels = np.concatenate([p["label"] for p in parts])
        assert labels.tolist() == [k % 3 if k in set(keys[:600].tolist()) else key_store.NO_LABEL for k in got.tolist()]
        used = np.concatenate([p["used"] for p in parts])
        assert sorted(got[used == 1].tolist()) == [5, 6]
    tail = stream(0, 1, ("key",), 100, offset=950)
    assert np.concatenate([p["key"] for p in tail]).tolist() == expected[950:].tolist()
    only1 = np.concatenate([p["key"] for p in stream(1, 1, ("key",), 50)])
    assert sorted(only1.tolist()) == sorted(keys[600:].tolist())
    assert stream(2, 5, ("key",), 10) == []
    # Stopping after the first chunk releases the reader; the database stays usable.
    iterator = key_store.stream_rows(database.engine, 1, 0, 1, ("key",), 10)
    assert len(next(iterator)["key"]) == 10
    iterator.close()
    with database.engine.connect() as conn:
        assert key_store.group_counts(conn, 1, 0, 1, "used") == {0: 998, 1: 2}
        by_label = dict(Counter((keys[:600] % 3).tolist()))
        assert key_store.group_counts(conn, 1, 0, 1, "label") == {**by_label, key_store.NO_LABEL: 400}
        assert key_store.group_counts(conn, 1, 0, 1, None) == {0: 1000}
        assert key_store.available_labels(conn, 1) == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown column"):
        stream(0, 1, ("nope",), 10)
