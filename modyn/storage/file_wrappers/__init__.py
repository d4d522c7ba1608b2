"""File wrappers: how the storage reads samples and labels out of a dataset's files, by type name."""

from __future__ import annotations

from typing import Any

from modyn.storage.file_wrappers.base import FileWrapper, MalformedFileError
from modyn.storage.file_wrappers.binary import BinaryFileWrapper
from modyn.storage.file_wrappers.csv import CsvFileWrapper
from modyn.storage.file_wrappers.single_sample import SingleSampleFileWrapper

FILE_WRAPPERS: dict[str, type[FileWrapper]] = {
    "SingleSampleFileWrapper": SingleSampleFileWrapper,
    "BinaryFileWrapper": BinaryFileWrapper,
    "CsvFileWrapper": CsvFileWrapper,
}


def make_file_wrapper(type_name: str, config: dict[str, Any]) -> FileWrapper:
    """The wrapper of type `type_name` with a validated config; ValueError naming what is wrong."""
    cls = FILE_WRAPPERS.get(type_name)
    if cls is None:
        raise ValueError(f"file_wrapper_type: unknown '{type_name}' (known: {', '.join(sorted(FILE_WRAPPERS))})")
    return cls(config)


__all__ = [
    "FILE_WRAPPERS",
    "BinaryFileWrapper",
    "CsvFileWrapper",
    "FileWrapper",
    "MalformedFileError",
    "SingleSampleFileWrapper",
    "make_file_wrapper",
]
