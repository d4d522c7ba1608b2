"""The storage service's logic, without gRPC: datasets, ingestion, key and sample queries, watchers."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, tuple_

from modyn.common.database import Database
from modyn.storage.file_wrappers import FileWrapper, MalformedFileError, make_file_wrapper
from modyn.storage.filesystem_wrappers import FilesystemWrapper, make_filesystem_wrapper
from modyn.storage.models import Dataset, File, Sample, StorageBase

logger = logging.getLogger(__name__)

DATASET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
DEFAULT_FILE_WATCHER_INTERVAL_S = 5.0
# Bound on bound parameters per IN (...) query; well below SQLite's and PostgreSQL's limits.
QUERY_CHUNK = 5_000
# Files whose modification time is this close to now may still be being written.
DEFAULT_MIN_FILE_AGE_S = 1.0


class StorageError(Exception):
    """Base of the storage manager's errors; each message names the thing that is wrong."""


class DatasetNotFoundError(StorageError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"dataset '{name}' is not registered")
        self.name = name


class DatasetConflictError(StorageError):
    """A dataset of that name exists with a different data-defining config."""


class InvalidDatasetError(StorageError, ValueError):
    """A dataset registration is invalid (bad name, base_path or wrapper config)."""


class UnknownKeysError(StorageError, LookupError):
    def __init__(self, dataset: str, keys: Sequence[int]) -> None:
        shown = ", ".join(map(str, keys[:10])) + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "")
        super().__init__(f"dataset '{dataset}' has no sample with key(s) {shown}")
        self.keys = list(keys)


class DatasetUnavailableError(StorageError):
    """A registered dataset's folder cannot be read (e.g. it was removed)."""


class SampleReadError(StorageError):
    """An ingested file can no longer be read (deleted or changed on disk)."""


@dataclass(frozen=True)
class DatasetInfo:
    id: int
    name: str
    description: str
    version: str
    base_path: str
    filesystem_wrapper_type: str
    file_wrapper_type: str
    file_wrapper_config: dict[str, Any]
    file_watcher_interval: float


@dataclass
class UpdateResult:
    """The outcome of one ingestion scan."""

    num_new_files: int = 0
    num_new_samples: int = 0
    # "path: reason" for every malformed file that was skipped.
    skipped_files: list[str] = field(default_factory=list)


@dataclass
class _Handle:
    info: DatasetInfo
    fs: FilesystemWrapper
    fw: FileWrapper


@dataclass
class _PendingFile:
    path: str
    mtime: int
    labels: list[int]


