"""Filesystem wrappers: how the storage lists and reads a dataset's files, by type name."""

from __future__ import annotations

from modyn.storage.filesystem_wrappers.base import FilesystemWrapper, PathOutsideDatasetError
from modyn.storage.filesystem_wrappers.local import LocalFilesystemWrapper

FILESYSTEM_WRAPPERS: dict[str, type[FilesystemWrapper]] = {
    "LocalFilesystemWrapper": LocalFilesystemWrapper,
}


def make_filesystem_wrapper(type_name: str, base_path: str) -> FilesystemWrapper:
    """The wrapper of type `type_name` rooted at base_path; ValueError for an unknown type or a bad base_path."""
    cls = FILESYSTEM_WRAPPERS.get(type_name)
    if cls is None:
        raise ValueError(
            f"filesystem_wrapper_type: unknown '{type_name}' (known: {', '.join(sorted(FILESYSTEM_WRAPPERS))})"
        )
    return cls(base_path)


__all__ = [
    "FILESYSTEM_WRAPPERS",
    "FilesystemWrapper",
    "LocalFilesystemWrapper",
    "PathOutsideDatasetError",
    "make_filesystem_wrapper",
]
