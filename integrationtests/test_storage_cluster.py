"""Storage over the network: each file format, new data arriving, deletion."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import grpc
import pytest

from integrationtests.cluster_support import ClusterHandle
from modyn.generated import storage_pb2

OLD = 1_000_000  # file modification times well in the past, so files count as complete


def set_mtime(path: Path, ts: int) -> None:
    os.utime(path, (ts, ts))


def all_keys(cluster: ClusterHandle, dataset: str) -> list[tuple[int, int, int]]:
    """(timestamp, key, label) of every sample, in serving order."""
    return [
        (t, k, label)
        for keys, ts, labels in cluster.storage.data_in_interval(dataset, 0, 2**62)
        for k, t, label in zip(keys, ts, labels, strict=True)
    ]


def sample_bytes(cluster: ClusterHandle, dataset: str, keys: list[int]) -> dict[int, tuple[bytes, int]]:
    out: dict[int, tuple[bytes, int]] = {}
    for ks, samples, labels in cluster.storage.get_samples(dataset, keys):
        out.update({k: (s, label) for k, s, label in zip(ks, samples, labels, strict=True)})
    return out


def test_single_sample_files(cluster: ClusterHandle) -> None:
    name, folder = cluster.new_dataset(
        "single", "SingleSampleFileWrapper", {"file_extension": ".bin", "label_file_extension": ".lbl"}
    )
    for i in range(5):
        (folder / f"{i}.bin").write_bytes(bytes([i]) * (i + 1))
        (folder / f"{i}.lbl").write_text(str(i % 2))
        set_mtime(folder / f"{i}.bin", OLD + i)
    cluster.storage.update_dataset(name)  # (the watcher may have ingested them already)
    assert cluster.storage.dataset_size(name) == 5
    rows = all_keys(cluster, name)
    assert [(t, label) for t, _, label in rows] == [(OLD + i, i % 2) for i in range(5)]
    got = sample_bytes(cluster, name, [k for _, k, _ in rows])
    assert [got[k] for _, k, _ in rows] == [(bytes([i]) * (i + 1), i % 2) for i in range(5)]


def test_binary_records(cluster: ClusterHandle) -> None:
    config = {"file_extension": ".rec", "record_size": 12, "label_size": 4, "byteorder": "little"}
    name, folder = cluster.new_dataset("binary", "BinaryFileWrapper", config)
    records = [struct.pack("<I", i % 3) + struct.pack("<d", i * 0.5) for i in range(300)]
    for f in range(3):
        path = folder / f"part{f}.rec"
        path.write_bytes(b"".join(records[f * 100 : (f + 1) * 100]))
        set_mtime(path, OLD + f)
    (folder / "broken.rec").write_bytes(b"x" * 13)  # not a multiple of the record size: skipped, named
    set_mtime(folder / "broken.rec", OLD)
    # The watcher may ingest the files before this explicit scan: count what is stored, not what this scan added.
    # A malformed file is skipped, and named, on every scan.
    result = cluster.storage.update_dataset(name)
    assert any("broken.rec" in skipped for skipped in result.skipped_files)
    rows = all_keys(cluster, name)
    assert len(rows) == 300 and cluster.storage.dataset_size(name) == 300
    got = sample_bytes(cluster, name, [k for _, k, _ in rows])
    assert [got[k] for _, k, _ in rows] == [(r[4:], i % 3) for i, r in enumerate(records)]


def test_csv_rows(cluster: ClusterHandle) -> None:
    config = {"file_extension": ".csv", "separator": ",", "label_index": 1, "ignore_first_line": True}
    name, folder = cluster.new_dataset("csv", "CsvFileWrapper", config)
    (folder / "a.csv").write_text("x,label,y\n1.5,0,a\n2.5,1,b\n")
    set_mtime(folder / "a.csv", OLD)
    cluster.storage.update_dataset(name)
    rows = all_keys(cluster, name)
    got = sample_bytes(cluster, name, [k for _, k, _ in rows])
    assert [got[k] for _, k, _ in rows] == [(b"1.5,a", 0), (b"2.5,b", 1)]


def test_new_data_arrives_and_is_picked_up_by_the_watcher(cluster: ClusterHandle) -> None:
    config = {"file_extension": ".rec", "record_size": 8, "label_size": 4, "byteorder": "big"}
    name, folder = cluster.new_dataset("live", "BinaryFileWrapper", config)
    (folder / "first.rec").write_bytes(b"".join(struct.pack(">II", 1, i) for i in range(10)))
    set_mtime(folder / "first.rec", OLD)
    cluster.storage.update_dataset(name)
    first = all_keys(cluster, name)
    assert len(first) == 10
    (folder / "second.rec").write_bytes(b"".join(struct.pack(">II", 2, i) for i in range(7)))
    set_mtime(folder / "second.rec", OLD + 100)
    deadline = time.monotonic() + 60  # the watcher scans every second
    new: list[int] = []
    while time.monotonic() < deadline and len(new) < 7:
        new = [k for keys, _, _ in cluster.storage.new_data_since(name, OLD) for k in keys]
        time.sleep(0.5)
    assert len(new) == 7
    assert min(new) > max(k for _, k, _ in first), "keys increase in insertion order"
    assert {label for _, label in sample_bytes(cluster, name, new).values()} == {2}


def test_deleting_data_and_datasets(cluster: ClusterHandle) -> None:
    name, folder = cluster.new_dataset(
        "deletion", "SingleSampleFileWrapper", {"file_extension": ".bin", "label_file_extension": ".lbl"}
    )
    for i in range(4):
        (folder / f"{i}.bin").write_bytes(b"s%d" % i)
        (folder / f"{i}.lbl").write_text("0")
        set_mtime(folder / f"{i}.bin", OLD + i)
    cluster.storage.update_dataset(name)
    keys = [k for _, k, _ in all_keys(cluster, name)]
    response = cluster.storage.stub.DeleteData(
        storage_pb2.DeleteDataRequest(dataset_id=name, keys=keys[:2]), timeout=30
    )
    assert response.num_deleted == 2
    assert cluster.storage.dataset_size(name) == 2
    with pytest.raises(grpc.RpcError) as info:
        list(cluster.storage.get_samples(name, keys[:1]))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and str(keys[0]) in info.value.details()
    cluster.storage.update_dataset(name)  # a rescan does not bring deleted samples back
    assert cluster.storage.dataset_size(name) == 2
    assert (folder / "0.bin").exists(), "deleting data never deletes the user's files"
    assert cluster.storage.stub.DeleteDataset(storage_pb2.DatasetAvailableRequest(dataset_id=name), timeout=30).success
    assert not cluster.storage.dataset_available(name)
    with pytest.raises(grpc.RpcError) as info:
        cluster.storage.dataset_size(name)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