class StorageManager:
    """Owns the storage database: registers datasets, ingests their files, answers queries.

    Thread-safe: scans of one dataset are serialized by a per-dataset lock; queries run freely.
    """

    def __init__(
        self,
        db: Database,
        keys_per_message: int = 100_000,
        max_message_bytes: int = 4 * 1024 * 1024,
        insertion_batch_size: int = 100_000,
        min_file_age_s: float = DEFAULT_MIN_FILE_AGE_S,
    ) -> None:
        self.db = db
        self.keys_per_message = keys_per_message
        self.max_message_bytes = max_message_bytes
        self.insertion_batch_size = insertion_batch_size
        self.min_file_age_s = min_file_age_s
        # A Get reads at most about this many sample bytes into memory at once.
        self.get_window_bytes = max(64 * 1024 * 1024, 4 * max_message_bytes)
        self._handles: dict[str, _Handle] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._watchers: dict[str, _DatasetWatcher] = {}
        self._watching = False
        self._warned: set[tuple[str, str, str]] = set()
        db.create_tables(StorageBase.metadata)

    # ---------------------------------------------------------------- datasets

    def register_dataset(
        self,
        name: str,
        base_path: str,
        file_wrapper_type: str,
        file_wrapper_config: dict[str, Any] | None = None,
        description: str = "",
        version: str = "1",
        filesystem_wrapper_type: str = "LocalFilesystemWrapper",
        file_watcher_interval: float = DEFAULT_FILE_WATCHER_INTERVAL_S,
    ) -> bool:
        """Register a dataset; True if it is new. Idempotent for the same config.

        Re-registering a name with the same base_path and wrappers only updates description, version and
        watcher interval; a different base_path or wrapper config raises DatasetConflictError.
        """
        if not isinstance(name, str) or not DATASET_NAME_PATTERN.match(name):
            raise InvalidDatasetError(f"dataset name {name!r} must match {DATASET_NAME_PATTERN.pattern}")
        if not file_watcher_interval > 0:
            raise InvalidDatasetError(f"file_watcher_interval: must be > 0, got {file_watcher_interval}")
        base_path = str(Path(base_path).expanduser().absolute()) if base_path else base_path
        try:
            fs = make_filesystem_wrapper(filesystem_wrapper_type, base_path)
            fs.check_base_path()
            fw = make_file_wrapper(file_wrapper_type, file_wrapper_config or {})
        except ValueError as exc:
            raise InvalidDatasetError(f"dataset '{name}': {exc}") from None
        config_json = json.dumps(fw.config, sort_keys=True)
        with self._dataset_lock(name), self.db.session() as session:
            row = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
            created = row is None
            if row is None:
                row = Dataset(
                    name=name,
                    base_path=base_path,
                    filesystem_wrapper_type=filesystem_wrapper_type,
                    file_wrapper_type=file_wrapper_type,
                    file_wrapper_config=config_json,
                )
                session.add(row)
            else:
                differences = [
                    what
                    for what, old, new in (
                        ("base_path", row.base_path, base_path),
                        ("filesystem_wrapper_type", row.filesystem_wrapper_type, filesystem_wrapper_type),
                        ("file_wrapper_type", row.file_wrapper_type, file_wrapper_type),
                        ("file_wrapper_config", json.loads(row.file_wrapper_config), fw.config),
                    )
                    if old != new
                ]
                if differences:
                    raise DatasetConflictError(
                        f"dataset '{name}' is already registered with a different {', '.join(differences)}; "
                        "delete it first to register it anew"
                    )
            row.description = description
            row.version = version
            row.file_watcher_interval = float(file_watcher_interval)
            session.flush()
            info = _info(row)
        with self._guard:
            self._handles[name] = _Handle(info, fs, fw)
        logger.info("dataset '%s' %s (%s)", name, "registered" if created else "already registered", base_path)
        if self._watching:
            self._start_watcher(name, initial_delay=0.0)
        return created

    def dataset_exists(self, name: str) -> bool:
        try:
            self._handle(name)
        except DatasetNotFoundError:
            return False
        return True

    def dataset_names(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(Dataset.name).order_by(Dataset.id)))

    def get_dataset(self, name: str) -> DatasetInfo:
        return self._handle(name).info

    def delete_dataset(self, name: str) -> bool:
        """Delete a dataset with all its files' and samples' records (not the files). False if unknown."""
        self._stop_watcher(name)
        with self._dataset_lock(name):
            with self._guard:
                self._handles.pop(name, None)
            with self.db.session() as session:
                dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == name))
                if dataset_id is None:
                    return False
                session.execute(delete(Sample).where(Sample.dataset_id == dataset_id))
                session.execute(delete(File).where(File.dataset_id == dataset_id))
                session.execute(delete(Dataset).where(Dataset.id == dataset_id))
        logger.info("dataset '%s' deleted", name)
        return True

    def _handle(self, name: str) -> _Handle:
        with self._guard:
            handle = self._handles.get(name)
        if handle is not None:
            return handle
        with self.db.session() as session:
            row = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
            if row is None:
                raise DatasetNotFoundError(name)
            info = _info(row)
        handle = _Handle(
            info,
            make_filesystem_wrapper(info.filesystem_wrapper_type, info.base_path),
            make_file_wrapper(info.file_wrapper_type, info.file_wrapper_config),
        )
        with self._guard:
            self._handles[name] = handle
        return handle

    def _dataset_lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    # ---------------------------------------------------------------- ingestion

    def update_dataset(self, name: str, stop: threading.Event | None = None) -> UpdateResult:
        """Scan the dataset's folder and ingest every new, complete, well-formed file.

        A file goes in together with all of its samples in one transaction (several small files may
        share one). Files modified within the last `min_file_age_s` are left for the next scan.
        """
        with self._dataset_lock(name):
            handle = self._handle(name)
            fs, fw, dataset_id = handle.fs, handle.fw, handle.info.id
            result = UpdateResult()
            try:
                paths = fs.list_files(fw.file_extension)
            except (ValueError, OSError) as exc:
                raise DatasetUnavailableError(f"dataset '{name}': cannot list its files: {exc}") from None
            with self.db.session() as session:
                known = set(session.scalars(select(File.path).where(File.dataset_id == dataset_id)))
            pending: list[_PendingFile] = []
            pending_samples = 0
            for path in paths:
                if path in known:
                    continue
                if stop is not None and stop.is_set():
                    break  # shutting down: what is gathered still goes in whole
                new = self._inspect(fs, fw, path, result)
                if new is None:
                    continue
                if pending and pending_samples + len(new.labels) > self.insertion_batch_size:
                    self._insert_files(dataset_id, pending, result)
                    pending, pending_samples = [], 0
                pending.append(new)
                pending_samples += len(new.labels)
            if pending:
                self._insert_files(dataset_id, pending, result)
        if result.num_new_files or result.skipped_files:
            logger.info(
                "dataset '%s': ingested %d file(s) with %d sample(s), skipped %d",
                name,
                result.num_new_files,
                result.num_new_samples,
                len(result.skipped_files),
            )
        return result

    def _inspect(self, fs: FilesystemWrapper, fw: FileWrapper, path: str, result: UpdateResult) -> _PendingFile | None:
        """Read and check one new file; None if it must wait or is malformed (then noted in result)."""
        try:
            mtime = fs.mtime(path)
            if abs(time.time() - mtime) < self.min_file_age_s:
                return None  # may still be being written; the next scan takes it
            labels = fw.get_labels(fs, path)
            if fs.mtime(path) != mtime:
                return None  # changed while we read it
        except FileNotFoundError:
            return None  # vanished between listing and reading
        except (MalformedFileError, OSError) as exc:
            self._skip(fs, path, str(exc), result)
            return None
        if not labels:
            self._skip(fs, path, "contains no samples", result)
            return None
        return _PendingFile(path, int(mtime), labels)

    def _skip(self, fs: FilesystemWrapper, path: str, reason: str, result: UpdateResult) -> None:
        result.skipped_files.append(f"{path}: {reason}")
        # Every scan meets a bad file again; warn once per file and reason, not every few seconds.
        marker = (fs.base_path, path, reason)
        with self._guard:
            first_time = marker not in self._warned
            self._warned.add(marker)
        if first_time:
            logger.warning("skipping malformed file '%s' in %s: %s", path, fs.base_path, reason)

    def _insert_files(self, dataset_id: int, files: list[_PendingFile], result: UpdateResult) -> None:
        with self.db.session() as session:
            conn = session.connection()
            file_ids = list(
                conn.execute(
                    insert(File).returning(File.id, sort_by_parameter_order=True),
                    [
                        {"dataset_id": dataset_id, "path": f.path, "mtime": f.mtime, "number_of_samples": len(f.labels)}
                        for f in files
                    ],
                ).scalars()
            )
            rows = (
                (dataset_id, file_id, index, f.mtime, label)
                for f, file_id in zip(files, file_ids, strict=True)
                for index, label in enumerate(f.labels)
            )
            self._bulk_insert_samples(conn, rows)
        result.num_new_files += len(files)
        result.num_new_samples += sum(len(f.labels) for f in files)

    def _bulk_insert_samples(self, conn: Connection, rows: Iterable[tuple[int, int, int, int, int]]) -> None:
        """Insert sample rows in the connection's transaction, keys assigned in row order."""
        cursor = conn.connection.cursor()
        try:
            if self.db.is_postgres:
                # COPY is several times faster than any INSERT form on PostgreSQL.
                buffer = io.StringIO("".join(f"{d}\t{f}\t{i}\t{t}\t{lbl}\n" for d, f, i, t, lbl in rows))
                cursor.copy_expert(
                    "COPY samples (dataset_id, file_id, index_in_file, timestamp, label) FROM STDIN", buffer
                )
            else:
                cursor.executemany(
                    "INSERT INTO samples (dataset_id, file_id, index_in_file, timestamp, label) VALUES (?, ?, ?, ?, ?)",
                    rows,  # type: ignore[arg-type]  # sqlite3 takes any iterable
                )
        finally:
            cursor.close()

    # ---------------------------------------------------------------- watchers

    def start_watchers(self) -> None:
        """Watch every registered dataset (and those registered later) until stop_watchers."""
        self._watching = True
        for name in self.dataset_names():
            self._start_watcher(name, initial_delay=None)

    def stop_watchers(self, timeout_s: float = 30.0) -> None:
        self._watching = False
        with self._guard:
            watchers = list(self._watchers.values())
            self._watchers.clear()
        for watcher in watchers:
            watcher.stop.set()
        for watcher in watchers:
            watcher.join(timeout_s)

    def _start_watcher(self, name: str, initial_delay: float | None) -> None:
        with self._guard:
            if name in self._watchers:
                return
            watcher = _DatasetWatcher(self, name, initial_delay)
            self._watchers[name] = watcher
        watcher.start()

    def _stop_watcher(self, name: str) -> None:
        with self._guard:
            watcher = self._watchers.pop(name, None)
        if watcher is not None:
            watcher.stop.set()
            if watcher is not threading.current_thread():
                watcher.join(30.0)

    # ---------------------------------------------------------------- queries

    def get_new_data_since(self, name: str, timestamp: int) -> Iterator[tuple[list[int], list[int], list[int]]]:
        """(keys, timestamps, labels) chunks of samples with timestamp > `timestamp`, by (timestamp, key)."""
        return self._keys_in_range(name, Sample.timestamp > timestamp)

    def get_data_in_interval(self, name: str, start: int, end: int) -> Iterator[tuple[list[int], list[int], list[int]]]:
        """(keys, timestamps, labels) chunks of samples with start <= timestamp <= end, by (timestamp, key)."""
        return self._keys_in_range(name, Sample.timestamp >= start, Sample.timestamp <= end)

    def _keys_in_range(
        self, name: str, *conditions: ColumnElement[bool]
    ) -> Iterator[tuple[list[int], list[int], list[int]]]:
        dataset_id = self._handle(name).info.id  # raises now, not at the first next()

        def chunks() -> Iterator[tuple[list[int], list[int], list[int]]]:
            # Keyset pagination: each page is a short query, so a slow reader holds no connection.
            after: tuple[int, int] | None = None
            while True:
                query = select(Sample.key, Sample.timestamp, Sample.label).where(
                    Sample.dataset_id == dataset_id, *conditions
                )
                if after is not None:
                    query = query.where(tuple_(Sample.timestamp, Sample.key) > tuple_(*after))
                query = query.order_by(Sample.timestamp, Sample.key).limit(self.keys_per_message)
                with self.db.session() as session:
                    rows = session.execute(query).all()
                if not rows:
                    return
                yield [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
                if len(rows) < self.keys_per_message:
                    return
                after = (rows[-1][1], rows[-1][0])

        return chunks()

    def get_samples(self, name: str, keys: Sequence[int]) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
        """(keys, sample bytes, labels) messages for the requested keys, each at most max_message_bytes of
        samples (or one sample), in the requested order; a repeated key is returned once.

        Raises UnknownKeysError (before anything is yielded) if a key is not in the dataset.
        """
        handle = self._handle(name)
        wanted = list(dict.fromkeys(int(k) for k in keys))
        located: dict[int, tuple[int, int, int]] = {}  # key -> (file id, index in file, label)
        files: dict[int, tuple[str, int]] = {}  # file id -> (path, number of samples)
        with self.db.session() as session:
            for start in range(0, len(wanted), QUERY_CHUNK):
                chunk = wanted[start : start + QUERY_CHUNK]
                for key, file_id, index, label in session.execute(
                    select(Sample.key, Sample.file_id, Sample.index_in_file, Sample.label).where(
                        Sample.dataset_id == handle.info.id, Sample.key.in_(chunk)
                    )
                ):
                    located[key] = (file_id, index, label)
            missing = [k for k in wanted if k not in located]
            if missing:
                raise UnknownKeysError(name, missing)
            file_ids = sorted({loc[0] for loc in located.values()})
            for start in range(0, len(file_ids), QUERY_CHUNK):
                for file_id, path, count in session.execute(
                    select(File.id, File.path, File.number_of_samples).where(
                        File.id.in_(file_ids[start : start + QUERY_CHUNK])
                    )
                ):
                    files[file_id] = (path, count)
        return self._read_samples(handle, wanted, located, files)

    def _read_samples(
        self,
        handle: _Handle,
        wanted: list[int],
        located: dict[int, tuple[int, int, int]],
        files: dict[int, tuple[str, int]],
    ) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
        fs, fw = handle.fs, handle.fw
        size_hints: dict[int, int] = {}

        def hint(file_id: int) -> int:
            if file_id not in size_hints:
                path, count = files[file_id]
                try:
                    size_hints[file_id] = fw.sample_size_hint(fs, path, count)
                except OSError:
                    size_hints[file_id] = 0  # the read below reports the problem
            return size_hints[file_id]

        # Windows of requested keys bound memory; within a window each file is read once.
        window: list[int] = []
        window_bytes = 0
        for key in wanted:
            window.append(key)
            window_bytes += hint(located[key][0])
            if window_bytes >= self.get_window_bytes:
                yield from self._emit_window(handle, window, located, files)
                window, window_bytes = [], 0
        if window:
            yield from self._emit_window(handle, window, located, files)

    def _emit_window(
        self,
        handle: _Handle,
        window: list[int],
        located: dict[int, tuple[int, int, int]],
        files: dict[int, tuple[str, int]],
    ) -> Iterator[tuple[list[int], list[bytes], list[int]]]:
        by_file: dict[int, list[int]] = {}
        for position, key in enumerate(window):
            by_file.setdefault(located[key][0], []).append(position)
        data: list[bytes] = [b""] * len(window)
        for file_id, positions in by_file.items():
            path = files[file_id][0]
            try:
                samples = handle.fw.get_samples(handle.fs, path, [located[window[p]][1] for p in positions])
            except (OSError, ValueError, IndexError) as exc:
                raise SampleReadError(
                    f"dataset '{handle.info.name}': ingested file '{path}' can no longer be read: {exc}"
                ) from None
            for position, sample in zip(positions, samples, strict=True):
                data[position] = sample
        keys: list[int] = []
        samples_out: list[bytes] = []
        labels: list[int] = []
        size = 0
        for key, sample in zip(window, data, strict=True):
            if keys and size + len(sample) > self.max_message_bytes:
                yield keys, samples_out, labels
                keys, samples_out, labels, size = [], [], [], 0
            keys.append(key)
            samples_out.append(sample)
            labels.append(located[key][2])
            size += len(sample)
        if keys:
            yield keys, samples_out, labels

    def get_dataset_size(self, name: str) -> int:
        dataset_id = self._handle(name).info.id
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).where(Sample.dataset_id == dataset_id)) or 0)

    def delete_data(self, name: str, keys: Sequence[int]) -> int:
        """Delete the samples with these keys; returns how many existed. Unknown keys are ignored, so a
        retried request has the effect of one. The files stay recorded, so they are not ingested again."""
        dataset_id = self._handle(name).info.id
        unique = list(dict.fromkeys(int(k) for k in keys))
        deleted = 0
        with self.db.session() as session:
            for start in range(0, len(unique), QUERY_CHUNK):
                result = session.execute(
                    delete(Sample).where(
                        Sample.dataset_id == dataset_id, Sample.key.in_(unique[start : start + QUERY_CHUNK])
                    )
                )
                deleted += int(result.rowcount)  # type: ignore[attr-defined]
        return deleted

    @staticmethod
    def current_timestamp() -> int:
        return int(time.time())


