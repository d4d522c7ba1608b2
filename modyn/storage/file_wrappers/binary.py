"""Files of fixed-size binary records: an integer label, then the sample's bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from modyn.storage.file_wrappers.base import FileWrapper, MalformedFileError
from modyn.storage.filesystem_wrappers.base import FilesystemWrapper

# Reading the whole file beats many seeks once this share of its records is wanted.
WHOLE_FILE_READ_SHARE = 0.25


class BinaryFileWrapper(FileWrapper):
    """Each record is `record_size` bytes: the first `label_size` bytes are an unsigned integer label
    (`byteorder` little|big), the rest the sample's bytes. A file whose size is not a multiple of
    record_size is malformed.

    Config: `file_extension`, `record_size`, `label_size` (1..8, < record_size), `byteorder`.
    """

    type_name = "BinaryFileWrapper"
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
        data = fs.read(path)
        count = self._checked_count(len(data))
        rs, ls, order = self.record_size, self.label_size, self.byteorder
        labels = [int.from_bytes(data[i * rs : i * rs + ls], order) for i in range(count)]
        if ls == 8 and any(label >= 2**63 for label in labels):
            raise MalformedFileError("a label does not fit in int64")
        return labels

    def get_samples(self, fs: FilesystemWrapper, path: str, indices: Sequence[int]) -> list[bytes]:
        size = fs.size(path)
        count = self._checked_count(size)
        for i in indices:
            if not 0 <= i < count:
                raise IndexError(f"{path}: record {i} out of range (file has {count})")
        rs, ls = self.record_size, self.label_size
        if len(set(indices)) >= WHOLE_FILE_READ_SHARE * count:
            data = fs.read(path)
            return [data[i * rs + ls : (i + 1) * rs] for i in indices]
        return fs.read_ranges(path, [(i * rs + ls, rs - ls) for i in indices])

    def sample_size_hint(self, fs: FilesystemWrapper, path: str, number_of_samples: int) -> int:
        return self.record_size - self.label_size
