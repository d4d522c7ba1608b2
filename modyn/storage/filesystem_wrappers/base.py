"""The interface every filesystem wrapper offers to the storage service."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence


class PathOutsideDatasetError(ValueError):
    """A path would leave the dataset's base_path (e.g. via '..' or a symlink)."""


class FilesystemWrapper(ABC):
    """Lists and reads the files of one dataset, addressed by paths relative to its base_path.

    Paths use '/' separators. A wrapper never serves anything outside its base_path.
    """

    def __init__(self, base_path: str) -> None:
        self.base_path = base_path

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
