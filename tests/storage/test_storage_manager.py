"""StorageManager on SQLite and PostgreSQL: registration, ingestion, queries, deletion, watchers."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from storage_test_helpers import BINARY_CONFIG, SINGLE_CONFIG, set_mtime, write_binary, write_single

from modyn.common.database import Database
from modyn.storage.models import File, Sample
from modyn.storage.sample_table import SampleTable
from modyn.storage.storage_manager import (
    DatasetConflictError,
    DatasetNotFoundError,
    DatasetUnavailableError,
    InvalidDatasetError,
    SampleReadError,
    StorageManager,
    UnknownKeysError,
)


@pytest.fixture
def manager(db_config: dict[str, Any]) -> Any:
    db = Database(db_config)
    manager = StorageManager(db, keys_per_message=2, max_message_bytes=1024)
    yield manager
    manager.stop_watchers()
    db.dispose()


def all_keys(chunks: Any) -> tuple[list[int], list[int], list[int]]:
    keys: list[int] = []
    timestamps: list[int] = []
    labels: list[int] = []
    for page in chunks:
        keys += page.keys.tolist()
        timestamps += page.timestamps.tolist()
        labels += page.labels.tolist()
    return keys, timestamps, labels


def flat_samples(batches: Any) -> list[tuple[int, bytes, int]]:
    """(key, sample bytes, label) of every sample of Get batches, in order."""
    return [
        (key, sample, label)
        for b in batches
        for key, sample, label in zip(b.keys.tolist(), b.samples(), b.labels.tolist(), strict=True)
    ]


def count_rows(manager: StorageManager, model: Any) -> int:
    with manager.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_ingest_single_sample_files(manager: StorageManager, single_folder: Path) -> None:
    assert manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG) is True
    result = manager.update_dataset("imgs")
    assert (result.num_new_files, result.num_new_samples, result.skipped_files) == (3, 3, [])
    assert manager.get_dataset_size("imgs") == 3

    keys, timestamps, labels = all_keys(manager.get_new_data_since("imgs", 0))
    assert timestamps == [100, 200, 200]
    assert labels == [0, 1, 2]  # files are ingested in path order: a, b, sub/c
    assert keys == sorted(keys) and len(set(keys)) == 3

    # Sample bytes equal what is on disk, in the requested order, with labels.
    got = flat_samples(manager.get_samples("imgs", [keys[2], keys[0]]))
    on_disk = [(single_folder / "sub/c.png").read_bytes(), (single_folder / "a.png").read_bytes()]
    assert got == [(keys[2], on_disk[0], 2), (keys[0], on_disk[1], 0)]

    # A second scan finds nothing new.
    again = manager.update_dataset("imgs")
    assert (again.num_new_files, again.num_new_samples) == (0, 0)
    assert manager.get_dataset_size("imgs") == 3


def test_new_file_is_ingested_alone(manager: StorageManager, single_folder: Path) -> None:
    manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("imgs")
    old_keys, _, _ = all_keys(manager.get_new_data_since("imgs", -1))
    write_single(single_folder, "d", b"new", 9, 300)
    result = manager.update_dataset("imgs")
    assert (result.num_new_files, result.num_new_samples) == (1, 1)
    keys, timestamps, labels = all_keys(manager.get_new_data_since("imgs", 200))
    assert (timestamps, labels) == ([300], [9])
    assert keys[0] > max(old_keys)


def test_fresh_file_waits_for_next_scan(manager: StorageManager, tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    image = folder / "x.png"
    image.write_bytes(b"being written")
    (folder / "x.label").write_text("4")
    manager.register_dataset("imgs", str(folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    assert manager.update_dataset("imgs").num_new_files == 0  # modified just now
    write_single(folder, "x", b"done", 4, 500)
    assert manager.update_dataset("imgs").num_new_samples == 1
    assert manager.get_dataset_size("imgs") == 1


def test_binary_file_keys_timestamps_labels(manager: StorageManager, tmp_path: Path) -> None:
    records = [(i % 7, i.to_bytes(6, "little")) for i in range(50)]
    write_binary(tmp_path / "bin" / "part1.bin", records, 1000)
    write_binary(tmp_path / "bin" / "part0.bin", records[:5], 900)
    manager.register_dataset("bin", str(tmp_path / "bin"), "BinaryFileWrapper", BINARY_CONFIG)
    result = manager.update_dataset("bin")
    assert (result.num_new_files, result.num_new_samples) == (2, 55)

    chunks = list(manager.get_data_in_interval("bin", 0, 10_000))
    assert all(len(c) <= 2 for c in chunks)  # keys_per_message
    keys, timestamps, labels = all_keys(chunks)
    assert timestamps == [900] * 5 + [1000] * 50
    assert labels == [i % 7 for i in range(5)] + [i % 7 for i in range(50)]
    assert keys == sorted(keys)

    # Get: bytes per record; messages bounded by max_message_bytes (1024 / 6 bytes = 170 samples).
    wanted = list(reversed(keys[5:]))
    messages = list(manager.get_samples("bin", wanted))
    got = flat_samples(messages)
    assert [k for k, _, _ in got] == wanted
    assert [s for _, s, _ in got] == [i.to_bytes(6, "little") for i in reversed(range(50))]
    assert [lbl for _, _, lbl in got] == [i % 7 for i in reversed(range(50))]
    assert [len(m.keys) for m in messages] == [50]  # 50 x 6 bytes fit one message
    assert all(len(m.data) <= 1024 for m in messages)


def test_get_splits_messages_by_bytes(db_config: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "big"
    for i in range(5):
        write_single(folder, f"s{i}", bytes([i]) * 400, i, 100 + i)
    db = Database(db_config)
    manager = StorageManager(db, max_message_bytes=1024)
    manager.register_dataset("big", str(folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("big")
    keys, _, _ = all_keys(manager.get_new_data_since("big", 0))
    messages = list(manager.get_samples("big", keys + keys[:2]))  # repeats come back once
    assert [len(m.keys) for m in messages] == [2, 2, 1]
    got = flat_samples(messages)
    assert [k for k, _, _ in got] == keys
    assert [s for _, s, _ in got] == [bytes([i]) * 400 for i in range(5)]
    assert [lbl for _, _, lbl in got] == list(range(5))
    db.dispose()


def test_queries_by_time(manager: StorageManager, tmp_path: Path) -> None:
    folder = tmp_path / "t"
    for i, ts in enumerate([10, 20, 20, 30, 40]):
        write_single(folder, f"f{i}", b"x", i, ts)
    manager.register_dataset("t", str(folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("t")
    assert all_keys(manager.get_new_data_since("t", 20))[1] == [30, 40]
    assert all_keys(manager.get_new_data_since("t", 19))[1] == [20, 20, 30, 40]
    assert all_keys(manager.get_data_in_interval("t", 20, 30))[1] == [20, 20, 30]
    assert all_keys(manager.get_data_in_interval("t", 41, 50))[0] == []
    assert all_keys(manager.get_new_data_since("t", 40))[0] == []


def test_malformed_files_are_skipped_and_reported(manager: StorageManager, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_binary(folder / "good.bin", [(1, b"abcdef")], 100)
    (folder / "bad.bin").write_bytes(b"x" * 11)
    (folder / "empty.bin").write_bytes(b"")
    set_mtime(folder / "bad.bin", 100)
    set_mtime(folder / "empty.bin", 100)
    manager.register_dataset("m", str(folder), "BinaryFileWrapper", BINARY_CONFIG)
    result = manager.update_dataset("m")
    assert (result.num_new_files, result.num_new_samples) == (1, 1)
    assert sorted(result.skipped_files) == [
        "bad.bin: size 11 bytes is not a multiple of record_size 8",
        "empty.bin: contains no samples",
    ]
    with manager.db.session() as session:
        assert list(session.scalars(select(File.path))) == ["good.bin"]


def test_missing_label_file_is_picked_up_later(manager: StorageManager, tmp_path: Path) -> None:
    folder = tmp_path / "l"
    write_single(folder, "x", b"img", None, 100)
    manager.register_dataset("l", str(folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    assert manager.update_dataset("l").skipped_files == ["x.png: label file 'x.label' is missing"]
    (folder / "x.label").write_text("3\n")
    assert manager.update_dataset("l").num_new_samples == 1
    assert all_keys(manager.get_new_data_since("l", 0))[2] == [3]


def test_failed_insert_leaves_no_partial_file(
    manager: StorageManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_binary(tmp_path / "b" / "f.bin", [(i, b"......") for i in range(20)], 100)
    manager.register_dataset("b", str(tmp_path / "b"), "BinaryFileWrapper", BINARY_CONFIG)
    original = SampleTable.insert

    def insert_then_fail(self: SampleTable, conn: Any, dataset_id: int, file_ids: Any, counts: Any, *rest: Any) -> None:
        original(self, conn, dataset_id, file_ids, counts, *rest)  # the samples reach the DB ...
        raise OSError("disk full")  # ... then the transaction fails

    monkeypatch.setattr(SampleTable, "insert", insert_then_fail)
    with pytest.raises(OSError, match="disk full"):
        manager.update_dataset("b")
    assert (count_rows(manager, File), count_rows(manager, Sample)) == (0, 0)
    monkeypatch.undo()
    assert manager.update_dataset("b").num_new_samples == 20
    assert (count_rows(manager, File), count_rows(manager, Sample)) == (1, 20)


def test_many_files_batched_across_transactions(db_config: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(30):
        write_single(folder, f"f{i:02d}", f"{i}".encode(), i, 100 + i)
    write_binary(folder.parent / "bin" / "big.bin", [(1, b"......")] * 25, 50)
    db = Database(db_config)
    manager = StorageManager(db, insertion_batch_size=8)
    manager.register_dataset("many", str(folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.register_dataset("bin", str(folder.parent / "bin"), "BinaryFileWrapper", BINARY_CONFIG)
    assert manager.update_dataset("many").num_new_samples == 30
    assert manager.update_dataset("bin").num_new_samples == 25  # larger than a batch: still one file, whole
    keys, timestamps, labels = all_keys(manager.get_new_data_since("many", 0))
    assert labels == list(range(30)) and timestamps == [100 + i for i in range(30)]
    assert keys == sorted(keys)
    db.dispose()


def test_unknown_keys_and_datasets(manager: StorageManager, single_folder: Path) -> None:
    manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("imgs")
    keys, _, _ = all_keys(manager.get_new_data_since("imgs", 0))
    with pytest.raises(UnknownKeysError, match=r"dataset 'imgs' has no sample with key\(s\) 999999"):
        list(manager.get_samples("imgs", [keys[0], 999_999]))
    with pytest.raises(DatasetNotFoundError, match="dataset 'nope' is not registered"):
        manager.get_dataset_size("nope")
    with pytest.raises(DatasetNotFoundError):
        manager.get_new_data_since("nope", 0)
    with pytest.raises(DatasetNotFoundError):
        manager.update_dataset("nope")
    assert not manager.dataset_exists("nope")
    assert manager.dataset_exists("imgs")


def test_file_gone_from_disk(manager: StorageManager, single_folder: Path) -> None:
    manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("imgs")
    keys, _, _ = all_keys(manager.get_new_data_since("imgs", 0))
    (single_folder / "a.png").unlink()
    with pytest.raises(SampleReadError, match="'a.png' can no longer be read"):
        list(manager.get_samples("imgs", keys))
    shutil.rmtree(single_folder)
    with pytest.raises(DatasetUnavailableError, match="dataset 'imgs': cannot list its files"):
        manager.update_dataset("imgs")
    assert manager.get_dataset_size("imgs") == 3  # what is stored stays queryable


def test_registration_rules(manager: StorageManager, single_folder: Path, tmp_path: Path) -> None:
    args = ("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    assert manager.register_dataset(*args) is True
    assert manager.register_dataset(*args, description="new words") is False  # idempotent
    assert manager.get_dataset("imgs").description == "new words"
    with pytest.raises(DatasetConflictError, match="different base_path"):
        manager.register_dataset("imgs", str(tmp_path), "SingleSampleFileWrapper", SINGLE_CONFIG)
    with pytest.raises(InvalidDatasetError, match="does not exist"):
        manager.register_dataset("x", str(tmp_path / "missing"), "SingleSampleFileWrapper", SINGLE_CONFIG)
    with pytest.raises(InvalidDatasetError, match="label_file_extension: is required"):
        manager.register_dataset("x", str(tmp_path), "SingleSampleFileWrapper", {"file_extension": ".png"})
    with pytest.raises(InvalidDatasetError, match="dataset name"):
        manager.register_dataset("a/b", str(tmp_path), "SingleSampleFileWrapper", SINGLE_CONFIG)
    assert manager.dataset_names() == ["imgs"]


def test_delete_data_and_dataset(manager: StorageManager, single_folder: Path) -> None:
    manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("imgs")
    keys, _, _ = all_keys(manager.get_new_data_since("imgs", 0))
    assert manager.delete_data("imgs", [keys[0], 424242]) == 1
    assert manager.delete_data("imgs", [keys[0]]) == 0  # a retry changes nothing
    assert manager.get_dataset_size("imgs") == 2
    assert manager.update_dataset("imgs").num_new_files == 0  # deleted samples are not re-ingested
    with pytest.raises(UnknownKeysError):
        list(manager.get_samples("imgs", [keys[0]]))

    assert manager.delete_dataset("imgs") is True
    assert manager.delete_dataset("imgs") is False
    assert not manager.dataset_exists("imgs")
    assert (count_rows(manager, File), count_rows(manager, Sample)) == (0, 0)
    # Registering it again ingests everything anew, under new keys.
    manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("imgs")
    new_keys, _, _ = all_keys(manager.get_new_data_since("imgs", 0))
    assert len(new_keys) == 3 and min(new_keys) > max(keys)


def test_keys_are_never_reused(manager: StorageManager, single_folder: Path) -> None:
    manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("imgs")
    keys, _, _ = all_keys(manager.get_new_data_since("imgs", 0))
    manager.delete_data("imgs", [max(keys)])
    write_single(single_folder, "z", b"z", 5, 900)
    manager.update_dataset("imgs")
    newest, _, _ = all_keys(manager.get_new_data_since("imgs", 800))
    assert newest[0] > max(keys)


def wait_until(condition: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_watcher_ingests_new_files_until_stopped(manager: StorageManager, single_folder: Path) -> None:
    manager.register_dataset(
        "imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG, file_watcher_interval=0.05
    )
    manager.start_watchers()
    assert wait_until(lambda: manager.get_dataset_size("imgs") == 3)
    write_single(single_folder, "later", b"later", 7, 400)
    assert wait_until(lambda: manager.get_dataset_size("imgs") == 4)
    manager.stop_watchers()
    assert not any(t.name.startswith("storage-watcher-") for t in threading.enumerate())
    write_single(single_folder, "after_stop", b"x", 8, 500)
    assert manager.update_dataset("imgs").num_new_files == 1  # an explicit scan still works


def test_watcher_for_dataset_registered_while_watching(manager: StorageManager, single_folder: Path) -> None:
    manager.start_watchers()
    manager.register_dataset("imgs", str(single_folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    assert wait_until(lambda: manager.get_dataset_size("imgs") == 3)  # scanned at once, not after 5 s
    assert manager.delete_dataset("imgs")  # stops its watcher too
    assert not any(t.name == "storage-watcher-imgs" for t in threading.enumerate())


# ------------------------------------------------------------------ cursor form of GetNewDataSince


def test_cursor_never_skips_late_samples_with_equal_or_older_timestamps(
    manager: StorageManager, tmp_path: Path
) -> None:
    folder = tmp_path / "live"
    write_single(folder, "a", b"a", 1, 500)
    write_single(folder, "b", b"b", 2, 500)
    manager.register_dataset("live", str(folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    assert manager.get_last_key("live") == 0  # empty: every later sample is > 0
    manager.update_dataset("live")
    first = all_keys(manager.get_new_data_after_key("live", 0))
    assert (first[1], first[2]) == ([500, 500], [1, 2])
    cursor = first[0][-1]
    assert manager.get_last_key("live") == cursor
    # Later arrivals with the same timestamp as the last one served, and an older one.
    write_single(folder, "c", b"c", 3, 500)
    write_single(folder, "d", b"d", 4, 100)
    manager.update_dataset("live")
    # The time form misses them (timestamp > 500 is empty); the cursor form does not.
    assert all_keys(manager.get_new_data_since("live", 500))[0] == []
    keys, timestamps, labels = all_keys(manager.get_new_data_after_key("live", cursor))
    assert (timestamps, labels) == ([500, 100], [3, 4])  # key order = arrival order
    assert keys == sorted(keys) and keys[0] > cursor
    assert all_keys(manager.get_new_data_after_key("live", keys[-1]))[0] == []
    assert manager.get_last_key("live") == keys[-1]


def test_cursor_pages_in_key_order(manager: StorageManager, tmp_path: Path) -> None:
    # keys_per_message = 2: five samples come in pages of 2, 2, 1, whatever their timestamps.
    folder = tmp_path / "p"
    for i, ts in enumerate([50, 10, 40, 20, 30]):
        write_single(folder, f"f{i}", b"x", i, ts)
    manager.register_dataset("p", str(folder), "SingleSampleFileWrapper", SINGLE_CONFIG)
    manager.update_dataset("p")
    pages = list(manager.get_new_data_after_key("p", 0))
    assert [len(p) for p in pages] == [2, 2, 1]
    keys, timestamps, labels = all_keys(pages)
    assert labels == [0, 1, 2, 3, 4] and timestamps == [50, 10, 40, 20, 30]
    assert keys == sorted(keys)
    assert all_keys(manager.get_new_data_after_key("p", keys[2]))[2] == [3, 4]


# ------------------------------------------------------------------ allowed roots


def test_allowed_base_paths(db_config: dict[str, Any], tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    inside = allowed / "mnist"
    write_single(inside, "a", b"a", 1, 100)
    outside = tmp_path / "secret"
    outside.mkdir()
    (allowed / "escape").symlink_to(outside)
    db = Database(db_config)
    manager = StorageManager(db, allowed_base_paths=[str(allowed)])
    try:
        assert manager.register_dataset("ok", str(inside), "SingleSampleFileWrapper", SINGLE_CONFIG)
        assert manager.register_dataset("root", str(allowed), "SingleSampleFileWrapper", SINGLE_CONFIG)
        for path in (outside, allowed / "escape", allowed / ".." / "secret", tmp_path / "allowed_not"):
            with pytest.raises(InvalidDatasetError, match="is not under an allowed root"):
                manager.register_dataset("bad", str(path), "SingleSampleFileWrapper", SINGLE_CONFIG)
        assert manager.dataset_names() == ["ok", "root"]
    finally:
        db.dispose()
    # A dataset registered earlier is refused once the roots no longer cover it.
    db = Database(db_config)
    narrower = StorageManager(db, allowed_base_paths=[str(inside)])
    try:
        assert narrower.update_dataset("ok").num_new_samples == 1
        with pytest.raises(DatasetUnavailableError, match="not under an allowed root"):
            narrower.update_dataset("root")
    finally:
        db.dispose()


# ------------------------------------------------------------------ a file written while the watcher runs


def test_file_being_written_is_ingested_once_complete(db_config: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    db = Database(db_config)
    manager = StorageManager(db, min_file_age_s=0.3)
    manager.register_dataset("w", str(folder), "BinaryFileWrapper", BINARY_CONFIG, file_watcher_interval=0.02)
    manager.start_watchers()
    seen_sizes: set[int] = set()
    try:
        path = folder / "growing.bin"
        with path.open("wb") as handle:
            for i in range(25):  # about 1 s of writing, one record at a time
                handle.write(i.to_bytes(2, "little") + bytes(6))
                handle.flush()
                seen_sizes.add(manager.get_dataset_size("w"))
                time.sleep(0.04)  # the writer's pace, not a wait for the system under test
        assert wait_until(lambda: manager.get_dataset_size("w") == 25)
        assert seen_sizes == {0}  # nothing of the file went in while it was being written
        keys, _, labels = all_keys(manager.get_new_data_since("w", -1))
        assert labels == list(range(25)) and len(set(keys)) == 25
        assert (count_rows(manager, File), count_rows(manager, Sample)) == (1, 25)
    finally:
        manager.stop_watchers()
        db.dispose()
