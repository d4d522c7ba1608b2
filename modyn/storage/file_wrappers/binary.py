"""Files of fixed-size binary records: an integer label, then the sample's bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from modyn.storage.file_wrappers.base import FileWrapper, MalformedFileError
from modyn.storage.filesystem_wrappers.base import FilesystemWrapper


class BinaryFileWrapper(FileWrapper):
    """Each record is `record_size` bytes: the first `label_size` bytes are an unsigned integer label
    (`byteorder` little|big), the rest the sample's bytes. A file whose size is not a multiple of
    record_size is malformed.

    Config: `file_extension`, `record_size`, `label_size` (1..8, < record_size), `byteorder`.
    """

    type_name = "BinaryFileWrapper"
    labels_in_records = True
    config_keys = {
        "file_extension": (str, FileWrapper.REQUIRED),
        "record_size": (int, FileWrapper.REQUIRED),
        "label_size": (int, FileWrapper.REQUIRED),
        "byteorder": (str, "little"),
    }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.record_size: int = self.config["record_size"]
        self.label_size: int = self.config["label_size"]
        if self.config["byteorder"] not in ("little", "big"):
            raise ValueError(f"file_wrapper_config.byteorder: must be little or big, got {self.config['byteorder']!r}")
        self.byteorder: Literal["little", "big"] = self.config["byteorder"]
        if not 1 <= self.label_size <= 8:
            raise ValueError(f"file_wrapper_config.label_size: must be between 1 and 8, got {self.label_size}")
        if self.record_size <= self.label_size:
            raise ValueError(
                f"file_wrapper_config.record_size: must be > label_size ({self.label_size}), got {self.record_size}"
            )

    def _checked_count(self, size: int) -> int:
        if size % self.record_size != 0:
            raise MalformedFileError(f"size {size} bytes is not a multiple of record_size {self.record_size}")
        return size // self.record_size

    def get_number_of_samples(self, fs: FilesystemWrapper, path: str) -> int:
        return self._checked_count(fs.size(path))

    def get_labels(self, fs: FilesystemWrapper, path: str) -> list[int]:
        return [int(label) for label in self.get_label_array(fs, path)]

    def get_label_array(self, fs: FilesystemWrapper, path: str) -> np.ndarray:
        data = fs.read(path)
        count = self._checked_count(len(data))
        labels = self._labels_of(np.frombuffer(data, dtype=np.uint8).reshape(count, self.record_size))
        if self.label_size == 8 and count and int(labels.view(np.uint64).max()) >= 2**63:
            raise MalformedFileError("a label does not fit in int64")
        return labels

    def _labels_of(self, records: np.ndarray) -> np.ndarray:
        """The labels of (n, record_size) uint8 records as int64 (8-byte labels >= 2**63 wrap around)."""
        count = len(records)
        label_bytes = records[:, : self.label_size]
        if self.byteorder == "big":
            label_bytes = label_bytes[:, ::-1]
        # Little-endian bytes padded to 8 make an unsigned 64-bit integer, for any label_size.
        padded = np.zeros((count, 8), dtype=np.uint8)
        padded[:, : self.label_size] = label_bytes
        return padded.view("<i8").reshape(count).astype(np.int64)

    @property
    def fixed_sample_size(self) -> int:
        return self.record_size - self.label_size

    def get_samples(self, fs: FilesystemWrapper, path: str, indices: Sequence[int]) -> list[bytes]:
        rows = self.get_sample_rows(fs, path, np.asarray(indices, dtype=np.int64))
        return [row.tobytes() for row in rows]

    def get_sample_rows(self, fs: FilesystemWrapper, path: str, indices: np.ndarray) -> np.ndarray:
        return self._records(fs, path, indices)[:, self.label_size :]

    def get_sample_rows_and_labels(
        self, fs: FilesystemWrapper, path: str, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        records = self._records(fs, path, indices)
        return records[:, self.label_size :], self._labels_of(records)

    def _records(self, fs: FilesystemWrapper, path: str, indices: np.ndarray) -> np.ndarray:
        count = self._checked_count(fs.size(path))
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= count):
            bad = int(indices[(indices < 0) | (indices >= count)][0])
            raise IndexError(f"{path}: record {bad} out of range (file has {count})")
        records = fs.read_records(path, self.record_size, indices)
        if records.shape != (len(indices), self.record_size):
            raise OSError(f"{path}: changed while being read")
        return records

    def sample_size_hint(self, fs: FilesystemWrapper, path: str, number_of_samples: int) -> int:
        return self.record_size - self.label_size
