"""Every storage RPC over a real loopback channel, with its error codes."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from storage_test_helpers import BINARY_CONFIG, SINGLE_CONFIG, write_binary, write_single

from modyn.common.clients.storage_client import StorageClient
from modyn.common.database import Database
from modyn.common.grpc_utils import SHORT_DEADLINE_S, GrpcServer, make_channel
from modyn.generated import storage_pb2 as pb
from modyn.generated.storage_pb2_grpc import StorageStub
from modyn.storage.servicer import add_storage_servicer
from modyn.storage.storage_manager import StorageManager

T = SHORT_DEADLINE_S


@pytest.fixture
def stub(db_config: dict[str, Any], port: int) -> Iterator[StorageStub]:
    db = Database(db_config)
    manager = StorageManager(db, keys_per_message=2, max_message_bytes=1024)
    with GrpcServer("storage-test", "127.0.0.1", port, add_storage_servicer(manager)):
        with make_channel("127.0.0.1", port) as channel:
            yield StorageStub(channel)
    manager.stop_watchers()
    db.dispose()


def register(stub: StorageStub, name: str, folder: Path, wrapper: str, config: dict[str, Any]) -> None:
    request = pb.RegisterNewDatasetRequest(
        dataset_id=name,
        base_path=str(folder),
        file_wrapper_type=wrapper,
        file_wrapper_config=json.dumps(config),
        filesystem_wrapper_type="LocalFilesystemWrapper",
        description="test data",
        version="1",
        file_watcher_interval=3600,  # the test scans explicitly
    )
    assert stub.RegisterNewDataset(request, timeout=T).success


def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "success"):
            list(result)
    return info.value.code(), info.value.details()


def test_register_update_and_query(stub: StorageStub, single_folder: Path) -> None:
    assert not stub.CheckAvailability(pb.DatasetAvailableRequest(dataset_id="imgs"), timeout=T).available
    register(stub, "imgs", single_folder, "SingleSampleFileWrapper", SINGLE_CONFIG)
    register(stub, "imgs", single_folder, "SingleSampleFileWrapper", SINGLE_CONFIG)  # a retry is fine
    assert stub.CheckAvailability(pb.DatasetAvailableRequest(dataset_id="imgs"), timeout=T).available

    update = stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="imgs"), timeout=T)
    assert (update.num_new_files, update.num_new_samples, list(update.skipped_files)) == (3, 3, [])
    assert stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="imgs"), timeout=T).num_new_files == 0
    size = stub.GetDatasetSize(pb.GetDatasetSizeRequest(dataset_id="imgs"), timeout=T)
    assert (size.success, size.num_keys) == (True, 3)

    new = list(stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="imgs", timestamp=0), timeout=T))
    assert [len(m.keys) for m in new] == [2, 1]  # keys_per_message = 2
    keys = [k for m in new for k in m.keys]
    assert [t for m in new for t in m.timestamps] == [100, 200, 200]
    assert [lbl for m in new for lbl in m.labels] == [0, 1, 2]

    interval = list(
        stub.GetDataInInterval(
            pb.GetDataInIntervalRequest(dataset_id="imgs", start_timestamp=150, end_timestamp=200), timeout=T
        )
    )
    assert [k for m in interval for k in m.keys] == keys[1:]
    since = stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="imgs", timestamp=200), timeout=T)
    assert [k for m in since for k in m.keys] == []

    got = list(stub.Get(pb.GetRequest(dataset_id="imgs", keys=[keys[1], keys[2]]), timeout=T))
    assert [k for m in got for k in m.keys] == [keys[1], keys[2]]
    assert [s for m in got for s in m.samples] == [
        (single_folder / "b.png").read_bytes(),
        (single_folder / "sub" / "c.png").read_bytes(),
    ]
    assert [lbl for m in got for lbl in m.labels] == [1, 2]


def test_get_streams_bounded_messages(stub: StorageStub, tmp_path: Path) -> None:
    records = [(i, i.to_bytes(6, "little")) for i in range(400)]
    write_binary(tmp_path / "b" / "f.bin", records, 100)
    register(stub, "bin", tmp_path / "b", "BinaryFileWrapper", BINARY_CONFIG)
    stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="bin"), timeout=T)
    keys = [k for m in stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="bin", timestamp=0)) for k in m.keys]
    messages = list(stub.Get(pb.GetRequest(dataset_id="bin", keys=keys), timeout=T))
    assert len(messages) == 3  # 400 samples of 6 bytes in messages of <= 1024 bytes
    assert all(sum(map(len, m.samples)) <= 1024 for m in messages)
    assert [s for m in messages for s in m.samples] == [payload for _, payload in records]
    assert [lbl for m in messages for lbl in m.labels] == list(range(400))


def test_update_reports_skipped_files(stub: StorageStub, tmp_path: Path) -> None:
    write_single(tmp_path / "d", "good", b"g", 1, 100)
    write_single(tmp_path / "d", "bad", b"b", "not-a-number", 100)
    register(stub, "d", tmp_path / "d", "SingleSampleFileWrapper", SINGLE_CONFIG)
    update = stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="d"), timeout=T)
    assert update.num_new_samples == 1
    assert list(update.skipped_files) == ["bad.png: label file 'bad.label': label 'not-a-number' is not an integer"]


def test_delete_data_and_dataset(stub: StorageStub, single_folder: Path) -> None:
    register(stub, "imgs", single_folder, "SingleSampleFileWrapper", SINGLE_CONFIG)
    stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="imgs"), timeout=T)
    keys = [k for m in stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="imgs", timestamp=0)) for k in m.keys]
    deleted = stub.DeleteData(pb.DeleteDataRequest(dataset_id="imgs", keys=keys[:2]), timeout=T)
    assert (deleted.success, deleted.num_deleted) == (True, 2)
    assert stub.DeleteData(pb.DeleteDataRequest(dataset_id="imgs", keys=keys[:2]), timeout=T).num_deleted == 0
    assert stub.GetDatasetSize(pb.GetDatasetSizeRequest(dataset_id="imgs"), timeout=T).num_keys == 1

    assert stub.DeleteDataset(pb.DatasetAvailableRequest(dataset_id="imgs"), timeout=T).success
    assert not stub.DeleteDataset(pb.DatasetAvailableRequest(dataset_id="imgs"), timeout=T).success
    assert not stub.CheckAvailability(pb.DatasetAvailableRequest(dataset_id="imgs"), timeout=T).available


def test_current_timestamp(stub: StorageStub) -> None:
    before = int(time.time())
    now = stub.GetCurrentTimestamp(pb.GetCurrentTimestampRequest(), timeout=T).timestamp
    assert before <= now <= int(time.time())


def test_unknown_dataset_is_not_found(stub: StorageStub) -> None:
    calls = [
        lambda: stub.Get(pb.GetRequest(dataset_id="ghost", keys=[1]), timeout=T),
        lambda: stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="ghost", timestamp=0), timeout=T),
        lambda: stub.GetDataInInterval(
            pb.GetDataInIntervalRequest(dataset_id="ghost", start_timestamp=0, end_timestamp=1), timeout=T
        ),
        lambda: stub.GetDatasetSize(pb.GetDatasetSizeRequest(dataset_id="ghost"), timeout=T),
        lambda: stub.DeleteData(pb.DeleteDataRequest(dataset_id="ghost", keys=[1]), timeout=T),
        lambda: stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="ghost"), timeout=T),
    ]
    for call in calls:
        assert code_of(call) == (grpc.StatusCode.NOT_FOUND, "dataset 'ghost' is not registered")


def test_unknown_key_is_not_found(stub: StorageStub, single_folder: Path) -> None:
    register(stub, "imgs", single_folder, "SingleSampleFileWrapper", SINGLE_CONFIG)
    stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="imgs"), timeout=T)
    code, details = code_of(lambda: stub.Get(pb.GetRequest(dataset_id="imgs", keys=[987654321]), timeout=T))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "987654321" in details


def test_vanished_files(stub: StorageStub, single_folder: Path) -> None:
    register(stub, "imgs", single_folder, "SingleSampleFileWrapper", SINGLE_CONFIG)
    stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="imgs"), timeout=T)
    keys = [k for m in stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="imgs", timestamp=0)) for k in m.keys]
    (single_folder / "b.png").unlink()
    code, details = code_of(lambda: stub.Get(pb.GetRequest(dataset_id="imgs", keys=keys), timeout=T))
    assert code == grpc.StatusCode.DATA_LOSS and "'b.png'" in details
    shutil.rmtree(single_folder)
    code, details = code_of(lambda: stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="imgs"), timeout=T))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "does not exist" in details


def test_bad_interval_is_invalid(stub: StorageStub, single_folder: Path) -> None:
    register(stub, "imgs", single_folder, "SingleSampleFileWrapper", SINGLE_CONFIG)
    code, details = code_of(
        lambda: stub.GetDataInInterval(
            pb.GetDataInIntervalRequest(dataset_id="imgs", start_timestamp=5, end_timestamp=1), timeout=T
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "start_timestamp 5" in details


INVALID_REGISTRATIONS: list[tuple[dict[str, Any], str]] = [
    ({"file_wrapper_config": "{not json"}, "file_wrapper_config: not valid JSON"),
    ({"file_wrapper_config": "[1]"}, "file_wrapper_config: must be a JSON object"),
    ({"file_wrapper_config": json.dumps({"file_extension": ".png"})}, "label_file_extension: is required"),
    ({"base_path": "/definitely/not/here"}, "'/definitely/not/here' does not exist"),
    ({"base_path": ""}, "base_path: must not be empty"),
    ({"file_wrapper_type": "HdfFileWrapper"}, "file_wrapper_type: unknown 'HdfFileWrapper'"),
    ({"filesystem_wrapper_type": "FtpFilesystemWrapper"}, "filesystem_wrapper_type: unknown"),
    ({"dataset_id": ""}, "dataset name ''"),
]


def test_register_invalid(stub: StorageStub, tmp_path: Path) -> None:
    # One server for all cases: a fresh PostgreSQL database per case would dominate the run time.
    for change, message in INVALID_REGISTRATIONS:
        fields: dict[str, Any] = {
            "dataset_id": "d",
            "base_path": str(tmp_path),
            "file_wrapper_type": "SingleSampleFileWrapper",
            "file_wrapper_config": json.dumps(SINGLE_CONFIG),
            **change,
        }
        code, details = code_of(lambda f=fields: stub.RegisterNewDataset(pb.RegisterNewDatasetRequest(**f), timeout=T))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (change, details)
        assert message in details, (change, details)
    assert not stub.CheckAvailability(pb.DatasetAvailableRequest(dataset_id="d"), timeout=T).available


def test_register_conflict(stub: StorageStub, single_folder: Path, tmp_path: Path) -> None:
    register(stub, "imgs", single_folder, "SingleSampleFileWrapper", SINGLE_CONFIG)
    code, details = code_of(
        lambda: register(stub, "imgs", tmp_path, "SingleSampleFileWrapper", SINGLE_CONFIG)  # type: ignore[func-returns-value]
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS and "dataset 'imgs'" in details


# ------------------------------------------------------------------ packed answers, cursor, last key, client


@pytest.fixture
def client(db_config: dict[str, Any], port: int) -> Iterator[StorageClient]:
    db = Database(db_config)
    manager = StorageManager(db, keys_per_message=3, max_message_bytes=20)
    with GrpcServer("storage-test", "127.0.0.1", port, add_storage_servicer(manager)):
        client = StorageClient("127.0.0.1", port)
        yield client
        client.close()
    manager.stop_watchers()
    db.dispose()


def test_packed_answers_equal_repeated_ones(stub: StorageStub, tmp_path: Path) -> None:
    records = [(i, i.to_bytes(6, "little")) for i in range(300)]
    write_binary(tmp_path / "b" / "f.bin", records, 100)
    register(stub, "bin", tmp_path / "b", "BinaryFileWrapper", BINARY_CONFIG)
    stub.UpdateDataset(pb.UpdateDatasetRequest(dataset_id="bin"), timeout=T)
    plain = list(stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="bin", timestamp=0), timeout=T))
    packed = list(
        stub.GetNewDataSince(pb.GetNewDataSinceRequest(dataset_id="bin", timestamp=0, packed=True), timeout=T)
    )
    assert len(plain) == len(packed) == 150  # keys_per_message = 2
    for p, q in zip(plain, packed, strict=True):
        assert not q.keys and not p.packed_keys
        assert list(p.keys) == np.frombuffer(q.packed_keys, "<i8").tolist()
        assert list(p.timestamps) == np.frombuffer(q.packed_timestamps, "<i8").tolist()
        assert list(p.labels) == np.frombuffer(q.packed_labels, "<i8").tolist()
    keys = [k for m in plain for k in m.keys][::-1]
    got = list(stub.Get(pb.GetRequest(dataset_id="bin", keys=keys, packed=True), timeout=T))
    assert [len(np.frombuffer(m.packed_keys, "<i8")) for m in got] == [170, 130]  # 1024 bytes / 6 per sample
    assert b"".join(m.packed_samples for m in got) == b"".join(payload for _, payload in reversed(records))
    assert all(set(np.frombuffer(m.packed_sample_lengths, "<i8").tolist()) == {6} for m in got)
    assert [lbl for m in got for lbl in np.frombuffer(m.packed_labels, "<i8").tolist()] == list(range(299, -1, -1))
    interval = list(
        stub.GetDataInInterval(
            pb.GetDataInIntervalRequest(dataset_id="bin", start_timestamp=100, end_timestamp=100, packed=True),
            timeout=T,
        )
    )
    assert [k for m in interval for k in np.frombuffer(m.packed_keys, "<i8").tolist()] == keys[::-1]


def test_client_follows_a_dataset_by_cursor(client: StorageClient, tmp_path: Path) -> None:
    folder = tmp_path / "live"
    write_single(folder, "a", b"aa", 1, 700)
    assert client.register_dataset(
        {
            "name": "live",
            "base_path": str(folder),
            "file_wrapper_type": "SingleSampleFileWrapper",
            "file_wrapper_config": SINGLE_CONFIG,
            "file_watcher_interval": 3600,
        }
    )
    client.update_dataset("live")
    cursor = client.last_key("live")
    served = [k for keys, _, _ in client.new_data_after_key("live", 0) for k in keys]
    assert served == [cursor]
    # Two samples arrive later with the timestamp of the last one served, one with an older timestamp.
    write_single(folder, "b", b"bb", 2, 700)
    write_single(folder, "c", b"cc", 3, 700)
    write_single(folder, "d", b"dd", 4, 10)
    client.update_dataset("live")
    chunks = list(client.new_data_after_key("live", cursor))
    assert [len(keys) for keys, _, _ in chunks] == [3]
    keys, timestamps, labels = chunks[0]
    assert (timestamps, labels) == ([700, 700, 10], [2, 3, 4]) and min(keys) > cursor
    assert list(client.new_data_after_key("live", keys[-1])) == []
    assert client.last_key("live") == keys[-1]
    # The other key queries and Get through the client (packed on the wire).
    assert [t for _, ts, _ in client.new_data_since("live", 10) for t in ts] == [700, 700, 700]
    assert [k for ks, _, _ in client.data_in_interval("live", 0, 100) for k in ks] == [keys[-1]]
    got = list(client.get_samples("live", [keys[2], cursor, keys[0]]))
    assert [len(k) for k, _, _ in got] == [3]  # 6 bytes fit one message of <= 20
    assert got[0] == ([keys[2], cursor, keys[0]], [b"dd", b"aa", b"bb"], [4, 1, 2])
    # The array forms answer the same, message for message (keys_per_message = 3).
    for arrays, lists in (
        (client.new_data_since_arrays("live", 0), client.new_data_since("live", 0)),
        (client.new_data_after_key_arrays("live", 0), client.new_data_after_key("live", 0)),
        (client.data_in_interval_arrays("live", 700, 700), client.data_in_interval("live", 700, 700)),
    ):
        as_lists = [(a.keys.tolist(), a.timestamps.tolist(), a.labels.tolist()) for a in arrays]
        assert as_lists == list(lists) and as_lists
    assert [len(a) for a in client.new_data_since_arrays("live", 0)] == [3, 1]


def test_get_last_key_of_unknown_dataset(stub: StorageStub) -> None:
    code, details = code_of(lambda: stub.GetLastKey(pb.GetLastKeyRequest(dataset_id="ghost"), timeout=T))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "dataset 'ghost' is not registered")


def test_register_outside_allowed_roots(db_config: dict[str, Any], port: int, tmp_path: Path) -> None:
    (tmp_path / "allowed").mkdir()
    (tmp_path / "other").mkdir()
    db = Database(db_config)
    manager = StorageManager(db, allowed_base_paths=[str(tmp_path / "allowed")])
    try:
        with GrpcServer("storage-test", "127.0.0.1", port, add_storage_servicer(manager)):
            with make_channel("127.0.0.1", port) as channel:
                stub = StorageStub(channel)
                register(stub, "ok", tmp_path / "allowed", "SingleSampleFileWrapper", SINGLE_CONFIG)
                code, details = code_of(
                    lambda: register(stub, "no", tmp_path / "other", "SingleSampleFileWrapper", SINGLE_CONFIG)  # type: ignore[func-returns-value]
                )
                assert code == grpc.StatusCode.INVALID_ARGUMENT
                assert f"base_path: '{tmp_path / 'other'}' is not under an allowed root" in details
    finally:
        db.dispose()
