"""PostgreSQL specifics: per-dataset partitions, hash sub-partitions, UNLOGGED datasets and their crash
recovery, and the move of an older unpartitioned samples table into the partitioned one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from storage_test_helpers import BINARY_CONFIG, write_binary

from modyn.common.database import Database
from modyn.storage.sample_table import UNLOGGED_MARKERS
from modyn.storage.storage_manager import StorageManager, UnknownKeysError


def relations(db: Database, prefix: str) -> dict[str, tuple[str, str]]:
    """name -> (relkind, relpersistence) of the tables whose name starts with prefix."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relkind, relpersistence FROM pg_class WHERE relname LIKE :p AND relkind IN ('r', 'p')"
            ),
            {"p": f"{prefix}%"},
        )
        return {name: (kind, persistence) for name, kind, persistence in rows}


def indexes(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table})
        return {name for (name,) in rows}


def keys_of(manager: StorageManager, name: str) -> list[int]:
    return [k for page in manager.get_new_data_since(name, -1) for k in page.keys.tolist()]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for f in range(4):
        write_binary(tmp_path / "d" / f"f{f}.bin", [(f * 10 + i, bytes([f, i]) * 3) for i in range(10)], 100 + f)
    return tmp_path / "d"


@pytest.mark.parametrize("hash_partitions", [1, 3])
def test_partition_per_dataset(postgres_db_config: dict[str, Any], folder: Path, hash_partitions: int) -> None:
    db = Database(postgres_db_config)
    manager = StorageManager(
        db, keys_per_message=7, max_message_bytes=20, insertion_batch_size=15, hash_partitions=hash_partitions
    )
    try:
        manager.register_dataset("a", str(folder), "BinaryFileWrapper", BINARY_CONFIG)
        manager.register_dataset("b", str(folder), "BinaryFileWrapper", BINARY_CONFIG)
        ids = {n: manager.get_dataset(n).id for n in ("a", "b")}
        parts = relations(db, "samples_d")
        expected_leaves = (
            [f"samples_d{i}" for i in ids.values()]
            if hash_partitions == 1
            else [f"samples_d{i}_h{r}" for i in ids.values() for r in range(hash_partitions)]
        )
        assert sorted(n for n, (kind, _) in parts.items() if kind == "r") == sorted(expected_leaves)
        # The primary key is a partition's only index: time queries go through `files`.
        assert indexes(db, f"samples_d{ids['a']}") == {f"samples_d{ids['a']}_pkey"}
        assert manager.update_dataset("a").num_new_samples == 40
        assert manager.update_dataset("b").num_new_samples == 40
        a_keys, b_keys = keys_of(manager, "a"), keys_of(manager, "b")
        assert len(set(a_keys)) == 40 and not set(a_keys) & set(b_keys)
        assert manager.get_last_key("a") == max(a_keys)
        batches = list(manager.get_samples("a", list(reversed(a_keys))))
        assert [s for b in batches for s in b.samples()] == [
            bytes([f, i]) * 3 for f in reversed(range(4)) for i in reversed(range(10))
        ]
        assert manager.delete_data("a", a_keys[:5] + b_keys[:5]) == 5  # b's keys are not a's
        assert (manager.get_dataset_size("a"), manager.get_dataset_size("b")) == (35, 40)
        assert manager.delete_dataset("a")
        assert not any(n.startswith(f"samples_d{ids['a']}") for n in relations(db, "samples_d"))
        assert manager.get_dataset_size("b") == 40
    finally:
        db.dispose()


def test_unlogged_dataset_recovers_from_a_postgres_crash(postgres_db_config: dict[str, Any], folder: Path) -> None:
    db = Database(postgres_db_config)
    manager = StorageManager(db)
    try:
        manager.register_dataset("u", str(folder), "BinaryFileWrapper", BINARY_CONFIG, unlogged=True)
        manager.register_dataset("l", str(folder), "BinaryFileWrapper", BINARY_CONFIG)
        uid, lid = manager.get_dataset("u").id, manager.get_dataset("l").id
        assert relations(db, f"samples_d{uid}")[f"samples_d{uid}"][1] == "u"
        assert relations(db, f"samples_d{lid}")[f"samples_d{lid}"][1] == "p"
        assert manager.get_dataset("u").unlogged and not manager.get_dataset("l").unlogged
        assert manager.update_dataset("u").num_new_samples == 40
        old_keys = keys_of(manager, "u")
        assert manager.update_dataset("u").num_new_samples == 0
        # What PostgreSQL's crash recovery does to unlogged tables: it empties them (the marker too).
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE samples_d{uid}, {UNLOGGED_MARKERS}"))
        # The running service notices at the next query: the lost keys are unknown at once, not served
        # from the files' index (which survives in the logged `files` table) until the next scan.
        with pytest.raises(UnknownKeysError):
            list(manager.get_samples("u", old_keys[:1]))
        assert keys_of(manager, "u") == []
        restarted = StorageManager(db)
        result = restarted.update_dataset("u")  # the next scan notices and ingests the files anew
        assert (result.num_new_files, result.num_new_samples) == (4, 40)
        new_keys = keys_of(restarted, "u")
        assert len(new_keys) == 40 and min(new_keys) > max(old_keys)
        assert restarted.update_dataset("u").num_new_samples == 0  # and only once
        assert restarted.update_dataset("l").num_new_samples == 40  # logged datasets are untouched
    finally:
        db.dispose()


