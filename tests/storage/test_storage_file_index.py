"""The `files` table as the samples' index (first_key, packed labels, has_deletions), on SQLite and
PostgreSQL: its answers equal those of the samples table itself (the ground truth, read with SQL), also
with deleted samples, files ingested out of time order and small pages; files recorded before the index
(first_key NULL) are still served; an old `files` table gains the columns at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from storage_test_helpers import BINARY_CONFIG, SINGLE_CONFIG, write_binary, write_single

from modyn.common.database import Database
from modyn.storage.storage_manager import StorageManager, UnknownKeysError

# (file name, mtime, number of records): ingested in name order, so keys do not follow time.
FILES = [("a", 300, 3), ("b", 100, 7), ("c", 100, 1), ("d", 200, 5), ("e", 100, 4), ("f", 250, 6)]


def samples_table(db: Database) -> list[tuple[int, int, int]]:
    """(key, timestamp, label) of every stored sample, by (timestamp, key): what queries must answer."""
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT key, timestamp, label FROM samples ORDER BY timestamp, key"))
        return [(int(k), int(t), int(lbl)) for k, t, lbl in rows]


def pages(chunks: Any, limit: int) -> list[tuple[int, int, int]]:
    chunks = list(chunks)
    sizes = [len(c) for c in chunks]
    # Every page but the last is full, also where deleted samples leave holes in files.
    assert all(size == limit for size in sizes[:-1]) and all(0 < size <= limit for size in sizes), sizes
    return [
        (k, t, lbl)
        for c in chunks
        for k, t, lbl in zip(c.keys.tolist(), c.timestamps.tolist(), c.labels.tolist(), strict=True)
    ]


def check_queries(manager: StorageManager, db: Database, limit: int) -> None:
    truth = samples_table(db)
    assert pages(manager.get_new_data_since("x", -1), limit) == truth
    for ts in (99, 100, 200, 250, 300):
        assert pages(manager.get_new_data_since("x", ts), limit) == [r for r in truth if r[1] > ts]
    for start, end in ((100, 100), (100, 250), (150, 299), (301, 400)):
        assert pages(manager.get_data_in_interval("x", start, end), limit) == [r for r in truth if start <= r[1] <= end]
    by_key = sorted(truth)
    for after in (0, by_key[0][0], by_key[4][0], by_key[-2][0], by_key[-1][0]):
        assert pages(manager.get_new_data_after_key("x", after), limit) == [r for r in by_key if r[0] > after]
    # Get: every stored key, in a shuffled order, with its label and bytes (record i of file f: label
    # 10 f + i, bytes [f, i] x 3).
    keys = np.random.default_rng(0).permutation([k for k, _, _ in truth])
    got = [
        (key, sample, label)
        for batch in manager.get_samples("x", keys)
        for key, sample, label in zip(batch.keys.tolist(), batch.samples(), batch.labels.tolist(), strict=True)
    ]
    assert [k for k, _, _ in got] == keys.tolist()
    labels = {k: lbl for k, _, lbl in truth}
    assert all(label == labels[key] and sample == bytes([label // 10, label % 10]) * 3 for key, sample, label in got)


def write_files(folder: Path) -> None:
    for f, (name, mtime, count) in enumerate(FILES):
        write_binary(folder / f"{name}.bin", [(10 * f + i, bytes([f, i]) * 3) for i in range(count)], mtime)


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_file_index_answers_like_the_samples_table(db_config: dict[str, Any], tmp_path: Path, limit: int) -> None:
    write_files(tmp_path / "x")
    db = Database(db_config)
    manager = StorageManager(db, keys_per_message=limit, insertion_batch_size=8)
    try:
        manager.register_dataset("x", str(tmp_path / "x"), "BinaryFileWrapper", BINARY_CONFIG)
        assert manager.update_dataset("x").num_new_samples == sum(n for _, _, n in FILES)
        check_queries(manager, db, limit)
        # Deletions: inside a file, a whole file (c), the first sample of a file, the last key of all.
        by_key = sorted(samples_table(db))
        b, c, d = (by_key[i][0] for i in (3, 10, 11))
        doomed = [b, b + 1, c, d, by_key[-1][0]]
        assert manager.delete_data("x", doomed) == 5
        assert len(samples_table(db)) == len(by_key) - 5
        check_queries(manager, db, limit)
        for key in doomed:
            with pytest.raises(UnknownKeysError, match=str(key)):
                list(manager.get_samples("x", [by_key[0][0], key]))
        # Files recorded before the index existed are indexed at start-up from their samples, with the
        # same values (also for a file with deletions, and for one whose samples are all deleted) ...
        with db.engine.connect() as conn:
            before = conn.execute(
                text("SELECT id, first_key, labels, has_deletions, path FROM files ORDER BY path")
            ).all()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE files SET first_key = NULL, labels = NULL WHERE path IN ('b.bin', 'd.bin')"))
            conn.execute(text("UPDATE files SET labels = NULL, has_deletions = FALSE WHERE path = 'c.bin'"))
        restarted = StorageManager(db, keys_per_message=limit)
        with db.engine.connect() as conn:
            after = conn.execute(
                text("SELECT id, first_key, labels, has_deletions, path FROM files ORDER BY path")
            ).all()
        with db.engine.connect() as conn:
            present = {(f, j) for f, j in conn.execute(text("SELECT file_id, index_in_file FROM samples"))}
        for name, old, new in zip(sorted(n for n, _, _ in FILES), before, after, strict=True):
            if name == "c":  # all deleted: a key range no sample has
                assert new[1] < 0 and new[3]
                continue
            assert (new[0], new[1], new[3]) == (old[0], old[1], old[3])
            old_labels, new_labels = (np.frombuffer(bytes(row[2]), "<i8").tolist() for row in (old, new))
            if name in ("b", "d"):  # the labels of deleted samples are not known any more (0)
                old_labels = [lbl if (old[0], j) in present else 0 for j, lbl in enumerate(old_labels)]
            assert new_labels == old_labels
        check_queries(restarted, db, limit)
        # ... unless their keys do not follow their sample order: then they are served from the samples
        # table, with the same answers (here two samples of d.bin trade places).
        d_first = int(after[3][1])
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE files SET first_key = NULL, labels = NULL WHERE path IN ('b.bin', 'd.bin')"))
            for key, index in ((d_first + 1, 2), (d_first + 2, 1)):
                conn.execute(
                    text(f"UPDATE samples SET index_in_file = {index}, label = {30 + index} WHERE key = {key}")
                )
        legacy = StorageManager(db, keys_per_message=limit)
        assert not legacy.samples.fully_indexed(legacy.get_dataset("x").id)
        check_queries(legacy, db, limit)
        with pytest.raises(UnknownKeysError):
            list(legacy.get_samples("x", [d]))
        # A new file after that goes into the index and is served beside the old ones.
        write_binary(tmp_path / "x" / "g.bin", [(99, bytes([9, 9]) * 3)], 150)
        assert legacy.update_dataset("x").num_new_samples == 1
        check_queries(legacy, db, limit)
    finally:
        db.dispose()


def test_keys_of_a_file_are_consecutive_and_indexed(db_config: dict[str, Any], tmp_path: Path) -> None:
    for i in range(5):
        write_single(tmp_path / "s", f"f{i}", bytes([i]), i, 100 + i)
    write_files(tmp_path / "x")
    db = Database(db_config)
    manager = StorageManager(db, insertion_batch_size=4)
    try:
        manager.register_dataset("s", str(tmp_path / "s"), "SingleSampleFileWrapper", SINGLE_CONFIG)
        manager.register_dataset("x", str(tmp_path / "x"), "BinaryFileWrapper", BINARY_CONFIG)
        manager.update_dataset("s")
        manager.update_dataset("x")
        with db.engine.connect() as conn:
            files = conn.execute(
                text("SELECT id, first_key, number_of_samples, labels, has_deletions FROM files ORDER BY id")
            ).all()
            rows = conn.execute(text("SELECT file_id, index_in_file, key, label FROM samples")).all()
        assert len(files) == 5 + len(FILES)
        by_file = {
            file_id: (first_key, count, np.frombuffer(bytes(labels), "<i8").tolist(), flagged)
            for file_id, first_key, count, labels, flagged in files
        }
        for file_id, index, key, label in rows:
            first_key, count, labels, flagged = by_file[file_id]
            assert key == first_key + index and labels[index] == label and not flagged
        ranges = sorted((first_key, first_key + count) for first_key, count, _, _ in by_file.values())
        assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # disjoint
        # The single-sample dataset's labels come from the files rows (not kept in its files).
        keys = [k for page in manager.get_new_data_since("s", 0) for k in page.keys.tolist()]
        got = [
            (s, lbl)
            for b in manager.get_samples("s", keys[::-1])
            for s, lbl in zip(b.samples(), b.labels.tolist(), strict=True)
        ]
        assert got == [(bytes([i]), i) for i in reversed(range(5))]
    finally:
        db.dispose()


def test_old_files_table_gains_the_index_columns(sqlite_db_config: dict[str, Any], tmp_path: Path) -> None:
    write_files(tmp_path / "x")
    db = Database(sqlite_db_config)
    with db.engine.begin() as conn:  # the schema before the file index, with one ingested file (a.bin)
        conn.execute(
            text(
                "CREATE TABLE datasets (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255) UNIQUE NOT NULL,"
                " description TEXT NOT NULL, version VARCHAR(64) NOT NULL, base_path TEXT NOT NULL,"
                " filesystem_wrapper_type VARCHAR(64) NOT NULL, file_wrapper_type VARCHAR(64) NOT NULL,"
                " file_wrapper_config TEXT NOT NULL, file_watcher_interval FLOAT NOT NULL)"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE files (id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id)"
                " ON DELETE CASCADE, path TEXT NOT NULL, mtime BIGINT NOT NULL, number_of_samples INTEGER NOT NULL,"
                " CONSTRAINT uq_files_dataset_path UNIQUE (dataset_id, path))"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE samples (key INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id INTEGER NOT NULL,"
                " file_id BIGINT NOT NULL, index_in_file INTEGER NOT NULL, timestamp BIGINT NOT NULL,"
                " label BIGINT NOT NULL)"
            )
        )
        conn.execute(text("CREATE INDEX ix_samples_dataset_timestamp_key ON samples (dataset_id, timestamp, key)"))
        conn.execute(
            text(
                "INSERT INTO datasets (name, description, version, base_path, filesystem_wrapper_type,"
                " file_wrapper_type, file_wrapper_config, file_watcher_interval)"
                " VALUES ('x', '', '1', :p, 'LocalFilesystemWrapper', 'BinaryFileWrapper', :c, 5.0)"
            ),
            {
                "p": str(tmp_path / "x"),
                "c": '{"byteorder": "little", "file_extension": ".bin", "label_size": 2, "record_size": 8}',
            },
        )
        conn.execute(text("INSERT INTO files (dataset_id, path, mtime, number_of_samples) VALUES (1, 'a.bin', 300, 3)"))
        # Keys not consecutive in file order: served all the same.
        for key, index in ((5, 2), (6, 0), (9, 1)):
            conn.execute(
                text(
                    f"INSERT INTO samples (key, dataset_id, file_id, index_in_file, timestamp, label) "
                    f"VALUES ({key}, 1, 1, {index}, 300, {index})"
                )
            )
    try:
        manager = StorageManager(db, keys_per_message=4)
        with db.engine.connect() as conn:
            columns = {row[1] for row in conn.execute(text("PRAGMA table_info(files)"))}
        assert {"first_key", "labels", "has_deletions"} <= columns
        assert not manager.samples.fully_indexed(1)  # a.bin's keys do not follow its sample order
        assert [k for p in manager.get_new_data_since("x", 0) for k in p.keys.tolist()] == [5, 6, 9]
        got = [
            (k, s, lbl)
            for b in manager.get_samples("x", [9, 5])
            for k, s, lbl in zip(b.keys.tolist(), b.samples(), b.labels.tolist(), strict=True)
        ]
        assert got == [(9, bytes([0, 1]) * 3, 1), (5, bytes([0, 2]) * 3, 2)]
        result = manager.update_dataset("x")  # the other files go into the index, after the old keys
        assert result.num_new_samples == sum(n for _, _, n in FILES[1:])
        check_queries(manager, db, 4)
        assert min(k for k, _, _ in samples_table(db) if k not in (5, 6, 9)) == 10
        # A second start finds the columns in place.
        check_queries(StorageManager(db, keys_per_message=4), db, 4)
    finally:
        db.dispose()


def test_many_files_with_deletions_in_one_page(db_config: dict[str, Any], tmp_path: Path) -> None:
    for i in range(150):  # two records per file, labels i and i + 1000
        write_binary(tmp_path / "x" / f"f{i:03d}.bin", [(i, bytes([i, 0]) * 3), (i + 1000, b"......")], 100 + i % 3)
    db = Database(db_config)
    manager = StorageManager(db, keys_per_message=1000)
    try:
        manager.register_dataset("x", str(tmp_path / "x"), "BinaryFileWrapper", BINARY_CONFIG)
        manager.update_dataset("x")
        keys = sorted(k for page in manager.get_new_data_after_key("x", 0) for k in page.keys.tolist())
        # The first sample of every other file: 75 files with deletions, none adjacent, each with one left.
        assert manager.delete_data("x", keys[0::4]) == 75
        truth = samples_table(db)
        assert len(truth) == 225
        assert pages(manager.get_new_data_since("x", 0), 1000) == truth
        assert pages(manager.get_new_data_after_key("x", 0), 1000) == sorted(truth)
        got = [lbl for b in manager.get_samples("x", keys[1::4]) for lbl in b.labels.tolist()]
        assert got == [i + 1000 for i in range(0, 150, 2)]
    finally:
        db.dispose()
