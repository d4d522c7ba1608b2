"""Helpers for the storage tests: write dataset files with chosen modification times."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

SINGLE_CONFIG = {"file_extension": ".png", "label_file_extension": ".label"}
BINARY_CONFIG = {"file_extension": ".bin", "record_size": 8, "label_size": 2, "byteorder": "little"}


def set_mtime(path: Path, mtime: int) -> None:
    os.utime(path, (mtime, mtime))


def write_single(folder: Path, name: str, data: bytes, label: int | str | None, mtime: int) -> Path:
    """`name.png` with `data` and, unless label is None, `name.label`; the image gets `mtime`."""
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / f"{name}.png"
    image.write_bytes(data)
    if label is not None:
        (folder / f"{name}.label").write_text(str(label))
    set_mtime(image, mtime)
    return image


def binary_record(label: int, payload: bytes, label_size: int = 2, byteorder: str = "little") -> bytes:
    return label.to_bytes(label_size, byteorder) + payload  # type: ignore[arg-type]


def write_binary(path: Path, records: Sequence[tuple[int, bytes]], mtime: int) -> Path:
    """A BinaryFileWrapper file in BINARY_CONFIG's layout (2-byte label, 6-byte payload)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(binary_record(label, payload) for label, payload in records))
    set_mtime(path, mtime)
    return path
