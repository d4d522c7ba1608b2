"""File wrappers and the local filesystem wrapper, on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_test_helpers import BINARY_CONFIG, SINGLE_CONFIG, write_binary, write_single

from modyn.storage.file_wrappers import (
    BinaryFileWrapper,
    CsvFileWrapper,
    MalformedFileError,
    SingleSampleFileWrapper,
    make_file_wrapper,
)
from modyn.storage.filesystem_wrappers import LocalFilesystemWrapper, PathOutsideDatasetError, make_filesystem_wrapper

# ------------------------------------------------------------------ local filesystem


def test_local_lists_recursively_by_extension(single_folder: Path) -> None:
    fs = LocalFilesystemWrapper(str(single_folder))
    assert fs.list_files(".png") == ["a.png", "b.png", "sub/c.png"]
    assert fs.list_files(".label") == ["a.label", "b.label", "sub/c.label"]
    assert fs.read("sub/c.png") == b"\x89PNG-ccc"
    assert fs.size("b.png") == 7
    assert int(fs.mtime("b.png")) == 200
    assert fs.read_ranges("b.png", [(1, 3), (0, 1)]) == [b"PNG", b"\x89"]


def test_local_never_leaves_base_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"secret")
    (root / "inside.png").write_bytes(b"ok")
    os.symlink(tmp_path / "secret.png", root / "link.png")
    fs = LocalFilesystemWrapper(str(root))
    assert fs.list_files(".png") == ["inside.png"]
    for bad in ("../secret.png", "link.png", str(tmp_path / "secret.png")):
        with pytest.raises(PathOutsideDatasetError):
            fs.read(bad)
    assert not fs.exists("../secret.png")


def test_local_rejects_missing_base_path(tmp_path: Path) -> None:
    missing = LocalFilesystemWrapper(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="does not exist"):
        missing.check_base_path()
    with pytest.raises(ValueError, match="does not exist"):
        missing.list_files(".png")
    with pytest.raises(ValueError, match="must be an absolute path"):
        LocalFilesystemWrapper("relative/path")
    with pytest.raises(ValueError, match="filesystem_wrapper_type: unknown 'S4'"):
        make_filesystem_wrapper("S4", str(tmp_path))


# ------------------------------------------------------------------ single-sample files


def test_single_sample_reads_bytes_and_label(single_folder: Path) -> None:
    fs = LocalFilesystemWrapper(str(single_folder))
    fw = SingleSampleFileWrapper(SINGLE_CONFIG)
    assert fw.get_labels(fs, "sub/c.png") == [2]
    assert fw.get_number_of_samples(fs, "sub/c.png") == 1
    assert fw.get_samples(fs, "b.png", [0]) == [b"\x89PNG-bb"]
    with pytest.raises(IndexError):
        fw.get_samples(fs, "b.png", [1])


@pytest.mark.parametrize(
    ("label", "reason"),
    [(None, "label file 'x.label' is missing"), ("cat", "is not an integer"), ("", "not an integer")],
)
def test_single_sample_malformed_label(tmp_path: Path, label: str | None, reason: str) -> None:
    write_single(tmp_path, "x", b"data", label, 100)
    with pytest.raises(MalformedFileError, match=reason):
        SingleSampleFileWrapper(SINGLE_CONFIG).get_labels(LocalFilesystemWrapper(str(tmp_path)), "x.png")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"file_extension": ".png"}, "label_file_extension: is required"),
        ({"file_extension": ".png", "label_file_extension": ".png"}, "must differ"),
        ({"file_extension": 3, "label_file_extension": ".l"}, "file_extension: must be str"),
        ({**SINGLE_CONFIG, "colour": True}, "unknown key"),
    ],
)
def test_single_sample_config_errors(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_file_wrapper("SingleSampleFileWrapper", config)


# ------------------------------------------------------------------ binary files


def test_binary_records(tmp_path: Path) -> None:
    records = [(7, b"abcdef"), (65535, b"ghijkl"), (0, b"mnopqr")]
    write_binary(tmp_path / "r.bin", records, 100)
    fs = LocalFilesystemWrapper(str(tmp_path))
    fw = BinaryFileWrapper(BINARY_CONFIG)
    assert fw.get_labels(fs, "r.bin") == [7, 65535, 0]
    assert fw.get_number_of_samples(fs, "r.bin") == 3
    assert fw.get_samples(fs, "r.bin", [2, 0, 2]) == [b"mnopqr", b"abcdef", b"mnopqr"]


def test_binary_sparse_reads_use_ranges(tmp_path: Path) -> None:
    records = [(i, i.to_bytes(6, "big")) for i in range(100)]
    write_binary(tmp_path / "r.bin", records, 100)
    fw = BinaryFileWrapper(BINARY_CONFIG)
    fs = LocalFilesystemWrapper(str(tmp_path))
    assert fw.get_samples(fs, "r.bin", [99, 3]) == [(99).to_bytes(6, "big"), (3).to_bytes(6, "big")]
    with pytest.raises(IndexError):
        fw.get_samples(fs, "r.bin", [100])


def test_binary_big_endian(tmp_path: Path) -> None:
    (tmp_path / "r.bin").write_bytes(b"\x01\x02xyz")
    fw = BinaryFileWrapper({"file_extension": ".bin", "record_size": 5, "label_size": 2, "byteorder": "big"})
    assert fw.get_labels(LocalFilesystemWrapper(str(tmp_path)), "r.bin") == [0x0102]


def test_binary_malformed_size(tmp_path: Path) -> None:
    (tmp_path / "r.bin").write_bytes(b"x" * 13)
    with pytest.raises(MalformedFileError, match="13 bytes is not a multiple of record_size 8"):
        BinaryFileWrapper(BINARY_CONFIG).get_labels(LocalFilesystemWrapper(str(tmp_path)), "r.bin")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"record_size": None}, "record_size: is required"),
        ({"record_size": 2}, "record_size: must be > label_size"),
        ({"label_size": 9}, "label_size: must be between 1 and 8"),
        ({"byteorder": "middle"}, "byteorder: must be little or big"),
        ({"record_size": "8"}, "record_size: must be int"),
        ({"record_size": True}, "record_size: must be int"),
    ],
)
def test_binary_config_errors(change: dict, message: str) -> None:
    config = {**BINARY_CONFIG, **change}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        make_file_wrapper("BinaryFileWrapper", config)


# ------------------------------------------------------------------ CSV files


def test_csv_rows(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a;label;b\n1;5;x\n\n2;6;y\n", encoding="utf-8")
    fw = CsvFileWrapper({"file_extension": ".csv", "separator": ";", "label_index": 1, "ignore_first_line": True})
    fs = LocalFilesystemWrapper(str(tmp_path))
    assert fw.get_labels(fs, "d.csv") == [5, 6]
    assert fw.get_samples(fs, "d.csv", [1, 0]) == [b"2;y", b"1;x"]


def test_csv_encoding(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes("3,héllo\n".encode("latin-1"))
    fs = LocalFilesystemWrapper(str(tmp_path))
    fw = CsvFileWrapper({"file_extension": ".csv", "label_index": 0, "encoding": "latin-1"})
    assert fw.get_samples(fs, "d.csv", [0]) == ["héllo".encode("latin-1")]
    with pytest.raises(MalformedFileError, match="not valid utf-8"):
        CsvFileWrapper({"file_extension": ".csv", "label_index": 0}).get_labels(fs, "d.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,a\n2,b,c\n", "line 2 has 3 column"),
        ("1,a\nx,b\n", "line 2: label 'x' is not an integer"),
        ("1\n", "no column besides the label"),
    ],
)
def test_csv_malformed(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "d.csv").write_text(text)
    fw = CsvFileWrapper({"file_extension": ".csv", "label_index": 0})
    with pytest.raises(MalformedFileError, match=message):
        fw.get_labels(LocalFilesystemWrapper(str(tmp_path)), "d.csv")


def test_csv_label_index_beyond_columns(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("1,a\n")
    fw = CsvFileWrapper({"file_extension": ".csv", "label_index": 2})
    with pytest.raises(MalformedFileError, match="fewer than label_index"):
        fw.get_labels(LocalFilesystemWrapper(str(tmp_path)), "d.csv")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"file_extension": ".csv"}, "label_index: is required"),
        ({"file_extension": ".csv", "label_index": -1}, "label_index: must be >= 0"),
        ({"file_extension": ".csv", "label_index": 0, "encoding": "klingon"}, "encoding: unknown"),
        ({"file_extension": ".csv", "label_index": 0, "separator": ""}, "separator"),
        ({"file_extension": ".csv", "label_index": 0, "ignore_first_line": "yes"}, "ignore_first_line: must be bool"),
        ({"file_extension": "", "label_index": 0}, "file_extension: must not be empty"),
    ],
)
def test_csv_config_errors(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_file_wrapper("CsvFileWrapper", config)


def test_unknown_file_wrapper_type() -> None:
    with pytest.raises(ValueError, match="file_wrapper_type: unknown 'ParquetFileWrapper'"):
        make_file_wrapper("ParquetFileWrapper", {})
