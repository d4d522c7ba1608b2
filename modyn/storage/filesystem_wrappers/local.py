"""Datasets in a folder of the local filesystem."""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modyn.storage.filesystem_wrappers.base import FilesystemWrapper, PathOutsideDatasetError


class LocalFilesystemWrapper(FilesystemWrapper):
    """Reads a dataset's files from a local folder. Symlinks are followed only while they stay inside it."""

    type_name = "LocalFilesystemWrapper"

    def __init__(self, base_path: str, options: dict[str, Any] | None = None) -> None:
        root = Path(base_path).expanduser()
        if not root.is_absolute():
            raise ValueError(f"base_path: must be an absolute path, got '{base_path}'")
        super().__init__(str(root), options)
        self._root = root.resolve()

    @classmethod
    def normalize_base_path(cls, base_path: str) -> str:
        return str(Path(base_path).expanduser().absolute()) if base_path else base_path

    @classmethod
    def is_under(cls, base_path: str, root: str) -> bool:
        # Compared resolved (symlinks, '..'), so that an allowed root cannot be left through a link or '..'.
        real, real_root = Path(base_path).resolve(), Path(root).expanduser().resolve()
        return real == real_root or real_root in real.parents

    def check_base_path(self) -> None:
        if not self._root.is_dir():
            raise ValueError(f"base_path: '{self.base_path}' does not exist or is not a directory")

    def _full(self, path: str) -> Path:
        """The real location of a relative path; PathOutsideDatasetError if it leaves base_path."""
        if os.path.isabs(path):
            raise PathOutsideDatasetError(f"path '{path}' must be relative to the dataset's base_path")
        # Fast path: the root is already resolved, so a path without '..' whose components below the root
        # are no symlinks stays inside (one lstat per component instead of a full resolve()).
        parts = path.split("/")
        if ".." not in parts:
            current = str(self._root)
            for part in parts:
                current = os.path.join(current, part)
                if os.path.islink(current):
                    break
            else:
                return Path(current)
        full = (self._root / path).resolve()
        if full != self._root and self._root not in full.parents:
            raise PathOutsideDatasetError(f"path '{path}' is outside the dataset's base_path '{self.base_path}'")
        return full

    def list_files(self, extension: str) -> list[str]:
        self.check_base_path()  # a vanished dataset folder is an error, not an empty dataset
        found: list[str] = []
        # Iterative scandir walk: cheap d_type checks, and only symlinks pay for a resolve().
        pending = [("", str(self._root))]
        while pending:
            rel_dir, full_dir = pending.pop()
            with os.scandir(full_dir) as entries:
                for entry in entries:
                    rel = f"{rel_dir}{entry.name}"
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((f"{rel}/", entry.path))
                    elif entry.name.endswith(extension):
                        if entry.is_symlink():
                            if not self.exists(rel):  # dangling, or pointing out of the dataset
                                continue
                        elif not entry.is_file(follow_symlinks=False):
                            continue
                        found.append(rel)
        found.sort()
        return found

    def exists(self, path: str) -> bool:
        try:
            return self._full(path).is_file()
        except PathOutsideDatasetError:
            return False

    def mtime(self, path: str) -> float:
        return self._full(path).stat().st_mtime

    def size(self, path: str) -> int:
        return self._full(path).stat().st_size

    def read(self, path: str) -> bytes:
        return self._full(path).read_bytes()

    def read_ranges(self, path: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        out: list[bytes] = []
        with open(self._full(path), "rb") as handle:
            for offset, length in ranges:
                handle.seek(offset)
                data = handle.read(length)
                if len(data) != length:
                    raise OSError(f"{path}: short read at offset {offset} ({len(data)} of {length} bytes)")
                out.append(data)
        return out

    def read_records(self, path: str, record_size: int, indices: np.ndarray) -> np.ndarray:
        # A memory map: numpy gathers the records, the page cache serves them, no Python call per record.
        with open(self._full(path), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if not size:
                return np.empty((0, record_size), dtype=np.uint8)[indices]
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                records = np.frombuffer(mapped, dtype=np.uint8, count=size - size % record_size)
                try:
                    return records.reshape(-1, record_size)[indices]
                finally:
                    del records  # release the buffer before the map closes