def _info(row: Dataset) -> DatasetInfo:
    return DatasetInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        version=row.version,
        base_path=row.base_path,
        filesystem_wrapper_type=row.filesystem_wrapper_type,
        file_wrapper_type=row.file_wrapper_type,
        file_wrapper_config=json.loads(row.file_wrapper_config),
        file_watcher_interval=row.file_watcher_interval,
    )


class _DatasetWatcher(threading.Thread):
    """Scans one dataset every file_watcher_interval seconds until stopped or the dataset is deleted."""

    def __init__(self, manager: StorageManager, name: str, initial_delay: float | None) -> None:
        super().__init__(name=f"storage-watcher-{name}", daemon=True)
        self.manager = manager
        self.dataset = name
        self.initial_delay = initial_delay
        self.stop = threading.Event()

    def run(self) -> None:
        delay = self.initial_delay
        last_problem = ""
        while True:
            if delay is None:
                try:
                    delay = self.manager.get_dataset(self.dataset).file_watcher_interval
                except DatasetNotFoundError:
                    return
                except Exception:  # noqa: BLE001 - e.g. the DB is briefly down: try again later
                    logger.exception("watcher of dataset '%s': cannot read its config", self.dataset)
                    delay = DEFAULT_FILE_WATCHER_INTERVAL_S
            if self.stop.wait(delay):
                return
            delay = None
            try:
                self.manager.update_dataset(self.dataset, stop=self.stop)
                last_problem = ""
            except DatasetNotFoundError:
                return
            except StorageError as exc:
                if str(exc) != last_problem:  # say it once, not every few seconds
                    logger.error("watcher of dataset '%s': %s", self.dataset, exc)
                last_problem = str(exc)
            except Exception:  # noqa: BLE001 - a failed scan must not end the watching
                logger.exception("watcher of dataset '%s': scan failed", self.dataset)
