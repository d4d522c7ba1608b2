"""Text files with one sample per row and the label in one column."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

from modyn.storage.file_wrappers.base import FileWrapper, MalformedFileError, parse_label
from modyn.storage.filesystem_wrappers.base import FilesystemWrapper


class CsvFileWrapper(FileWrapper):
    """One sample per row; the row is split on `separator` (no quoting), column `label_index` is the
    integer label, and the sample's bytes are the other columns joined with the separator, encoded.
    Every row must have as many columns as the first; blank lines are ignored.

    Config: `file_extension`, `separator` (","), `label_index`, `ignore_first_line` (false), `encoding` (utf-8).
    """

    type_name = "CsvFileWrapper"
    config_keys = {
        "file_extension": (str, FileWrapper.REQUIRED),
        "separator": (str, ","),
        "label_index": (int, FileWrapper.REQUIRED),
        "ignore_first_line": (bool, False),
        "encoding": (str, "utf-8"),
    }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.separator: str = self.config["separator"]
        self.label_index: int = self.config["label_index"]
        self.ignore_first_line: bool = self.config["ignore_first_line"]
        self.encoding: str = self.config["encoding"]
        if not self.separator or self.separator in "\r\n":
            raise ValueError(
                f"file_wrapper_config.separator: must be a non-empty, non-newline string, got {self.separator!r}"
            )
        if self.label_index < 0:
            raise ValueError(f"file_wrapper_config.label_index: must be >= 0, got {self.label_index}")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"file_wrapper_config.encoding: unknown encoding {self.encoding!r}") from None

    def _rows(self, fs: FilesystemWrapper, path: str) -> list[tuple[int, list[str]]]:
        """(line number, columns) of every data row; MalformedFileError on a bad file."""
        try:
            text = fs.read(path).decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise MalformedFileError(f"not valid {self.encoding} text ({exc.reason} at byte {exc.start})") from None
        lines = text.splitlines()
        first = 1 if self.ignore_first_line else 0
        rows: list[tuple[int, list[str]]] = []
        width = -1
        for number, line in enumerate(lines[first:], start=first + 1):
            if not line.strip():
                continue
            columns = line.split(self.separator)
            if width < 0:
                width = len(columns)
                if width <= self.label_index:
                    raise MalformedFileError(
                        f"line {number} has {width} column(s), fewer than label_index {self.label_index} + 1"
                    )
                if width < 2:
                    raise MalformedFileError(f"line {number} has no column besides the label")
            elif len(columns) != width:
                raise MalformedFileError(f"line {number} has {len(columns)} column(s), expected {width}")
            rows.append((number, columns))
        return rows

    def get_labels(self, fs: FilesystemWrapper, path: str) -> list[int]:
        return [parse_label(cols[self.label_index], f"line {number}") for number, cols in self._rows(fs, path)]

    def get_samples(self, fs: FilesystemWrapper, path: str, indices: Sequence[int]) -> list[bytes]:
        rows = self._rows(fs, path)
        out: list[bytes] = []
        li, sep = self.label_index, self.separator
        for i in indices:
            if not 0 <= i < len(rows):
                raise IndexError(f"{path}: row {i} out of range (file has {len(rows)})")
            cols = rows[i][1]
            out.append(sep.join(cols[:li] + cols[li + 1 :]).encode(self.encoding))
        return out

    def sample_size_hint(self, fs: FilesystemWrapper, path: str, number_of_samples: int) -> int:
        return fs.size(path) // max(1, number_of_samples) + 1