def test_unpartitioned_samples_table_is_migrated(postgres_db_config: dict[str, Any], folder: Path) -> None:
    db = Database(postgres_db_config)
    with db.engine.begin() as conn:  # the walking skeleton's schema, with one ingested file
        conn.execute(
            text(
                "CREATE TABLE datasets (id SERIAL PRIMARY KEY, name VARCHAR(255) UNIQUE NOT NULL,"
                " description TEXT NOT NULL, version VARCHAR(64) NOT NULL, base_path TEXT NOT NULL,"
                " filesystem_wrapper_type VARCHAR(64) NOT NULL,"
                " file_wrapper_type VARCHAR(64) NOT NULL, file_wrapper_config TEXT NOT NULL,"
                " file_watcher_interval FLOAT NOT NULL)"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE files (id BIGSERIAL PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id)"
                " ON DELETE CASCADE, path TEXT NOT NULL, mtime BIGINT NOT NULL, number_of_samples INTEGER NOT NULL,"
                " CONSTRAINT uq_files_dataset_path UNIQUE (dataset_id, path))"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE samples (key BIGSERIAL PRIMARY KEY, dataset_id INTEGER NOT NULL, file_id BIGINT NOT NULL,"
                " index_in_file INTEGER NOT NULL, timestamp BIGINT NOT NULL, label BIGINT NOT NULL)"
            )
        )
        conn.execute(text("CREATE INDEX ix_samples_dataset_timestamp_key ON samples (dataset_id, timestamp, key)"))
        conn.execute(
            text(
                "INSERT INTO datasets (name, description, version, base_path, filesystem_wrapper_type,"
                " file_wrapper_type, file_wrapper_config, file_watcher_interval)"
                " VALUES ('old', '', '1', :p, 'LocalFilesystemWrapper', 'BinaryFileWrapper', :c, 5.0)"
            ),
            {
                "p": str(folder),
                "c": '{"byteorder": "little", "file_extension": ".bin", "label_size": 2, "record_size": 8}',
            },
        )
        conn.execute(
            text("INSERT INTO files (dataset_id, path, mtime, number_of_samples) VALUES (1, 'f0.bin', 100, 10)")
        )
        conn.execute(
            text(
                "INSERT INTO samples (dataset_id, file_id, index_in_file, timestamp, label)"
                " SELECT 1, 1, i, 100, i FROM generate_series(0, 9) AS i"
            )
        )
    try:
        manager = StorageManager(db)
        assert relations(db, "samples")["samples"][0] == "p"
        assert "samples_unpartitioned" not in relations(db, "samples")
        assert keys_of(manager, "old") == list(range(1, 11))
        # Its file went into the file index at start-up (keys in sample order), so no time index is needed.
        assert indexes(db, "samples_d1") == {"samples_d1_pkey"}
        with db.engine.connect() as conn:
            first_key, labels, flagged = conn.execute(text("SELECT first_key, labels, has_deletions FROM files")).one()
        assert (first_key, np.frombuffer(bytes(labels), "<i8").tolist(), flagged) == (1, list(range(10)), False)
        got = [(k, lbl) for b in manager.get_samples("old", [10, 1]) for k, lbl in zip(b.keys, b.labels, strict=True)]
        assert got == [(10, 9), (1, 0)]
        result = manager.update_dataset("old")  # the three other files
        assert (result.num_new_files, result.num_new_samples) == (3, 30)
        keys = keys_of(manager, "old")
        assert len(set(keys)) == 40 and min(keys[10:]) > 10  # new keys after the moved ones
    finally:
        db.dispose()


def test_range_index_of_another_process_notices_removed_files(postgres_db_config: dict[str, Any], folder: Path) -> None:
    """Process A has a dataset's range index loaded; process B recovers the UNLOGGED dataset after a
    PostgreSQL crash (forgets its files, ingests them anew under new keys). A's Get then finds the old
    keys unknown (their files are gone) and serves the new ones."""
    db = Database(postgres_db_config)
    try:
        a = StorageManager(db)
        a.register_dataset("u", str(folder), "BinaryFileWrapper", BINARY_CONFIG, unlogged=True)
        a.update_dataset("u")
        old_keys = keys_of(a, "u")
        assert len(list(a.get_samples("u", old_keys))) > 0  # A's range index is loaded
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE samples_d{a.get_dataset('u').id}, {UNLOGGED_MARKERS}"))
        b = StorageManager(db)
        assert b.update_dataset("u").num_new_samples == 40
        new_keys = keys_of(b, "u")
        with pytest.raises(UnknownKeysError, match=str(old_keys[0])):
            list(a.get_samples("u", old_keys[:1]))
        got = [s for batch in a.get_samples("u", new_keys[::-1]) for s in batch.samples()]
        assert got == [bytes([f, i]) * 3 for f in reversed(range(4)) for i in reversed(range(10))]
        assert keys_of(a, "u") == new_keys
    finally:
        db.dispose()
