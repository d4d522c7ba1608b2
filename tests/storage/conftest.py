"""Fixtures of the storage tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_test_helpers import write_single


@pytest.fixture
def single_folder(tmp_path: Path) -> Path:
    """Three single-sample files (labels 0, 1, 2; times 100, 200, 200) in a nested folder."""
    folder = tmp_path / "single"
    write_single(folder, "a", b"\x89PNG-a", 0, 100)
    write_single(folder, "b", b"\x89PNG-bb", 1, 200)
    write_single(folder / "sub", "c", b"\x89PNG-ccc", 2, 200)
    return folder
