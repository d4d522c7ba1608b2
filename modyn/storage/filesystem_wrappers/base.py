"""The interface every filesystem wrapper offers to the storage service."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

# read_records reads the whole file once this share of its records is wanted.
WHOLE_FILE_READ_SHARE = 0.25


class PathOutsideDatasetError(ValueError):
    """A path would leave the dataset's base_path (e.g. via '..' or a symlink)."""


class FilesystemWrapper(ABC):
    """Lists and reads the files of one dataset, addressed by paths relative to its base_path.

    Paths use '/' separators. A wrapper never serves anything outside its base_path.
    """

    type_name: ClassVar[str]
    # True where a file only becomes visible once it is complete (object stores): no settling time needed.
    atomic_writes: ClassVar[bool] = False
    # About how many bytes one more read request costs: a reader prefers one whole-file read over many
    # ranges when the file is smaller than (number of ranges) x this.
    request_cost_bytes: ClassVar[int] = 8 * 1024
    # How many files the ingestion reads at once from this filesystem (more where requests have latency).
    parallel_reads: ClassVar[int] = 2

    def __init__(self, base_path: str, options: dict[str, Any] | None = None) -> None:
        self.base_path = base_path
        self.options = dict(options or {})

    @classmethod
    def normalize_base_path(cls, base_path: str) -> str:
        """The canonical form of a base_path (e.g. absolute), used for storing and for the allowed roots."""
        return base_path

    @classmethod
    def is_under(cls, base_path: str, root: str) -> bool:
        """Whether a normalized base_path lies inside `root` (a normalized allowed root)."""
        root = root.rstrip("/")
        return base_path == root or base_path.startswith(root + "/")

    @abstractmethod
    def check_base_path(self) -> None:
        """Raise ValueError naming base_path unless it can be read (checked when a dataset is registered)."""

    @abstractmethod
    def list_files(self, extension: str) -> list[str]:
        """Relative paths of all files under base_path (recursively) whose name ends with extension, sorted."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def mtime(self, path: str) -> float:
        """Modification time in seconds since the epoch (fractional where the filesystem has it)."""

    @abstractmethod
    def size(self, path: str) -> int: ...

    @abstractmethod
    def read(self, path: str) -> bytes: ...

    @abstractmethod
    def read_ranges(self, path: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of each (offset, length) range, opening the file once."""

    def read_records(self, path: str, record_size: int, indices: np.ndarray) -> np.ndarray:
        """Records `indices` (in bounds) of a file of fixed-size records, as a (len(indices), record_size)
        uint8 array. Here: one whole read, or ranges when few of a large file's records are wanted;
        local files override it with a memory map."""
        size = self.size(path)
        distinct = len(np.unique(indices))
        # One whole read beats many range requests unless few of a large file's records are wanted.
        if distinct >= WHOLE_FILE_READ_SHARE * (size // record_size) or size <= distinct * self.request_cost_bytes:
            data = self.read(path)
            if len(data) != size:
                raise OSError(f"{path}: changed while being read ({len(data)} bytes, expected {size})")
            return np.frombuffer(data, dtype=np.uint8).reshape(-1, record_size)[indices]
        chunks = self.read_ranges(path, [(int(i) * record_size, record_size) for i in indices.tolist()])
        return np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(len(indices), record_size)
