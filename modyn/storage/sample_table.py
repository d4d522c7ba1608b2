"""The samples table on each back end: schema, bulk inserts and bulk key queries as numpy arrays.

PostgreSQL: `samples` is list-partitioned by dataset (one partition `samples_d<ID>` per dataset, created at
registration and dropped with the dataset), each partition hash-partitioned by key into
`hash_partitions` leaves (none when 1), optionally UNLOGGED. Keys come from the sequence
`sample_keys` (CACHE 1, so they increase in commit order as long as one writer commits a dataset's
batches one after another, which StorageManager guarantees). Rows go in with binary COPY and come
out with binary COPY of a query, decoded with numpy.

SQLite: one table, keys from AUTOINCREMENT, batched executemany inside the caller's transaction.

All SQL built here only interpolates Python ints (dataset ids, keys, timestamps, limits).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

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
    """Where the samples of some keys are: file id, index in the file, label (int64 arrays, by key)."""

    keys: np.ndarray
    file_ids: np.ndarray
    indices: np.ndarray
    labels: np.ndarray


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

    # ---------------------------------------------------------------- schema

    def create_schema(self) -> None:
        """Create the storage tables where missing (and migrate an unpartitioned PostgreSQL samples table)."""
        if not self.is_postgres:
            StorageBase.metadata.create_all(self.db.engine)
            return
        tables = [StorageBase.metadata.tables[t] for t in (Dataset.__tablename__, File.__tablename__)]
        StorageBase.metadata.create_all(self.db.engine, tables=tables)
        with self.db.engine.begin() as conn:
            # Serialize concurrent start-ups on one database.
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
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

    def _migrate_unpartitioned(self, conn: Connection) -> None:
        """Move the rows of an unpartitioned samples table (an older schema) into the partitioned one."""
        dataset_ids = [int(d) for d in conn.execute(text("SELECT id FROM datasets ORDER BY id")).scalars()]
        for dataset_id in dataset_ids:
            self._create_partition(conn, dataset_id, unlogged=False)
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

    def _create_partition(self, conn: Connection, dataset_id: int, unlogged: bool) -> None:
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
        conn.execute(text(f"CREATE INDEX {name}_time ON {name} (timestamp, key)"))
        if unlogged:
            conn.execute(
                text(f"INSERT INTO {UNLOGGED_MARKERS} (dataset_id) VALUES ({dataset_id}) ON CONFLICT DO NOTHING")
            )

    def drop_dataset(self, conn: Connection, dataset_id: int) -> None:
        """Remove all samples of a dataset, in the caller's transaction."""
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

    def recover_unlogged(self, conn: Connection, dataset_id: int) -> bool:
        """For an UNLOGGED dataset: if PostgreSQL crashed and emptied its samples, forget its files too (so
        they are ingested anew, keeping "a file is recorded only with all its samples") and return True."""
        marker = conn.execute(text(f"SELECT 1 FROM {UNLOGGED_MARKERS} WHERE dataset_id = {int(dataset_id)}")).scalar()
        if marker is not None:
            return False
        conn.execute(text(f"TRUNCATE {partition_name(dataset_id)}"))
        forgotten = conn.execute(text(f"DELETE FROM files WHERE dataset_id = {int(dataset_id)}")).rowcount
        conn.execute(text(f"INSERT INTO {UNLOGGED_MARKERS} (dataset_id) VALUES ({int(dataset_id)})"))
        return bool(forgotten)

    # ---------------------------------------------------------------- writes

    def reserve_keys(self, count: int) -> int | None:
        """PostgreSQL: reserve `count` consecutive keys for one insert and return the first (None on SQLite,
        where the insert's keys come from AUTOINCREMENT). Keys are never handed out twice, also across
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

    def insert(
        self,
        conn: Connection,
        dataset_id: int,
        file_ids: np.ndarray,
        counts: np.ndarray,
        timestamps: np.ndarray,
        labels: np.ndarray,
        first_key: int | None = None,
    ) -> None:
        """Insert the samples of files (file i has counts[i] samples, all with timestamps[i]; `labels` holds
        every sample's label, file after file) in the connection's transaction; keys follow row order,
        from `first_key` (reserved with reserve_keys) or else from the back end's key generator."""
        total = int(counts.sum())
        if total == 0:
            return
        starts = np.cumsum(counts) - counts
        file_column = np.repeat(file_ids.astype(np.int64), counts)
        index_column = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
        time_column = np.repeat(timestamps.astype(np.int64), counts)
        cursor = conn.connection.cursor()
        try:
            if self.is_postgres and first_key is not None:
                # Straight into the dataset's partition, keys given: no routing, no nextval per row.
                data = pg_copy.encode(
                    [
                        np.arange(first_key, first_key + total, dtype=np.int64),
                        np.full(total, dataset_id, dtype=np.int64),
                        file_column,
                        index_column,
                        time_column,
                        labels,
                    ],
                    ["int8", "int4", "int8", "int4", "int8", "int8"],
                )
                cursor.copy_expert(
                    f"COPY {partition_name(dataset_id)} (key, dataset_id, file_id, index_in_file, timestamp, label)"
                    " FROM STDIN (FORMAT binary)",
                    io.BytesIO(data),
                )
            elif self.is_postgres:
                data = pg_copy.encode(
                    [np.full(total, dataset_id, dtype=np.int64), file_column, index_column, time_column, labels],
                    ["int4", "int8", "int4", "int8", "int8"],
                )
                cursor.copy_expert(
                    "COPY samples (dataset_id, file_id, index_in_file, timestamp, label) FROM STDIN (FORMAT binary)",
                    io.BytesIO(data),
                )
            else:
                rows = zip(
                    [dataset_id] * total,
                    file_column.tolist(),
                    index_column.tolist(),
                    time_column.tolist(),
                    labels.tolist(),
                    strict=True,
                )
                cursor.executemany(
                    "INSERT INTO samples (dataset_id, file_id, index_in_file, timestamp, label) VALUES (?, ?, ?, ?, ?)",
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
        if not len(keys):
            return 0
        if self.is_postgres:
            return int(
                conn.execute(
                    text(f"DELETE FROM samples WHERE dataset_id = {int(dataset_id)} AND key = ANY({_pg_array(keys)})")
                ).rowcount
            )
        deleted = 0
        for start in range(0, len(keys), SQLITE_QUERY_CHUNK):
            chunk = keys[start : start + SQLITE_QUERY_CHUNK].tolist()
            marks = ",".join("?" * len(chunk))
            cursor = conn.connection.cursor()
            try:
                cursor.execute(f"DELETE FROM samples WHERE dataset_id = ? AND key IN ({marks})", [dataset_id, *chunk])
                deleted += cursor.rowcount
            finally:
                cursor.close()
        return deleted

    # ---------------------------------------------------------------- reads

    def page_by_time(
        self, dataset_id: int, start: int | None, end: int | None, after: tuple[int, int] | None, limit: int
    ) -> KeyPage:
        """Up to `limit` samples with start <= timestamp <= end (None: unbounded) and (timestamp, key) > after,
        ordered by (timestamp, key)."""
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
        return self._page([f"dataset_id = {int(dataset_id)}", f"key > {int(after_key)}"], "key", limit)

    def _page(self, conditions: list[str], order: str, limit: int) -> KeyPage:
        query = (
            f"SELECT key, timestamp, label FROM samples WHERE {' AND '.join(conditions)}"
            f" ORDER BY {order} LIMIT {int(limit)}"
        )
        keys, timestamps, labels = self._query_ints(query, ["int8", "int8", "int8"])
        return KeyPage(keys, timestamps, labels)

    def locate(self, dataset_id: int, keys: np.ndarray) -> KeyLocations:
        """file id, index in file and label of those of `keys` (unique) that the dataset holds, sorted by key."""
        if not len(keys):
            empty = np.empty(0, dtype=np.int64)
            return KeyLocations(empty, empty, empty, empty)
        select = "SELECT key, file_id, index_in_file, label FROM samples WHERE dataset_id = "
        if self.is_postgres:
            columns = self._query_ints(
                f"{select}{int(dataset_id)} AND key = ANY({_pg_array(keys)})", ["int8", "int8", "int4", "int8"]
            )
        else:
            parts = [
                self._query_ints(
                    f"{select}{int(dataset_id)} AND key IN ({','.join(map(str, chunk.tolist()))})",
                    ["int8", "int8", "int4", "int8"],
                )
                for chunk in np.array_split(keys, max(1, -(-len(keys) // SQLITE_QUERY_CHUNK)))
            ]
            columns = [np.concatenate([p[i] for p in parts]) for i in range(4)]
        order = np.argsort(columns[0], kind="stable")
        found_keys, file_ids, indices, labels = (c[order] for c in columns)
        return KeyLocations(found_keys, file_ids, indices, labels)

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
