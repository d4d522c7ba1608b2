"""Bulk storage of informed keys in `selector_state_keys`, fast on both back ends.

Keys travel as numpy arrays and never become one Python object per row where that can be avoided:
- PostgreSQL: binary `COPY` built with a numpy structured array (no per-row Python work). A key that
  is already stored makes the COPY fail as a whole; then (rare: a retried call, data informed twice)
  the rows go through a temporary table and `INSERT ... ON CONFLICT DO NOTHING`.
- SQLite: `INSERT OR IGNORE` with `executemany` in the caller's transaction.
Reading uses `COPY ... TO STDOUT` in binary on PostgreSQL, parsed again with numpy.

Every function works inside the caller's transaction (a SQLAlchemy Connection), so informing keys
and closing a trigger can commit together.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, text

KEYS_TABLE = "selector_state_keys"
_COLUMNS = '(pipeline_id, "key", "timestamp", label, trigger_id)'
_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_PGCOPY_TRAILER = b"\xff\xff"
_SQLITE_READ_BATCH = 500_000

Int64Array = NDArray[np.int64]


def first_occurrences(keys: Int64Array) -> NDArray[np.intp] | None:
    """Indices of the first occurrence of each distinct key, in input order; None when all are distinct."""
    if len(keys) < 2:
        return None
    # Fast path: keys usually arrive strictly increasing (storage assigns them in ingestion order).
    if bool(np.all(keys[1:] > keys[:-1])):
        return None
    _, first = np.unique(keys, return_index=True)
    if len(first) == len(keys):
        return None
    return np.sort(first)


def _raw_connection(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


def _pg_copy_rows(
    pipeline_id: int, trigger_id: int, keys: Int64Array, timestamps: Int64Array, labels: Int64Array | None
) -> bytes:
    """The COPY binary payload for the rows, built in bulk with a big-endian structured array."""
    fields: list[tuple[str, str]] = [("nfields", ">i2"), ("len_pipeline", ">i4"), ("pipeline", ">i4")]
    fields += [("len_key", ">i4"), ("key", ">i8"), ("len_ts", ">i4"), ("ts", ">i8"), ("len_label", ">i4")]
    if labels is not None:
        fields.append(("label", ">i8"))
    fields += [("len_trigger", ">i4"), ("trigger", ">i4")]
    rows = np.empty(len(keys), dtype=np.dtype(fields))
    rows["nfields"] = 5
    rows["len_pipeline"] = 4
    rows["pipeline"] = pipeline_id
    rows["len_key"] = 8
    rows["key"] = keys
    rows["len_ts"] = 8
    rows["ts"] = timestamps
    if labels is not None:
        rows["len_label"] = 8
        rows["label"] = labels
    else:
        rows["len_label"] = -1  # NULL: a length of -1 and no data
    rows["len_trigger"] = 4
    rows["trigger"] = trigger_id
    return _PGCOPY_HEADER + rows.tobytes() + _PGCOPY_TRAILER


def _pg_insert(conn: Connection, payload: bytes, num_rows: int) -> int:
    import psycopg2.errors

    cursor = _raw_connection(conn).cursor()
    try:
        cursor.execute("SAVEPOINT selector_copy")
        try:
            cursor.copy_expert(f"COPY {KEYS_TABLE} {_COLUMNS} FROM STDIN WITH (FORMAT binary)", io.BytesIO(payload))
        except psycopg2.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT selector_copy")
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS selector_keys_incoming "
                "(pipeline_id integer, key bigint, timestamp bigint, label bigint, trigger_id integer) "
                "ON COMMIT DELETE ROWS"
            )
            cursor.execute("TRUNCATE selector_keys_incoming")
            cursor.copy_expert(
                f"COPY selector_keys_incoming {_COLUMNS} FROM STDIN WITH (FORMAT binary)", io.BytesIO(payload)
            )
            cursor.execute(
                f"INSERT INTO {KEYS_TABLE} {_COLUMNS} SELECT * FROM selector_keys_incoming "
                "ON CONFLICT (pipeline_id, key) DO NOTHING"
            )
            return int(cursor.rowcount)
        cursor.execute("RELEASE SAVEPOINT selector_copy")
        return num_rows
    finally:
        cursor.close()


def _sqlite_insert(
    conn: Connection,
    pipeline_id: int,
    trigger_id: int,
    keys: Int64Array,
    timestamps: Int64Array,
    labels: Int64Array | None,
) -> int:
    # Constants go into the SQL so each row is a small tuple of the varying values only.
    sql = f"INSERT OR IGNORE INTO {KEYS_TABLE} {_COLUMNS} VALUES ({int(pipeline_id)}, ?, ?, ?, {int(trigger_id)})"
    label_values: Any = labels.tolist() if labels is not None else itertools.repeat(None)
    raw = _raw_connection(conn)
    cursor = raw.cursor()
    try:
        # total_changes counts only rows really inserted (not the ignored ones).
        before = raw.total_changes
        cursor.executemany(sql, zip(keys.tolist(), timestamps.tolist(), label_values, strict=False))
        return int(raw.total_changes - before)
    finally:
        cursor.close()


def insert_keys(
    conn: Connection,
    pipeline_id: int,
    trigger_id: int,
    keys: Int64Array,
    timestamps: Int64Array,
    labels: Int64Array | None,
) -> int:
    """Store keys not yet known for the pipeline under `trigger_id`; return how many were new.

    A key already stored for the pipeline keeps its first record (timestamp, label, trigger); a key
    repeated within `keys` counts with its first occurrence.
    """
    if len(keys) == 0:
        return 0
    first = first_occurrences(keys)
    if first is not None:
        keys, timestamps = keys[first], timestamps[first]
        labels = labels[first] if labels is not None else None
    if conn.dialect.name == "postgresql":
        return _pg_insert(conn, _pg_copy_rows(pipeline_id, trigger_id, keys, timestamps, labels), len(keys))
    return _sqlite_insert(conn, pipeline_id, trigger_id, keys, timestamps, labels)


def count_keys(conn: Connection, pipeline_id: int, trigger_id: int) -> int:
    """How many keys are stored for the pipeline under `trigger_id`."""
    result = conn.execute(
        text(f"SELECT COUNT(*) FROM {KEYS_TABLE} WHERE pipeline_id = :p AND trigger_id = :t"),
        {"p": pipeline_id, "t": trigger_id},
    ).scalar_one()
    return int(result)


def read_keys(
    conn: Connection, pipeline_id: int, first_trigger_id: int, last_trigger_id: int
) -> tuple[Int64Array, Int64Array]:
    """(keys, timestamps) of the keys informed in triggers first..last (inclusive), in no set order."""
    if conn.dialect.name == "postgresql":
        query = (
            f'SELECT "key", "timestamp" FROM {KEYS_TABLE} '
            f"WHERE pipeline_id = {int(pipeline_id)} "
            f"AND trigger_id BETWEEN {int(first_trigger_id)} AND {int(last_trigger_id)}"
        )
        buffer = io.BytesIO()
        cursor = _raw_connection(conn).cursor()
        try:
            cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", buffer)
        finally:
            cursor.close()
        data = buffer.getvalue()
        header_extension = int.from_bytes(data[15:19], "big")
        body = data[19 + header_extension : -2]
        row = np.dtype([("n", ">i2"), ("lk", ">i4"), ("key", ">i8"), ("lt", ">i4"), ("ts", ">i8")])
        rows = np.frombuffer(body, dtype=row)
        return rows["key"].astype(np.int64), rows["ts"].astype(np.int64)
    cursor = _raw_connection(conn).cursor()
    parts: list[NDArray[np.int64]] = []
    try:
        cursor.execute(
            f'SELECT "key", "timestamp" FROM {KEYS_TABLE} WHERE pipeline_id = ? AND trigger_id BETWEEN ? AND ?',
            (pipeline_id, first_trigger_id, last_trigger_id),
        )
        # Batches bound the memory held in Python tuples to one batch, whatever the set's size.
        while batch := cursor.fetchmany(_SQLITE_READ_BATCH):
            parts.append(np.array(batch, dtype=np.int64))
    finally:
        cursor.close()
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pairs = np.concatenate(parts)
    return np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])
