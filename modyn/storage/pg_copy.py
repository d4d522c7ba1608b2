"""PostgreSQL's binary COPY format, encoded and decoded with numpy (no Python object per value).

Used for bulk sample inserts (`COPY ... FROM STDIN (FORMAT binary)`) and bulk key reads
(`COPY (SELECT ...) TO STDOUT (FORMAT binary)`), which are several times cheaper than row-wise
Python adaptation on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
# Column kinds: PostgreSQL integer type -> (numpy big-endian dtype, byte length).
KINDS = {"int4": (">i4", 4), "int8": (">i8", 8)}


def _row_dtype(kinds: Sequence[str]) -> np.dtype:
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, kind in enumerate(kinds):
        fields += [(f"len{i}", ">i4"), (f"v{i}", KINDS[kind][0])]
    return np.dtype(fields)


def encode(columns: Sequence[np.ndarray], kinds: Sequence[str]) -> bytes:
    """A binary COPY stream of rows made of `columns` (equal-length integer arrays, no NULLs)."""
    dtype = _row_dtype(kinds)
    rows = np.empty(len(columns[0]) if columns else 0, dtype=dtype)
    rows["count"] = len(kinds)
    for i, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
        rows[f"len{i}"] = KINDS[kind][1]
        rows[f"v{i}"] = column
    return HEADER + rows.tobytes() + TRAILER


def decode(data: bytes | memoryview, kinds: Sequence[str]) -> list[np.ndarray]:
    """The columns (native int64 arrays) of a binary COPY stream of non-NULL integer columns `kinds`."""
    if bytes(data[: len(SIGNATURE)]) != SIGNATURE:
        raise ValueError("not a PostgreSQL binary COPY stream")
    extension = int.from_bytes(bytes(data[15:19]), "big")
    start = 19 + extension
    dtype = _row_dtype(kinds)
    body = len(data) - start - len(TRAILER)
    if body < 0 or body % dtype.itemsize:
        raise ValueError(f"binary COPY stream of {len(data)} bytes does not hold whole rows of {list(kinds)}")
    rows = np.frombuffer(data, dtype=dtype, count=body // dtype.itemsize, offset=start)
    if len(rows) and (rows["count"] != len(kinds)).any():
        raise ValueError("binary COPY stream has rows with an unexpected number of columns (or NULLs)")
    return [rows[f"v{i}"].astype(np.int64) for i in range(len(kinds))]
