"""S3FilesystemWrapper and S3 datasets against a real S3-protocol server (moto's server mode, on loopback)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from storage_test_helpers import binary_record

from modyn.common.database import Database
from modyn.common.testing import free_port
from modyn.storage.filesystem_wrappers import PathOutsideDatasetError, S3FilesystemWrapper, make_filesystem_wrapper
from modyn.storage.storage_manager import InvalidDatasetError, StorageManager

BUCKET = "modyn-test-bucket"
CSV_CONFIG = {"file_extension": ".csv", "separator": ",", "label_index": 0}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[dict[str, Any]]:
    """A moto S3 server on a free loopback port; yields the `storage.s3` options that reach it."""
    from moto.server import ThreadedMotoServer

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")  # moto accepts any credentials; s3fs wants some
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"}
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: dict[str, Any]) -> Iterator[Any]:
    """A boto3 client with an empty bucket."""
    import boto3

    client = boto3.client("s3", **s3_server)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def put(s3: Any, key: str, body: bytes, mtime: int | None = None) -> None:
    metadata = {"mtime": str(mtime)} if mtime is not None else {}
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)


def test_s3_wrapper_lists_reads_and_confines(s3: Any, s3_server: dict[str, Any]) -> None:
    put(s3, "data/a.bin", b"0123456789", mtime=1234)
    put(s3, "data/sub/b.bin", b"xy")
    put(s3, "data/c.txt", b"not listed")
    put(s3, "other/d.bin", b"outside the prefix")
    fs = make_filesystem_wrapper("S3FilesystemWrapper", f"s3://{BUCKET}/data/", s3_server)
    assert isinstance(fs, S3FilesystemWrapper) and fs.base_path == f"s3://{BUCKET}/data"
    fs.check_base_path()
    assert fs.list_files(".bin") == ["a.bin", "sub/b.bin"]
    assert fs.read("a.bin") == b"0123456789"
    assert fs.size("sub/b.bin") == 2
    assert fs.read_ranges("a.bin", [(2, 3), (0, 1)]) == [b"234", b"0"]
    assert fs.mtime("a.bin") == 1234.0  # user metadata mtime wins over LastModified
    assert fs.mtime("sub/b.bin") > 1_600_000_000  # LastModified, set by the server
    assert fs.exists("a.bin") and not fs.exists("missing.bin")
    assert not fs.exists("../other/d.bin")
    with pytest.raises(PathOutsideDatasetError, match="outside the dataset's base_path"):
        fs.read("../other/d.bin")
    with pytest.raises(PathOutsideDatasetError, match="must be relative"):
        fs.read("/data/a.bin")
    with pytest.raises(OSError, match="short read"):
        fs.read_ranges("sub/b.bin", [(1, 5)])


def test_s3_wrapper_rejects_bad_base_paths_and_options(s3_server: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be an s3://bucket"):
        S3FilesystemWrapper("/local/folder", s3_server)
    with pytest.raises(ValueError, match=r"storage.s3: unknown option\(s\) colour"):
        S3FilesystemWrapper(f"s3://{BUCKET}", {**s3_server, "colour": "red"})
    with pytest.raises(ValueError, match="does not exist"):
        S3FilesystemWrapper("s3://no-such-bucket-here/x", s3_server).check_base_path()


def test_s3_dataset_ingest_and_serve(s3: Any, s3_server: dict[str, Any], db_config: dict[str, Any]) -> None:
    records = [(i % 5, bytes([i]) * 6) for i in range(40)]
    put(s3, "bin/p0.bin", b"".join(binary_record(lbl, data) for lbl, data in records[:30]), mtime=100)
    put(s3, "bin/p1.bin", b"".join(binary_record(lbl, data) for lbl, data in records[30:]), mtime=200)
    put(s3, "bin/bad.bin", b"123", mtime=150)  # not a multiple of record_size
    put(s3, "csv/rows.csv", b"1,a,b\n2,c,d\n", mtime=300)
    put(s3, "csv/broken.csv", b"1,a,b\n2,c\n", mtime=300)
    db = Database(db_config)
    manager = StorageManager(
        db,
        max_message_bytes=64,
        allowed_base_paths=[f"s3://{BUCKET}/bin", f"s3://{BUCKET}/csv"],
        filesystem_options={"S3FilesystemWrapper": s3_server},
    )
    try:
        binary = {"file_extension": ".bin", "record_size": 8, "label_size": 2, "byteorder": "little"}
        manager.register_dataset(
            "s3bin", f"s3://{BUCKET}/bin", "BinaryFileWrapper", binary, filesystem_wrapper_type="S3FilesystemWrapper"
        )
        result = manager.update_dataset("s3bin")
        assert (result.num_new_files, result.num_new_samples) == (2, 40)
        assert result.skipped_files == ["bad.bin: size 3 bytes is not a multiple of record_size 8"]
        pages = list(manager.get_new_data_since("s3bin", 0))
        keys = [k for p in pages for k in p.keys.tolist()]
        assert [t for p in pages for t in p.timestamps.tolist()] == [100] * 30 + [200] * 10
        # A few keys (range requests) and all keys (whole objects), in a chosen order.
        for wanted in ([keys[33], keys[2]], list(reversed(keys))):
            batches = list(manager.get_samples("s3bin", wanted))
            assert [k for b in batches for k in b.keys.tolist()] == wanted
            by_key = dict(zip(keys, records, strict=True))
            assert [s for b in batches for s in b.samples()] == [by_key[k][1] for k in wanted]
            assert [lbl for b in batches for lbl in b.labels.tolist()] == [by_key[k][0] for k in wanted]
        assert manager.update_dataset("s3bin").num_new_files == 0
        # A new object shows up in the next scan.
        put(s3, "bin/p2.bin", binary_record(9, b"zzzzzz"), mtime=300)
        assert manager.update_dataset("s3bin").num_new_samples == 1

        manager.register_dataset(
            "s3csv", f"s3://{BUCKET}/csv", "CsvFileWrapper", CSV_CONFIG, filesystem_wrapper_type="S3FilesystemWrapper"
        )
        result = manager.update_dataset("s3csv")
        assert (result.num_new_files, result.num_new_samples) == (1, 2)
        assert result.skipped_files == ["broken.csv: line 2 has 2 column(s), expected 3"]
        keys = [k for p in manager.get_new_data_since("s3csv", 0) for k in p.keys.tolist()]
        assert [s for b in manager.get_samples("s3csv", keys) for s in b.samples()] == [b"a,b", b"c,d"]

        with pytest.raises(InvalidDatasetError, match="not under an allowed root"):
            manager.register_dataset(
                "elsewhere",
                f"s3://{BUCKET}/binary",
                "BinaryFileWrapper",
                binary,
                filesystem_wrapper_type="S3FilesystemWrapper",
            )
    finally:
        db.dispose()
