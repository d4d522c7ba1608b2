"""The samples table on each back end: schema, bulk inserts and bulk key queries as numpy arrays.

PostgreSQL: `samples` is list-partitioned by dataset (one partition `samples_d<ID>` per dataset, created at
registration and dropped with the dataset), each partition hash-partitioned by key into
`hash_partitions` leaves (none when 1), optionally UNLOGGED. Keys come from the sequence
`sample_keys` (CACHE 1, so they increase in commit order as long as one writer commits a dataset's
batches one after another, which StorageManager guarantees). Rows go in with binary COPY and come
out with binary COPY of a query, decoded with numpy. A partition has only its primary key (key) as
index: per-row index maintenance is most of what ingestion costs beyond COPY itself.

SQLite: one table, keys reserved through AUTOINCREMENT's `sqlite_sequence`, batched executemany inside
the caller's transaction.

Either way the keys of one file are consecutive, so the `files` table is a compact index of the
samples: file i's samples are keys first_key .. first_key + n - 1, all with its mtime, labels packed
in the row. Time and key queries read `files` (and `samples` only for files with deleted samples);
Get maps keys to (file, index) with an in-memory range index of `files`. Files recorded before this
layout are indexed at start-up where their keys follow their sample order; the others (first_key NULL)
are served from `samples` alone, as before.

All SQL built here only interpolates Python ints (dataset ids, keys, timestamps, limits).
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, inspect, text

from modyn.common.database import Database
from modyn.storage import pg_copy
from modyn.storage.models import Dataset, File, StorageBase

logger = logging.getLogger(__name__)

KEY_SEQUENCE = "sample_keys"
# One row per UNLOGGED dataset partition, in an UNLOGGED table: PostgreSQL empties every unlogged table
# after a crash, so a missing marker says the dataset's samples were lost and its files must be ingested anew.
UNLOGGED_MARKERS = "storage_unlogged_markers"
# An insert of at least this many rows, and at least this share of the rows already there, refreshes
# the partition's planner statistics.
ANALYZE_MIN_ROWS = 10_000
ANALYZE_GROWTH = 0.2
# Bound on keys per IN (...) query on SQLite.
SQLITE_QUERY_CHUNK = 5_000
# Columns `files` gained with the file index: (name, PostgreSQL type, SQLite type).
FILE_INDEX_COLUMNS = [
    ("first_key", "BIGINT", "BIGINT"),
    ("labels", "BYTEA", "BLOB"),
    ("has_deletions", "BOOLEAN NOT NULL DEFAULT FALSE", "BOOLEAN NOT NULL DEFAULT 0"),
]
FILE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS ix_files_dataset_mtime_first_key ON files (dataset_id, mtime, first_key)",
    "CREATE INDEX IF NOT EXISTS ix_files_dataset_first_key ON files (dataset_id, first_key)",
]


@dataclass
class KeyPage:
    """Keys with their timestamps and labels, as int64 arrays of equal length."""

    keys: np.ndarray
    timestamps: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class KeyLocations:
    """Where the samples of some keys are: file id, index in the file, label (int64 arrays, by key).
    `labelled[i]` is False where the label was not looked up (it is then in the file's packed labels)."""

    keys: np.ndarray
    file_ids: np.ndarray
    indices: np.ndarray
    labels: np.ndarray
    labelled: np.ndarray


@dataclass
class _FileRanges:
    """A dataset's indexed files by first_key: file i holds keys first_keys[i] .. ends[i] - 1."""

    first_keys: np.ndarray
    ends: np.ndarray
    file_ids: np.ndarray

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For sorted keys: (position of the covering file or -1, whether covered)."""
        position = np.searchsorted(self.first_keys, keys, side="right") - 1
        covered = position >= 0
        covered[covered] = keys[covered] < self.ends[position[covered]]
        return position, covered


def partition_name(dataset_id: int) -> str:
    return f"samples_d{int(dataset_id)}"


class SampleTable:
    """Creates and queries the samples table of a Database, with the fastest means each back end has."""

    def __init__(self, db: Database, hash_partitions: int = 1) -> None:
        if hash_partitions < 1:
            raise ValueError(f"storage.hash_partitions: must be >= 1, got {hash_partitions}")
        self.db = db
        self.hash_partitions = hash_partitions
        self.is_postgres = db.is_postgres
        # Per dataset: the range index of its indexed files (Get), and whether all its files are indexed.
        self._ranges: dict[int, _FileRanges] = {}
        self._fully_indexed: set[int] = set()
        self._cache_lock = threading.Lock()

    # ---------------------------------------------------------------- schema

    def create_schema(self) -> None:
        """Create the storage tables where missing (and migrate an unpartitioned PostgreSQL samples table)."""
        if not self.is_postgres:
            StorageBase.metadata.create_all(self.db.engine)
            with self.db.engine.begin() as conn:
                self._add_file_index_columns(conn)
            self._index_old_files()
            return
        tables = [StorageBase.metadata.tables[t] for t in (Dataset.__tablename__, File.__tablename__)]
        StorageBase.metadata.create_all(self.db.engine, tables=tables)
        with self.db.engine.begin() as conn:
            # Serialize concurrent start-ups on one database.
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            self._add_file_index_columns(conn)
            kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass('samples')")).scalar()
            conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {KEY_SEQUENCE} AS BIGINT CACHE 1"))
            conn.execute(
                text(f"CREATE UNLOGGED TABLE IF NOT EXISTS {UNLOGGED_MARKERS} (dataset_id INTEGER PRIMARY KEY)")
            )
            if kind == "r":
                conn.execute(text("ALTER TABLE samples RENAME TO samples_unpartitioned"))
                conn.execute(text("ALTER INDEX IF EXISTS ix_samples_dataset_timestamp_key RENAME TO ix_unpartitioned"))
                conn.execute(text("ALTER TABLE samples_unpartitioned RENAME CONSTRAINT samples_pkey TO unpart_pkey"))
            if kind != "p":
                # Keys and the time index live per dataset partition (no dataset_id in them: smaller indexes).
                conn.execute(
                    text(
                        "CREATE TABLE samples ("
                        f" key BIGINT NOT NULL DEFAULT nextval('{KEY_SEQUENCE}'),"
                        " dataset_id INTEGER NOT NULL, file_id BIGINT NOT NULL, index_in_file INTEGER NOT NULL,"
                        " timestamp BIGINT NOT NULL, label BIGINT NOT NULL) PARTITION BY LIST (dataset_id)"
                    )
                )
            if kind == "r":
                self._migrate_unpartitioned(conn)
        self._index_old_files()

    def _add_file_index_columns(self, conn: Connection) -> None:
        """Give a `files` table from before the file index its columns (NULL: served through `samples`)."""
        present = {c["name"] for c in inspect(conn).get_columns(File.__tablename__)}
        for name, pg_type, sqlite_type in FILE_INDEX_COLUMNS:
            if name not in present:
                column_type = pg_type if self.is_postgres else sqlite_type
                conn.execute(text(f"ALTER TABLE files ADD COLUMN {name} {column_type}"))
                logger.info("storage: added column files.%s", name)
        for statement in FILE_INDEXES:
            conn.execute(text(statement))

    def _index_old_files(self) -> None:
        """Fill in first_key, labels and has_deletions of files recorded before the file index, from their
        samples, where the keys of a file follow its sample order (all files this storage wrote with
        reserved key blocks); others stay NULL and are served from `samples`. A PostgreSQL dataset whose
        files are all indexed then loses the time index of its partition."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT DISTINCT dataset_id FROM files WHERE first_key IS NULL OR labels IS NULL")
            ).scalars()
            dataset_ids = [int(d) for d in rows]
        for dataset_id in dataset_ids:
            ids, counts = self._query_ints(
                f"SELECT id, number_of_samples FROM files WHERE dataset_id = {dataset_id}"
                " AND (first_key IS NULL OR labels IS NULL) ORDER BY id",
                ["int8", "int4"],
            )
            # Chunks of about a million samples and at most 50,000 files bound the memory and the query.
            by_samples, by_files = np.cumsum(counts) // 1_000_000, np.arange(len(ids)) // 50_000
            bounds = np.flatnonzero((np.diff(by_samples) != 0) | (np.diff(by_files) != 0)) + 1
            left = sum(
                self._index_files(dataset_id, chunk_ids, chunk_counts)
                for chunk_ids, chunk_counts in zip(np.split(ids, bounds), np.split(counts, bounds), strict=True)
            )
            if left == 0 and self.is_postgres:
                with self.db.engine.begin() as conn:
                    conn.execute(text(f"DROP INDEX IF EXISTS {partition_name(dataset_id)}_time"))
            logger.info("dataset %d: indexed the files recorded before the file index (%d left)", dataset_id, left)

    def _index_files(self, dataset_id: int, ids: np.ndarray, counts: np.ndarray) -> int:
        """_index_old_files for some files of a dataset; returns how many stay unindexed."""
        file_ids, indices, keys, labels = self._query_ints(
            f"SELECT file_id, index_in_file, key, label FROM samples WHERE dataset_id = {dataset_id}"
            f" AND file_id IN ({','.join(map(str, ids.tolist()))})",
            ["int8", "int4", "int8", "int8"],
        )
        order = np.lexsort((indices, file_ids))
        file_ids, indices, keys, labels = file_ids[order], indices[order], keys[order], labels[order]
        starts = np.searchsorted(file_ids, ids, side="left")
        ends = np.searchsorted(file_ids, ids, side="right")
        updates: list[dict[str, Any]] = []
        for file_id, count, a, b in zip(ids.tolist(), counts.tolist(), starts.tolist(), ends.tolist(), strict=True):
            offsets = keys[a:b] - indices[a:b]
            if b > a and (offsets.min() != offsets.max() or indices[a] < 0 or indices[b - 1] >= count):
                continue  # keys not in sample order: stays served from `samples`
            packed = np.zeros(count, dtype="<i8")
            packed[indices[a:b]] = labels[a:b]
            # A file whose samples were all deleted gets a key range no sample can have (keys are > 0).
            first_key = int(offsets[0]) if b > a else -(file_id + 1) * 2**31
            updates.append({"i": file_id, "k": first_key, "l": packed.tobytes(), "d": b - a < count})
        if updates:
            with self.db.engine.begin() as conn:
                conn.execute(
                    text("UPDATE files SET first_key = :k, labels = :l, has_deletions = :d WHERE id = :i"), updates
                )
        return len(ids) - len(updates)

    def _migrate_unpartitioned(self, conn: Connection) -> None:
        """Move the rows of an unpartitioned samples table (an older schema) into the partitioned one."""
        dataset_ids = [int(d) for d in conn.execute(text("SELECT id FROM datasets ORDER BY id")).scalars()]
        for dataset_id in dataset_ids:
            # Their files are not indexed (first_key NULL): time queries need the samples' time index.
            self._create_partition(conn, dataset_id, unlogged=False, time_index=True)
        moved = conn.execute(
            text(
                "INSERT INTO samples (key, dataset_id, file_id, index_in_file, timestamp, label)"
                " SELECT s.key, s.dataset_id, s.file_id, s.index_in_file, s.timestamp, s.label"
                " FROM samples_unpartitioned s JOIN datasets d ON d.id = s.dataset_id"
            )
        ).rowcount
        top = conn.execute(text("SELECT max(key) FROM samples_unpartitioned")).scalar()
        if top is not None:
            conn.execute(text(f"SELECT setval('{KEY_SEQUENCE}', {int(top)})"))
        conn.execute(text("DROP TABLE samples_unpartitioned"))
        logger.info("moved %d sample(s) of %d dataset(s) into the partitioned samples table", moved, len(dataset_ids))

    def create_dataset(self, conn: Connection, dataset_id: int, unlogged: bool) -> None:
        """Create the dataset's partition (PostgreSQL; no-op on SQLite), in the caller's transaction."""
        if self.is_postgres:
            self._create_partition(conn, dataset_id, unlogged)

    def _create_partition(self, conn: Connection, dataset_id: int, unlogged: bool, time_index: bool = False) -> None:
        name = partition_name(dataset_id)
        persistence = "UNLOGGED " if unlogged else ""
        create = f"CREATE {persistence}TABLE IF NOT EXISTS"
        if self.hash_partitions == 1:
            conn.execute(text(f"{create} {name} PARTITION OF samples FOR VALUES IN ({dataset_id})"))
        else:
            conn.execute(
                text(f"{create} {name} PARTITION OF samples FOR VALUES IN ({dataset_id}) PARTITION BY HASH (key)")
            )
            for remainder in range(self.hash_partitions):
                conn.execute(
                    text(
                        f"CREATE {persistence}TABLE IF NOT EXISTS {name}_h{remainder} PARTITION OF {name}"
                        f" FOR VALUES WITH (MODULUS {self.hash_partitions}, REMAINDER {remainder})"
                    )
                )
        conn.execute(text(f"ALTER TABLE {name} ADD PRIMARY KEY (key)"))
        if time_index:
            conn.execute(text(f"CREATE INDEX {name}_time ON {name} (timestamp, key)"))
        if unlogged:
            conn.execute(
                text(f"INSERT INTO {UNLOGGED_MARKERS} (dataset_id) VALUES ({dataset_id}) ON CONFLICT DO NOTHING")
            )

    def drop_dataset(self, conn: Connection, dataset_id: int) -> None:
        """Remove all samples of a dataset, in the caller's transaction."""
        self.forget(dataset_id)
        if self.is_postgres:
            conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(dataset_id)}"))
            conn.execute(text(f"DELETE FROM {UNLOGGED_MARKERS} WHERE dataset_id = {int(dataset_id)}"))
        else:
            conn.execute(text("DELETE FROM samples WHERE dataset_id = :d"), {"d": dataset_id})

    def is_unlogged(self, dataset_id: int) -> bool:
        if not self.is_postgres:
            return False
        with self.db.engine.connect() as conn:
            persistence = conn.execute(
                text(f"SELECT relpersistence FROM pg_class WHERE oid = to_regclass('{partition_name(dataset_id)}')")
            ).scalar()
        return persistence == "u"

    def unlogged_samples_lost(self, dataset_id: int) -> bool:
        """For an UNLOGGED dataset: whether its marker row is gone (PostgreSQL crashed and emptied it)."""
        return self._scalar(f"SELECT count(*) FROM {UNLOGGED_MARKERS} WHERE dataset_id = {int(dataset_id)}") == 0

    def recover_unlogged(self, conn: Connection, dataset_id: int) -> bool:
        """For an UNLOGGED dataset: if PostgreSQL crashed and emptied its samples, forget its files too (so
        they are ingested anew, keeping "a file is recorded only with all its samples") and return True."""
        marker = conn.execute(text(f"SELECT 1 FROM {UNLOGGED_MARKERS} WHERE dataset_id = {int(dataset_id)}")).scalar()
        if marker is not None:
            return False
        conn.execute(text(f"TRUNCATE {partition_name(dataset_id)}"))
        self.forget(dataset_id)
        forgotten = conn.execute(text(f"DELETE FROM files WHERE dataset_id = {int(dataset_id)}")).rowcount
        conn.execute(text(f"INSERT INTO {UNLOGGED_MARKERS} (dataset_id) VALUES ({int(dataset_id)})"))
        return bool(forgotten)

    # ---------------------------------------------------------------- writes

    def reserve_keys(self, count: int) -> int | None:
        """PostgreSQL: reserve `count` consecutive keys for one insert and return the first (None on SQLite,
        where `insert` reserves them inside its transaction). Keys are never handed out twice, also across
        processes (the reservation holds an advisory lock), and a failed insert just leaves a gap."""
        if not self.is_postgres or count <= 0:
            return None
        with self.db.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(727275)"))
            last = conn.execute(
                text(f"SELECT setval('{KEY_SEQUENCE}', nextval('{KEY_SEQUENCE}') + {int(count) - 1})")
            ).scalar()
        assert last is not None
        return int(last) - int(count) + 1

    def reserve_keys_in(self, conn: Connection, count: int) -> int:
        """Reserve `count` consecutive keys inside the caller's transaction and return the first: on SQLite
        by advancing AUTOINCREMENT's counter (a write, so the transaction holds the database's write lock
        from here on and the keys are ours); on PostgreSQL as reserve_keys."""
        if self.is_postgres:
            first = self.reserve_keys(count)
            assert first is not None
            return first
        count = int(count)
        if not conn.execute(text(f"UPDATE sqlite_sequence SET seq = seq + {count} WHERE name = 'samples'")).rowcount:
            top = conn.execute(text("SELECT coalesce(max(key), 0) FROM samples")).scalar()
            conn.execute(text(f"INSERT INTO sqlite_sequence (name, seq) VALUES ('samples', {int(top or 0) + count})"))
        last = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'samples'")).scalar()
        assert last is not None
        return int(last) - count + 1

    def insert(
        self,
        conn: Connection,
        dataset_id: int,
        file_ids: np.ndarray,
        counts: np.ndarray,
        timestamps: np.ndarray,
        labels: np.ndarray,
        first_key: int,
    ) -> None:
        """Insert the samples of files (file i has counts[i] samples, all with timestamps[i]; `labels` holds
        every sample's label, file after file) in the connection's transaction, with keys first_key,
        first_key + 1, ... in row order (reserved with reserve_keys or reserve_keys_in)."""
        total = int(counts.sum())
        if total == 0:
            return
        starts = np.cumsum(counts) - counts
        file_column = np.repeat(file_ids.astype(np.int64), counts)
        index_column = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
        time_column = np.repeat(timestamps.astype(np.int64), counts)
        key_column = np.arange(first_key, first_key + total, dtype=np.int64)
        cursor = conn.connection.cursor()
        try:
            if self.is_postgres:
                # Straight into the dataset's partition, keys given: no routing, no nextval per row.
                dataset_column = np.full(total, dataset_id, dtype=np.int64)
                data = pg_copy.encode(
                    [key_column, dataset_column, file_column, index_column, time_column, labels],
                    ["int8", "int4", "int8", "int4", "int8", "int8"],
                )
                cursor.copy_expert(
                    f"COPY {partition_name(dataset_id)} (key, dataset_id, file_id, index_in_file, timestamp, label)"
                    " FROM STDIN (FORMAT binary)",
                    io.BytesIO(data),
                )
            else:
                rows = zip(
                    key_column.tolist(),
                    [dataset_id] * total,
                    file_column.tolist(),
                    index_column.tolist(),
                    time_column.tolist(),
                    labels.tolist(),
                    strict=True,
                )
                cursor.executemany(
                    "INSERT INTO samples (key, dataset_id, file_id, index_in_file, timestamp, label)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,  # type: ignore[arg-type]  # sqlite3 takes any iterable
                )
        finally:
            cursor.close()

    def refresh_statistics(self, dataset_id: int, inserted: int) -> None:
        """PostgreSQL: ANALYZE the dataset's partition after an insert that changed its size a lot, so that
        key queries get index plans right away rather than after autovacuum comes by."""
        if not self.is_postgres or inserted < ANALYZE_MIN_ROWS:
            return
        name = partition_name(dataset_id)
        with self.db.engine.connect() as conn:
            # reltuples: -1 before the first ANALYZE; for a hash-partitioned dataset, the sum of its leaves.
            estimate = conn.execute(
                text(
                    "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) FROM pg_class c"
                    f" WHERE c.relname = '{name}' OR c.relname LIKE '{name}\\_h%'"
                )
            ).scalar()
        if inserted < ANALYZE_GROWTH * float(estimate or 0):
            return
        with self.db.engine.connect() as conn:
            conn.execute(text(f"ANALYZE {name}"))
            conn.commit()

    def delete_keys(self, conn: Connection, dataset_id: int, keys: np.ndarray) -> int:
        """Delete these keys' samples in the caller's transaction and flag their files `has_deletions`."""
        if not len(keys):
            return 0
        if self.is_postgres:
            return int(
                conn.execute(
                    text(
                        f"WITH gone AS (DELETE FROM {partition_name(dataset_id)} WHERE key = ANY({_pg_array(keys)})"
                        " RETURNING file_id), flagged AS (UPDATE files SET has_deletions = TRUE"
                        " WHERE id IN (SELECT DISTINCT file_id FROM gone) AND NOT has_deletions)"
                        " SELECT count(*) FROM gone"
                    )
                ).scalar()
                or 0
            )
        deleted = 0
        for start in range(0, len(keys), SQLITE_QUERY_CHUNK):
            chunk = ",".join(map(str, keys[start : start + SQLITE_QUERY_CHUNK].tolist()))
            where = f"dataset_id = {int(dataset_id)} AND key IN ({chunk})"
            flag = f"UPDATE files SET has_deletions = 1 WHERE id IN (SELECT file_id FROM samples WHERE {where})"
            conn.execute(text(flag))
            deleted += int(conn.execute(text(f"DELETE FROM samples WHERE {where}")).rowcount)
        return deleted

    def forget(self, dataset_id: int) -> None:
        """Drop what is cached about a dataset (its files were removed or replaced)."""
        with self._cache_lock:
            self._ranges.pop(dataset_id, None)
            self._fully_indexed.discard(dataset_id)

    # ---------------------------------------------------------------- reads

    def page_by_time(
        self, dataset_id: int, start: int | None, end: int | None, after: tuple[int, int] | None, limit: int
    ) -> KeyPage:
        """Up to `limit` samples with start <= timestamp <= end (None: unbounded) and (timestamp, key) > after,
        ordered by (timestamp, key)."""
        if self.fully_indexed(dataset_id):
            conditions = []
            if start is not None:
                conditions.append(f"mtime >= {int(start)}")
            if end is not None:
                conditions.append(f"mtime <= {int(end)}")
            if after is not None:
                ts, key = int(after[0]), int(after[1])
                # Files of one mtime hold disjoint key ranges: (mtime, first_key) order is (timestamp, key) order.
                conditions.append(f"mtime >= {ts} AND (mtime > {ts} OR first_key + number_of_samples > {key + 1})")
            return self._file_page(dataset_id, conditions, "mtime, first_key", after, limit)
        conditions = [f"dataset_id = {int(dataset_id)}"]
        if start is not None:
            conditions.append(f"timestamp >= {int(start)}")
        if end is not None:
            conditions.append(f"timestamp <= {int(end)}")
        if after is not None:
            conditions.append(f"(timestamp, key) > ({int(after[0])}, {int(after[1])})")
        return self._page(conditions, "timestamp, key", limit)

    def page_by_key(self, dataset_id: int, after_key: int, limit: int) -> KeyPage:
        """Up to `limit` samples with key > after_key, ordered by key."""
        if self.fully_indexed(dataset_id):
            conditions = [f"first_key + number_of_samples > {int(after_key) + 1}"]
            return self._file_page(dataset_id, conditions, "first_key", (None, int(after_key)), limit)
        return self._page([f"dataset_id = {int(dataset_id)}", f"key > {int(after_key)}"], "key", limit)

    def _page(self, conditions: list[str], order: str, limit: int) -> KeyPage:
        query = (
            f"SELECT key, timestamp, label FROM samples WHERE {' AND '.join(conditions)}"
            f" ORDER BY {order} LIMIT {int(limit)}"
        )
        keys, timestamps, labels = self._query_ints(query, ["int8", "int8", "int8"])
        return KeyPage(keys, timestamps, labels)

    def fully_indexed(self, dataset_id: int) -> bool:
        """Whether every file of the dataset has its key range and labels in `files` (all files ingested by
        this version do; the answer is cached once true, as an indexed dataset stays indexed)."""
        with self._cache_lock:
            if dataset_id in self._fully_indexed:
                return True
        legacy = self._scalar(
            f"SELECT count(*) FROM files WHERE dataset_id = {int(dataset_id)} AND (first_key IS NULL OR labels IS NULL)"
        )
        if legacy:
            return False
        with self._cache_lock:
            self._fully_indexed.add(dataset_id)
        return True

    def _file_page(
        self, dataset_id: int, conditions: list[str], order: str, after: tuple[int | None, int] | None, limit: int
    ) -> KeyPage:
        """Up to `limit` samples of the files matching `conditions`, in `order` of files and key order within
        each, skipping keys <= after[1] in files with mtime == after[0] (any mtime when after[0] is None)."""
        parts: list[KeyPage] = []
        wanted = limit
        base = [f"dataset_id = {int(dataset_id)}", *conditions]
        later = ""  # after the first round: only files after the last one taken
        while wanted > 0:
            # Every file holds at least one sample: `wanted` files are always enough for this page.
            ids, mtimes, first_keys, counts, flagged = self._query_ints(
                "SELECT id, mtime, first_key, number_of_samples, CASE WHEN has_deletions THEN 1 ELSE 0 END"
                f" FROM files WHERE {' AND '.join(base)}{later} ORDER BY {order} LIMIT {int(wanted)}",
                ["int8", "int8", "int8", "int4", "int4"],
            )
            if not len(ids):
                break
            skip = np.zeros(len(ids), dtype=np.int64)
            if after is not None:
                same = np.ones(len(ids), dtype=bool) if after[0] is None else mtimes == after[0]
                skip[same] = np.clip(after[1] + 1 - first_keys[same], 0, counts[same])
            available = counts - skip
            # Files up to the one that fills the page (deleted samples may leave it short: then go on).
            take = min(int(np.searchsorted(np.cumsum(available), wanted, side="left")) + 1, len(ids))
            page = self._expand_files(
                dataset_id, ids[:take], mtimes[:take], first_keys[:take], skip[:take], available[:take], flagged[:take]
            )
            page = KeyPage(page.keys[:wanted], page.timestamps[:wanted], page.labels[:wanted])
            parts.append(page)
            wanted -= len(page)
            last = take - 1
            if order.startswith("mtime"):
                later = f" AND (mtime, first_key) > ({int(mtimes[last])}, {int(first_keys[last])})"
            else:
                later = f" AND first_key > {int(first_keys[last])}"
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return KeyPage(empty, empty, empty)
        return KeyPage(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("keys", "timestamps", "labels")))

    def locate(self, dataset_id: int, keys: np.ndarray) -> KeyLocations:
        """File id and index in the file of those of `keys` (unique, sorted) that the dataset holds, by key.

        Keys of indexed files are found in the in-memory range index of `files` (reloaded when a key is
        not covered or a cached file is gone); only keys of files with deletions are checked against
        `samples`, and keys of files from before the index are looked up there (with their labels)."""
        keys = np.asarray(keys, dtype=np.int64)
        ranges = self._file_ranges(dataset_id, "cached")
        position, covered = ranges.find(keys)
        if not covered.all():
            ranges = self._file_ranges(dataset_id, "newer")  # files committed since the last load
            position, covered = ranges.find(keys)
            if not covered.all() and self.fully_indexed(dataset_id):
                ranges = self._file_ranges(dataset_id, "all")  # in case one committed out of key order
                position, covered = ranges.find(keys)
        found_keys = keys[covered]
        file_ids = ranges.file_ids[position[covered]]
        indices = found_keys - ranges.first_keys[position[covered]]
        distinct = np.unique(file_ids)
        known, flagged = self._query_ints(
            f"SELECT id, CASE WHEN has_deletions THEN 1 ELSE 0 END FROM files WHERE dataset_id = {int(dataset_id)}"
            f" AND id IN ({','.join(map(str, distinct.tolist())) or 'NULL'})",
            ["int8", "int4"],
        )
        if len(known) < len(distinct):
            # Files were removed behind the cached index (an UNLOGGED dataset recovered by another process):
            # their keys are gone (keys are never reused), and the index is loaded anew next time.
            self.forget(dataset_id)
            gone = ~np.isin(file_ids, known)
            covered[np.flatnonzero(covered)[gone]] = False
            found_keys, file_ids, indices = found_keys[~gone], file_ids[~gone], indices[~gone]
        keep = np.ones(len(found_keys), dtype=bool)
        suspect = np.isin(file_ids, known[flagged.astype(bool)])
        if suspect.any():
            existing = self._existing_keys(dataset_id, found_keys[suspect])
            keep[suspect] = np.isin(found_keys[suspect], existing)
        found_keys, file_ids, indices = found_keys[keep], file_ids[keep], indices[keep]
        labels = np.zeros(len(found_keys), dtype=np.int64)
        labelled = np.zeros(len(found_keys), dtype=bool)
        rest = keys[~covered]
        if len(rest) and not self.fully_indexed(dataset_id):
            old = self._locate_in_samples(dataset_id, rest)
            found_keys = np.concatenate([found_keys, old[0]])
            file_ids = np.concatenate([file_ids, old[1]])
            indices = np.concatenate([indices, old[2]])
            labels = np.concatenate([labels, old[3]])
            labelled = np.concatenate([labelled, np.ones(len(old[0]), dtype=bool)])
        order = np.argsort(found_keys, kind="stable")
        return KeyLocations(found_keys[order], file_ids[order], indices[order], labels[order], labelled[order])

    def _file_ranges(self, dataset_id: int, how: str) -> _FileRanges:
        """The dataset's range index: as cached ("cached", loaded if missing), extended by the files with
        a higher first_key than any cached ("newer": the usual growth), or loaded anew ("all")."""
        with self._cache_lock:
            cached = self._ranges.get(dataset_id)
        if cached is not None and how == "cached":
            return cached
        after = ""
        if cached is not None and how == "newer" and len(cached.first_keys):
            after = f" AND first_key > {int(cached.first_keys[-1])}"
        first_keys, counts, file_ids = self._query_ints(
            f"SELECT first_key, number_of_samples, id FROM files WHERE dataset_id = {int(dataset_id)}"
            f" AND first_key IS NOT NULL{after} ORDER BY first_key",
            ["int8", "int4", "int8"],
        )
        ranges = _FileRanges(first_keys, first_keys + counts, file_ids)
        if after and cached is not None:
            ranges = _FileRanges(
                np.concatenate([cached.first_keys, ranges.first_keys]),
                np.concatenate([cached.ends, ranges.ends]),
                np.concatenate([cached.file_ids, ranges.file_ids]),
            )
        with self._cache_lock:
            self._ranges[dataset_id] = ranges
        return ranges

    def _existing_keys(self, dataset_id: int, keys: np.ndarray) -> np.ndarray:
        """Those of `keys` that `samples` holds for the dataset."""
        return self._locate_in_samples(dataset_id, keys)[0]

    def _locate_in_samples(self, dataset_id: int, keys: np.ndarray) -> list[np.ndarray]:
        """key, file id, index in file and label of those of `keys` that `samples` holds (any order)."""
        select = "SELECT key, file_id, index_in_file, label FROM samples WHERE dataset_id = "
        kinds = ["int8", "int8", "int4", "int8"]
        if self.is_postgres:
            return self._query_ints(f"{select}{int(dataset_id)} AND key = ANY({_pg_array(keys)})", kinds)
        parts = [
            self._query_ints(f"{select}{int(dataset_id)} AND key IN ({','.join(map(str, chunk.tolist()))})", kinds)
            for chunk in np.array_split(keys, max(1, -(-len(keys) // SQLITE_QUERY_CHUNK)))
        ]
        return [np.concatenate([p[i] for p in parts]) for i in range(len(kinds))]

    def _expand_files(
        self,
        dataset_id: int,
        ids: np.ndarray,
        mtimes: np.ndarray,
        first_keys: np.ndarray,
        skip: np.ndarray,
        available: np.ndarray,
        flagged: np.ndarray,
    ) -> KeyPage:
        """The samples skip[i] .. skip[i] + available[i] - 1 of each file, file after file, without those
        deleted from files flagged has_deletions."""
        total = int(available.sum())
        starts = np.cumsum(available) - available
        keys = np.arange(total, dtype=np.int64) + np.repeat(first_keys + skip - starts, available)
        timestamps = np.repeat(mtimes, available)
        blobs = self.file_labels(ids)
        spans = zip(ids.tolist(), skip.tolist(), available.tolist(), strict=True)
        labels = np.frombuffer(
            b"".join(blobs[i][8 * s : 8 * (s + n)] for i, s, n in spans),
            dtype="<i8",
        ).astype(np.int64)
        if len(labels) != total:
            raise ValueError(f"dataset {dataset_id}: a file's packed labels do not match its number of samples")
        if flagged.any():
            # Which keys of files with deletions remain: one query for all of them.
            segments = np.flatnonzero(flagged & (available > 0))
            in_flagged = np.zeros(total, dtype=bool)
            for i in segments.tolist():
                in_flagged[int(starts[i]) : int(starts[i] + available[i])] = True
            remaining = self._existing_in_ranges(dataset_id, keys[starts[segments]], available[segments])
            keep = ~in_flagged | np.isin(keys, remaining)
            keys, timestamps, labels = keys[keep], timestamps[keep], labels[keep]
        return KeyPage(keys, timestamps, labels)

    def _existing_in_ranges(self, dataset_id: int, firsts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The keys of `samples` (of the dataset) in the key ranges firsts[i] .. firsts[i] + lengths[i] - 1."""
        if not len(firsts):
            return np.empty(0, dtype=np.int64)
        order = np.argsort(firsts)
        firsts, ends = firsts[order], firsts[order] + lengths[order]
        # Merge touching ranges (consecutive files); a few ranges go in one query, many as a key list.
        breaks = np.flatnonzero(firsts[1:] > ends[:-1]) + 1
        lows = firsts[np.concatenate([[0], breaks])]
        highs = ends[np.concatenate([breaks - 1, [len(ends) - 1]])]
        if len(lows) > 64:
            keys = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(lows, highs, strict=True)])
            return self._existing_keys(dataset_id, keys)
        ranges = " OR ".join(f"(key >= {int(a)} AND key < {int(b)})" for a, b in zip(lows, highs, strict=True))
        (existing,) = self._query_ints(
            f"SELECT key FROM samples WHERE dataset_id = {int(dataset_id)} AND ({ranges})", ["int8"]
        )
        return existing

    def file_labels(self, file_ids: np.ndarray) -> dict[int, bytes]:
        """file id -> its packed labels (little-endian int64)."""
        out: dict[int, bytes] = {}
        raw: Any = self.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                for start in range(0, len(file_ids), SQLITE_QUERY_CHUNK):
                    chunk = ",".join(map(str, file_ids[start : start + SQLITE_QUERY_CHUNK].tolist()))
                    cursor.execute(f"SELECT id, labels FROM files WHERE id IN ({chunk})")
                    out.update((int(i), bytes(b)) for i, b in cursor.fetchall())
            finally:
                cursor.close()
            raw.commit()
        finally:
            raw.close()
        return out

    def count(self, dataset_id: int) -> int:
        return self._scalar(f"SELECT count(*) FROM samples WHERE dataset_id = {int(dataset_id)}")

    def last_key(self, dataset_id: int) -> int:
        return self._scalar(f"SELECT max(key) FROM samples WHERE dataset_id = {int(dataset_id)}")

    def _scalar(self, query: str) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(text(query)).scalar() or 0)

    def _query_ints(self, query: str, kinds: list[str]) -> list[np.ndarray]:
        """Run a SELECT of non-NULL integer columns; its columns as int64 arrays."""
        raw: Any = self.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                if self.is_postgres:
                    buffer = io.BytesIO()
                    cursor.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT binary)", buffer)
                    columns = pg_copy.decode(buffer.getbuffer(), kinds)
                else:
                    cursor.execute(query)
                    rows = cursor.fetchall()
                    table = np.array(rows, dtype=np.int64).reshape(len(rows), len(kinds))
                    columns = [np.ascontiguousarray(table[:, i]) for i in range(len(kinds))]
            finally:
                cursor.close()
            raw.commit()
        finally:
            raw.close()
        return columns


def _pg_array(values: np.ndarray) -> str:
    """A PostgreSQL bigint[] literal of int64 values."""
    return "'{" + ",".join(map(str, np.asarray(values, dtype=np.int64).tolist())) + "}'::bigint[]"
