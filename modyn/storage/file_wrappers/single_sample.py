"""One sample per file (e.g. an image), its label an integer in a sibling file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modyn.storage.file_wrappers.base import FileWrapper, MalformedFileError, parse_label
from modyn.storage.filesystem_wrappers.base import FilesystemWrapper


class SingleSampleFileWrapper(FileWrapper):
    """A file is one sample (its whole bytes); `x.png` has its label in `x.label`.

    Config: `file_extension` (e.g. ".png"), `label_file_extension` (e.g. ".label").
    """

    type_name = "SingleSampleFileWrapper"
    config_keys = {
        "file_extension": (str, FileWrapper.REQUIRED),
        "label_file_extension": (str, FileWrapper.REQUIRED),
    }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.label_file_extension: str = self.config["label_file_extension"]
        if not self.label_file_extension:
            raise ValueError("file_wrapper_config.label_file_extension: must not be empty")
        if self.label_file_extension == self.file_extension:
            raise ValueError("file_wrapper_config.label_file_extension: must differ from file_extension")

    def label_path(self, path: str) -> str:
        return path[: len(path) - len(self.file_extension)] + self.label_file_extension

    def get_labels(self, fs: FilesystemWrapper, path: str) -> list[int]:
        label_path = self.label_path(path)
        if not fs.exists(label_path):
            raise MalformedFileError(f"label file '{label_path}' is missing")
        try:
            text = fs.read(label_path).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedFileError(f"label file '{label_path}' is not UTF-8 text") from None
        return [parse_label(text, f"label file '{label_path}'")]

    def get_number_of_samples(self, fs: FilesystemWrapper, path: str) -> int:
        return 1

    def get_samples(self, fs: FilesystemWrapper, path: str, indices: Sequence[int]) -> list[bytes]:
        if any(i != 0 for i in indices):
            raise IndexError(f"{path}: a single-sample file has only index 0, asked for {list(indices)[:5]}")
        data = fs.read(path)
        return [data] * len(indices)

    def sample_size_hint(self, fs: FilesystemWrapper, path: str, number_of_samples: int) -> int:
        return fs.size(path)
