"""The interface every file wrapper offers, and the config checks they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from modyn.storage.filesystem_wrappers.base import FilesystemWrapper


class MalformedFileError(ValueError):
    """A file cannot be ingested as it is; the message says why (the caller adds the path)."""


class FileWrapper(ABC):
    """Knows one file format: how many samples a file has, their labels, and their bytes.

    Constructed from the dataset's `file_wrapper_config`; the constructor validates it and raises a
    ValueError naming the offending key. Methods take the dataset's filesystem wrapper and a path
    relative to the dataset's base_path.
    """

    type_name: ClassVar[str]
    # Keys the config may carry: name -> (python type(s), default or REQUIRED).
    config_keys: ClassVar[dict[str, tuple[Any, Any]]]

    REQUIRED: ClassVar[object] = object()
    # True where each sample's label is stored with its bytes (get_sample_rows_and_labels reads both).
    labels_in_records: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = self._validated(config)
        self.file_extension: str = self.config["file_extension"]

    @classmethod
    def _validated(cls, config: Any) -> dict[str, Any]:
        if not isinstance(config, dict):
            raise ValueError(f"file_wrapper_config: must be a mapping, got {type(config).__name__}")
        unknown = sorted(set(config) - set(cls.config_keys))
        if unknown:
            raise ValueError(
                f"file_wrapper_config: unknown key(s) {', '.join(map(repr, unknown))} for {cls.type_name} "
                f"(allowed: {', '.join(sorted(cls.config_keys))})"
            )
        out: dict[str, Any] = {}
        for key, (types, default) in cls.config_keys.items():
            if key not in config:
                if default is FileWrapper.REQUIRED:
                    raise ValueError(f"file_wrapper_config.{key}: is required for {cls.type_name}")
                out[key] = default
                continue
            value = config[key]
            # bool is an int in Python; an int key must not accept true/false.
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
                names = " or ".join(t.__name__ for t in _as_tuple(types))
                raise ValueError(f"file_wrapper_config.{key}: must be {names}, got {value!r}")
            out[key] = value
        if not out["file_extension"]:
            raise ValueError("file_wrapper_config.file_extension: must not be empty")
        return out

    @abstractmethod
    def get_labels(self, fs: FilesystemWrapper, path: str) -> list[int]:
        """The label of every sample of the file, in order; checks the whole file.

        Raises MalformedFileError when the file (or its label file) is not valid.
        """

    def get_label_array(self, fs: FilesystemWrapper, path: str) -> np.ndarray:
        """get_labels as an int64 array (formats override it where they can parse labels vectorized)."""
        return np.asarray(self.get_labels(fs, path), dtype=np.int64)

    def get_number_of_samples(self, fs: FilesystemWrapper, path: str) -> int:
        return len(self.get_labels(fs, path))

    @property
    def fixed_sample_size(self) -> int | None:
        """The size of every sample in bytes where the format fixes it (then get_sample_rows is offered)."""
        return None

    def get_sample_rows(self, fs: FilesystemWrapper, path: str, indices: np.ndarray) -> np.ndarray:
        """For fixed-size formats: the samples at `indices` as a (len(indices), fixed_sample_size) uint8 array."""
        raise NotImplementedError(f"{self.type_name} has no fixed sample size")

    def get_sample_rows_and_labels(
        self, fs: FilesystemWrapper, path: str, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """get_sample_rows plus the int64 labels of those samples, where labels_in_records."""
        raise NotImplementedError(f"{self.type_name} keeps no labels with its samples")

    @abstractmethod
    def get_samples(self, fs: FilesystemWrapper, path: str, indices: Sequence[int]) -> list[bytes]:
        """The bytes of the samples at `indices` (any order, repeats allowed), reading the file once."""

    @abstractmethod
    def sample_size_hint(self, fs: FilesystemWrapper, path: str, number_of_samples: int) -> int:
        """A cheap estimate of one sample's size in bytes, to bound the memory of a Get."""


def _as_tuple(types: Any) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def parse_label(text: str, where: str) -> int:
    """An int64 label from text; MalformedFileError naming `where` otherwise."""
    try:
        value = int(text.strip())
    except ValueError:
        raise MalformedFileError(f"{where}: label {text.strip()[:40]!r} is not an integer") from None
    if not -(2**63) <= value < 2**63:
        raise MalformedFileError(f"{where}: label {value} does not fit in int64")
    return value
