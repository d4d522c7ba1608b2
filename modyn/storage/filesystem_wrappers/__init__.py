"""Filesystem wrappers: how the storage lists and reads a dataset's files, by type name."""

from __future__ import annotations

from typing import Any

from modyn.storage.filesystem_wrappers.base import FilesystemWrapper, PathOutsideDatasetError
from modyn.storage.filesystem_wrappers.local import LocalFilesystemWrapper
from modyn.storage.filesystem_wrappers.s3 import S3FilesystemWrapper

FILESYSTEM_WRAPPERS: dict[str, type[FilesystemWrapper]] = {
    "LocalFilesystemWrapper": LocalFilesystemWrapper,
    "S3FilesystemWrapper": S3FilesystemWrapper,
}


def filesystem_wrapper_class(type_name: str) -> type[FilesystemWrapper]:
    """The wrapper class of that name; ValueError naming the known ones otherwise."""
    cls = FILESYSTEM_WRAPPERS.get(type_name)
    if cls is None:
        raise ValueError(
            f"filesystem_wrapper_type: unknown '{type_name}' (known: {', '.join(sorted(FILESYSTEM_WRAPPERS))})"
        )
    return cls


def make_filesystem_wrapper(type_name: str, base_path: str, options: dict[str, Any] | None = None) -> FilesystemWrapper:
    """The wrapper of type `type_name` rooted at base_path; ValueError for an unknown type or a bad base_path.

    `options`: the system config's section for that filesystem (e.g. `storage.s3`), if any.
    """
    return filesystem_wrapper_class(type_name)(base_path, options)


__all__ = [
    "FILESYSTEM_WRAPPERS",
    "FilesystemWrapper",
    "LocalFilesystemWrapper",
    "PathOutsideDatasetError",
    "S3FilesystemWrapper",
    "filesystem_wrapper_class",
    "make_filesystem_wrapper",
]
