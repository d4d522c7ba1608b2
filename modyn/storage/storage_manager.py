"""The storage service's logic, without gRPC: datasets, ingestion, key and sample queries, watchers."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, insert, select

from modyn.common.database import Database
from modyn.storage.file_wrappers import FileWrapper, MalformedFileError, make_file_wrapper
from modyn.storage.filesystem_wrappers import FilesystemWrapper, filesystem_wrapper_class, make_filesystem_wrapper
from modyn.storage.models import Dataset, File
from modyn.storage.sample_table import KeyPage, SampleTable

logger = logging.getLogger(__name__)

DATASET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
DEFAULT_FILE_WATCHER_INTERVAL_S = 5.0
# Bound on bound parameters per IN (...) query; well below SQLite's and PostgreSQL's limits.
QUERY_CHUNK = 5_000
INT64_MAX = 2**63 - 1
# Files whose modification time is this close to now may still be being written.
DEFAULT_MIN_FILE_AGE_S = 1.0


# Get reads up to this many files per thread-pool task.
FILES_PER_READ_TASK = 64


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
    unlogged: bool = False


@dataclass
class UpdateResult:
    """The outcome of one ingestion scan."""

    num_new_files: int = 0
    num_new_samples: int = 0
    # "path: reason" for every malformed file that was skipped.
    skipped_files: list[str] = field(default_factory=list)


@dataclass
class SampleBatch:
    """One Get message: samples with their keys and labels; `data` holds all sample bytes back to back."""

    keys: np.ndarray
    labels: np.ndarray
    data: bytes
    lengths: np.ndarray

    def samples(self) -> list[bytes]:
        """The samples as separate bytes objects, in key order of this batch."""
        ends = np.cumsum(self.lengths).tolist()
        starts = [0, *ends[:-1]]
        data = self.data
        return [data[a:b] for a, b in zip(starts, ends, strict=True)]


@dataclass
class _Handle:
    info: DatasetInfo
    fs: FilesystemWrapper
    fw: FileWrapper


@dataclass
class _PendingFile:
    path: str
    mtime: int
    labels: np.ndarray


T = TypeVar("T")
R = TypeVar("R")


def _ordered_parallel(
    fn: Callable[[T], R], items: Sequence[T], workers: int, stop: threading.Event | None
) -> Iterator[R]:
    """fn over items in `workers` threads, results in item order, at most 2 x workers ahead of the reader."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            if stop is not None and stop.is_set():
                return
            yield fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storage-ingest")
    try:
        pending: deque[Future[R]] = deque()
        upcoming = iter(items)
        for item in upcoming:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            if stop is None or not stop.is_set():
                nxt = next(upcoming, None)
                if nxt is not None:
                    pending.append(pool.submit(fn, nxt))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _BatchInserter:
    """Inserts one scan's batches of files, up to manager.insertion_threads at once, committing them in
    the order of their keys: a batch reserves its key block when submitted and, once its rows are in,
    waits for the previous batch's commit before its own. So a dataset's keys become visible in
    increasing order, which GetNewDataSince's cursor form relies on; a failed batch only leaves a gap."""

    def __init__(self, manager: StorageManager, dataset_id: int, result: UpdateResult) -> None:
        self.manager = manager
        self.dataset_id = dataset_id
        self.result = result
        self.threads = manager.insertion_threads
        self.pool = (
            ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="storage-insert")
            if self.threads > 1
            else None
        )
        self.in_flight: deque[Future[None]] = deque()
        self.previous: threading.Event | None = None
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def submit(self, files: list[_PendingFile]) -> None:
        first_key = self.manager.samples.reserve_keys(sum(len(f.labels) for f in files))
        if self.pool is None:
            self._insert(files, first_key, None, threading.Event())
            return
        while len(self.in_flight) >= self.threads:
            self._collect(self.in_flight.popleft())
        done = threading.Event()
        self.in_flight.append(self.pool.submit(self._insert, files, first_key, self.previous, done))
        self.previous = done

    def _insert(
        self, files: list[_PendingFile], first_key: int | None, previous: threading.Event | None, done: threading.Event
    ) -> None:
        try:
            self.manager._insert_files(self.dataset_id, files, first_key, previous.wait if previous else None)
            with self.lock:
                self.result.num_new_files += len(files)
                self.result.num_new_samples += sum(len(f.labels) for f in files)
        finally:
            done.set()

    def _collect(self, future: Future[None]) -> None:
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - re-raised by finish() once all batches ended
            self.errors.append(exc)

    def finish(self) -> None:
        """Wait for every batch; raise the first error, if any."""
        while self.in_flight:
            self._collect(self.in_flight.popleft())
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        if self.errors:
            raise self.errors[0]


class StorageManager:
    """Owns the storage database: registers datasets, ingests their files, answers queries.

    Thread-safe: scans of one dataset are serialized by a per-dataset lock, which also makes a dataset's
    keys increase in commit order (the basis of GetNewDataSince's cursor form); queries run freely.
    """

    def __init__(
        self,
        db: Database,
        keys_per_message: int = 100_000,
        max_message_bytes: int = 4 * 1024 * 1024,
        insertion_batch_size: int = 100_000,
        min_file_age_s: float = DEFAULT_MIN_FILE_AGE_S,
        allowed_base_paths: Sequence[str] | None = None,
        hash_partitions: int = 1,
        ingestion_threads: int | None = None,
        insertion_threads: int = 2,
        filesystem_options: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.db = db
        self.keys_per_message = keys_per_message
        self.max_message_bytes = max_message_bytes
        self.insertion_batch_size = insertion_batch_size
        self.min_file_age_s = min_file_age_s
        # None: any base_path; otherwise each dataset's base_path must lie under one of these roots.
        self.allowed_base_paths = None if allowed_base_paths is None else [str(r) for r in allowed_base_paths]
        self.ingestion_threads = ingestion_threads
        # PostgreSQL only: batches COPYed at once over separate connections (SQLite has one writer).
        self.insertion_threads = max(1, insertion_threads) if db.is_postgres else 1
        self.filesystem_options = dict(filesystem_options or {})
        # A Get reads at most about this many sample bytes into memory at once.
        self.get_window_bytes = max(64 * 1024 * 1024, 4 * max_message_bytes)
        self.samples = SampleTable(db, hash_partitions)
        self._handles: dict[str, _Handle] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._watchers: dict[str, _DatasetWatcher] = {}
        self._watching = False
        self._warned: set[tuple[str, str, str]] = set()
        self.samples.create_schema()

    # ---------------------------------------------------------------- datasets

    def check_allowed(self, filesystem_wrapper_type: str, base_path: str) -> None:
        """InvalidDatasetError unless base_path lies under an allowed root (when roots are configured)."""
        if self.allowed_base_paths is None:
            return
        cls = filesystem_wrapper_class(filesystem_wrapper_type)
        if not any(cls.is_under(base_path, root) for root in self.allowed_base_paths):
            roots = ", ".join(self.allowed_base_paths) or "none"
            raise InvalidDatasetError(
                f"base_path: '{base_path}' is not under an allowed root (storage.allowed_base_paths: {roots})"
            )

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
        unlogged: bool = False,
    ) -> bool:
        """Register a dataset; True if it is new. Idempotent for the same config.

        Re-registering a name with the same base_path and wrappers only updates description, version and
        watcher interval; a different base_path or wrapper config raises DatasetConflictError. `unlogged`
        (PostgreSQL only) takes effect when the dataset is created: its samples skip the write-ahead log,
        which speeds up ingestion but loses them in a PostgreSQL crash (its files are then ingested anew,
        under new keys).
        """
        if not isinstance(name, str) or not DATASET_NAME_PATTERN.match(name):
            raise InvalidDatasetError(f"dataset name {name!r} must match {DATASET_NAME_PATTERN.pattern}")
        if not file_watcher_interval > 0:
            raise InvalidDatasetError(f"file_watcher_interval: must be > 0, got {file_watcher_interval}")
        try:
            base_path = filesystem_wrapper_class(filesystem_wrapper_type).normalize_base_path(base_path)
            self.check_allowed(filesystem_wrapper_type, base_path)
            fs = self._make_fs(filesystem_wrapper_type, base_path)
            fs.check_base_path()
            fw = make_file_wrapper(file_wrapper_type, file_wrapper_config or {})
        except ValueError as exc:
            raise InvalidDatasetError(f"dataset '{name}': {exc}") from None
        if unlogged and not self.db.is_postgres:
            logger.warning("dataset '%s': unlogged applies to PostgreSQL only; ignored on SQLite", name)
            unlogged = False
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
            if created:
                self.samples.create_dataset(session.connection(), row.id, unlogged)
            info = _info(row)
        info = _with_unlogged(info, self.samples.is_unlogged(info.id))
        if not created and unlogged != info.unlogged:
            logger.warning(
                "dataset '%s' exists as %s; unlogged=%s takes effect only when a dataset is created",
                name,
                "UNLOGGED" if info.unlogged else "logged",
                unlogged,
            )
        with self._guard:
            self._handles[name] = _Handle(info, fs, fw)
        logger.info("dataset '%s' %s (%s)", name, "registered" if created else "already registered", base_path)
        if self._watching:
            self._start_watcher(name, initial_delay=0.0)
        return created

    def _make_fs(self, type_name: str, base_path: str) -> FilesystemWrapper:
        return make_filesystem_wrapper(type_name, base_path, self.filesystem_options.get(type_name))

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
                self.samples.drop_dataset(session.connection(), dataset_id)
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
        info = _with_unlogged(info, self.samples.is_unlogged(info.id))
        try:
            # Registered earlier, perhaps under wider roots: still refused when outside today's.
            self.check_allowed(info.filesystem_wrapper_type, info.base_path)
            fs = self._make_fs(info.filesystem_wrapper_type, info.base_path)
        except ValueError as exc:
            raise DatasetUnavailableError(f"dataset '{name}': {exc}") from None
        handle = _Handle(info, fs, make_file_wrapper(info.file_wrapper_type, info.file_wrapper_config))
        with self._guard:
            self._handles[name] = handle
        return handle

    def _dataset_lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    # ---------------------------------------------------------------- ingestion

    def update_dataset(self, name: str, stop: threading.Event | None = None) -> UpdateResult:
        """Scan the dataset's folder and ingest every new, complete, well-formed file.

        A file goes in together with all of its samples in one transaction (several files may share one,
        up to insertion_batch_size samples). Files modified within the last `min_file_age_s` are left for
        the next scan (unless the filesystem shows only complete files). Files are read in parallel
        threads and inserted in path order, so keys follow path order.
        """
        with self._dataset_lock(name):
            handle = self._handle(name)
            fs, fw, dataset_id = handle.fs, handle.fw, handle.info.id
            result = UpdateResult()
            self._recover_unlogged(handle)
            try:
                paths = fs.list_files(fw.file_extension)
            except (ValueError, OSError) as exc:
                raise DatasetUnavailableError(f"dataset '{name}': cannot list its files: {exc}") from None
            with self.db.session() as session:
                known = set(session.scalars(select(File.path).where(File.dataset_id == dataset_id)))
            new_paths = [p for p in paths if p not in known]
            workers = self.ingestion_threads or fs.parallel_reads
            inserter = _BatchInserter(self, dataset_id, result)
            pending: list[_PendingFile] = []
            pending_samples = 0
            try:
                for path, outcome in _ordered_parallel(
                    lambda p: (p, self._inspect(fs, fw, p)), new_paths, workers, stop
                ):
                    if outcome is None:
                        continue
                    if isinstance(outcome, str):
                        self._skip(fs, path, outcome, result)
                        continue
                    if pending and pending_samples + len(outcome.labels) > self.insertion_batch_size:
                        inserter.submit(pending)
                        pending, pending_samples = [], 0
                    pending.append(outcome)
                    pending_samples += len(outcome.labels)
                if pending:  # also when stopping: what is gathered goes in whole
                    inserter.submit(pending)
            finally:
                inserter.finish()
            self.samples.refresh_statistics(dataset_id, result.num_new_samples)
        if result.num_new_files or result.skipped_files:
            logger.info(
                "dataset '%s': ingested %d file(s) with %d sample(s), skipped %d",
                name,
                result.num_new_files,
                result.num_new_samples,
                len(result.skipped_files),
            )
        return result

    def _recover_unlogged(self, handle: _Handle) -> None:
        """For an UNLOGGED dataset whose samples PostgreSQL emptied in a crash: forget its files too (the
        caller holds the dataset lock), so that no query serves keys whose samples are gone."""
        if not handle.info.unlogged:
            return
        with self.db.session() as session:
            if self.samples.recover_unlogged(session.connection(), handle.info.id):
                logger.warning(
                    "dataset '%s': its UNLOGGED samples were lost in a PostgreSQL crash; its files are ingested anew",
                    handle.info.name,
                )

    def _queryable(self, name: str) -> _Handle:
        """The dataset's handle for a query; first, for an UNLOGGED dataset, the crash check (one row read)."""
        handle = self._handle(name)
        if handle.info.unlogged and self.samples.unlogged_samples_lost(handle.info.id):
            with self._dataset_lock(name):
                self._recover_unlogged(handle)
        return handle

    def _inspect(self, fs: FilesystemWrapper, fw: FileWrapper, path: str) -> _PendingFile | str | None:
        """Read and check one new file: the file, None if it must wait, or why it is malformed."""
        try:
            mtime = fs.mtime(path)
            if not fs.atomic_writes and abs(time.time() - mtime) < self.min_file_age_s:
                return None  # may still be being written; the next scan takes it
            labels = fw.get_label_array(fs, path)
            if fs.mtime(path) != mtime:
                return None  # changed while we read it
        except FileNotFoundError:
            return None  # vanished between listing and reading
        except (MalformedFileError, OSError) as exc:
            return str(exc)
        if not len(labels):
            return "contains no samples"
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

    def _insert_files(
        self,
        dataset_id: int,
        files: list[_PendingFile],
        first_key: int | None = None,
        before_commit: Callable[[], object] | None = None,
    ) -> None:
        """Record files and insert all their samples in one transaction (keys from first_key, if given,
        else reserved inside it); `before_commit` runs last inside the transaction (to commit batches in
        key order)."""
        counts = np.asarray([len(f.labels) for f in files], dtype=np.int64)
        with self.db.session() as session:
            conn = session.connection()
            if first_key is None:
                first_key = self.samples.reserve_keys_in(conn, int(counts.sum()))
            file_first_keys = (first_key + np.cumsum(counts) - counts).tolist()
            file_ids = list(
                conn.execute(
                    insert(File).returning(File.id, sort_by_parameter_order=True),
                    [
                        {
                            "dataset_id": dataset_id,
                            "path": f.path,
                            "mtime": f.mtime,
                            "number_of_samples": len(f.labels),
                            "first_key": k,
                            "labels": f.labels.astype("<i8", copy=False).tobytes(),
                            "has_deletions": False,
                        }
                        for f, k in zip(files, file_first_keys, strict=True)
                    ],
                ).scalars()
            )
            self.samples.insert(
                conn,
                dataset_id,
                np.asarray(file_ids, dtype=np.int64),
                counts,
                np.asarray([f.mtime for f in files], dtype=np.int64),
                np.concatenate([f.labels for f in files]).astype(np.int64, copy=False),
                first_key,
            )
            if before_commit is not None:
                before_commit()

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

    def get_new_data_since(self, name: str, timestamp: int) -> Iterator[KeyPage]:
        """Pages of samples with timestamp > `timestamp`, by (timestamp, key)."""
        if timestamp >= INT64_MAX:
            self._handle(name)
            return iter(())
        return self._pages_by_time(name, timestamp + 1, None)

    def get_data_in_interval(self, name: str, start: int, end: int) -> Iterator[KeyPage]:
        """Pages of samples with start <= timestamp <= end, by (timestamp, key)."""
        return self._pages_by_time(name, start, end)

    def get_new_data_after_key(self, name: str, after_key: int) -> Iterator[KeyPage]:
        """Pages of samples with key > after_key, by key: the cursor form of GetNewDataSince.

        A dataset's keys increase in commit order, so passing the last key handled as the next after_key
        never skips a sample, whatever its timestamp.
        """
        dataset_id = self._queryable(name).info.id  # raises now, not at the first next()

        def pages() -> Iterator[KeyPage]:
            after = after_key
            while True:
                page = self.samples.page_by_key(dataset_id, after, self.keys_per_message)
                if len(page):
                    yield page
                if len(page) < self.keys_per_message:
                    return
                after = int(page.keys[-1])

        return pages()

    def _pages_by_time(self, name: str, start: int | None, end: int | None) -> Iterator[KeyPage]:
        dataset_id = self._queryable(name).info.id  # raises now, not at the first next()

        def pages() -> Iterator[KeyPage]:
            # Keyset pagination: each page is a short query, so a slow reader holds no connection.
            after: tuple[int, int] | None = None
            while True:
                page = self.samples.page_by_time(dataset_id, start, end, after, self.keys_per_message)
                if len(page):
                    yield page
                if len(page) < self.keys_per_message:
                    return
                after = (int(page.timestamps[-1]), int(page.keys[-1]))

        return pages()

    def get_last_key(self, name: str) -> int:
        """The highest key the dataset holds (0 when empty)."""
        return self.samples.last_key(self._queryable(name).info.id)

    def get_samples(self, name: str, keys: Sequence[int] | np.ndarray) -> Iterator[SampleBatch]:
        """Batches of the requested samples, each at most max_message_bytes of sample bytes (or one sample),
        in the requested order; a repeated key is returned once.

        Raises UnknownKeysError (before anything is yielded) if a key is not in the dataset.
        """
        handle = self._queryable(name)
        requested = np.asarray(keys, dtype=np.int64).reshape(-1)
        unique, first = np.unique(requested, return_index=True)
        wanted = requested[np.sort(first)]
        located = self.samples.locate(handle.info.id, unique)
        if len(located.keys) < len(unique):
            missing = wanted[~np.isin(wanted, located.keys)]
            raise UnknownKeysError(name, [int(k) for k in missing])
        position = np.searchsorted(located.keys, wanted)
        file_ids = located.file_ids[position]
        indices = located.indices[position]
        labels = located.labels[position]
        unlabelled = ~located.labelled[position]
        if unlabelled.any() and not handle.fw.labels_in_records:
            # The labels of indexed files are packed in their `files` rows.
            at = np.flatnonzero(unlabelled)
            at = at[np.argsort(file_ids[at], kind="stable")]
            packed = self.samples.file_labels(np.unique(file_ids[at]))
            for group in np.split(at, np.flatnonzero(np.diff(file_ids[at])) + 1):
                labels[group] = np.frombuffer(packed[int(file_ids[group[0]])], dtype="<i8")[indices[group]]
            unlabelled[:] = False
        files: dict[int, tuple[str, int]] = {}  # file id -> (path, number of samples)
        distinct = np.unique(file_ids).tolist()
        with self.db.session() as session:
            for start in range(0, len(distinct), QUERY_CHUNK):
                for file_id, path, count in session.execute(
                    select(File.id, File.path, File.number_of_samples).where(
                        File.id.in_(distinct[start : start + QUERY_CHUNK])
                    )
                ):
                    files[file_id] = (path, count)
        return self._read_samples(handle, wanted, file_ids, indices, labels, unlabelled, files)

    def _read_samples(
        self,
        handle: _Handle,
        wanted: np.ndarray,
        file_ids: np.ndarray,
        indices: np.ndarray,
        labels: np.ndarray,
        unlabelled: np.ndarray,
        files: dict[int, tuple[str, int]],
    ) -> Iterator[SampleBatch]:
        fs, fw = handle.fs, handle.fw
        hints: dict[int, int] = {}
        for file_id, (path, count) in files.items():
            try:
                hints[file_id] = fw.sample_size_hint(fs, path, count)
            except OSError:
                hints[file_id] = 0  # the read reports the problem
        # Windows of requested keys bound memory; within a window each file is read once.
        distinct, which = np.unique(file_ids, return_inverse=True)
        sizes = np.asarray([hints[f] for f in distinct.tolist()], dtype=np.int64)[which]
        cumulative = np.cumsum(sizes)
        start = 0
        while start < len(wanted):
            base = cumulative[start - 1] if start else 0
            end = int(np.searchsorted(cumulative, base + self.get_window_bytes, side="left")) + 1
            end = min(max(end, start + 1), len(wanted))
            yield from self._emit_window(
                handle,
                wanted[start:end],
                file_ids[start:end],
                indices[start:end],
                labels[start:end],
                unlabelled[start:end],
                files,
            )
            start = end

    def _emit_window(
        self,
        handle: _Handle,
        keys: np.ndarray,
        file_ids: np.ndarray,
        indices: np.ndarray,
        labels: np.ndarray,
        unlabelled: np.ndarray,
        files: dict[int, tuple[str, int]],
    ) -> Iterator[SampleBatch]:
        """The samples of one window; labels[i] where not unlabelled[i], else read with the sample."""
        fs, fw = handle.fs, handle.fw
        order = np.argsort(file_ids, kind="stable")
        bounds = np.flatnonzero(np.diff(file_ids[order])) + 1
        groups = np.split(order, bounds)  # positions in the window, per file
        fixed = fw.fixed_sample_size

        def read(positions: np.ndarray) -> Any:
            path = files[int(file_ids[positions[0]])][0]
            try:
                if fixed is not None and unlabelled[positions].any():
                    return fw.get_sample_rows_and_labels(fs, path, indices[positions])
                if fixed is not None:
                    return fw.get_sample_rows(fs, path, indices[positions]), None
                return fw.get_samples(fs, path, indices[positions].tolist())
            except (OSError, ValueError, IndexError) as exc:
                raise SampleReadError(
                    f"dataset '{handle.info.name}': ingested file '{path}' can no longer be read: {exc}"
                ) from None

        workers = min(fs.parallel_reads, len(groups))
        # Several files per task: with many small files (one image each), a task per file costs more in
        # scheduling than the read itself.
        tasks = [groups[i : i + FILES_PER_READ_TASK] for i in range(0, len(groups), FILES_PER_READ_TASK)]
        parts = [
            part
            for task in _ordered_parallel(lambda task: [read(g) for g in task], tasks, workers, None)
            for part in task
        ]
        if fixed is not None:
            rows = np.empty((len(keys), fixed), dtype=np.uint8)
            labels = labels.copy()
            for positions, (part, part_labels) in zip(groups, parts, strict=True):
                rows[positions] = part
                if part_labels is not None:
                    gaps = unlabelled[positions]
                    labels[positions[gaps]] = part_labels[gaps]
            per_message = max(1, self.max_message_bytes // max(1, fixed))
            for a in range(0, len(keys), per_message):
                b = min(a + per_message, len(keys))
                yield SampleBatch(keys[a:b], labels[a:b], rows[a:b].tobytes(), np.full(b - a, fixed, dtype=np.int64))
            return
        data: list[bytes] = [b""] * len(keys)
        for positions, part in zip(groups, parts, strict=True):
            for p, sample in zip(positions.tolist(), part, strict=True):
                data[p] = sample
        a, size = 0, 0
        for i, sample in enumerate(data):
            if i > a and size + len(sample) > self.max_message_bytes:
                yield self._batch(keys, labels, data, a, i)
                a, size = i, 0
            size += len(sample)
        if len(data) > a:
            yield self._batch(keys, labels, data, a, len(data))

    @staticmethod
    def _batch(keys: np.ndarray, labels: np.ndarray, data: list[bytes], a: int, b: int) -> SampleBatch:
        chunk = data[a:b]
        return SampleBatch(
            keys[a:b], labels[a:b], b"".join(chunk), np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk))
        )

    def get_dataset_size(self, name: str) -> int:
        return self.samples.count(self._handle(name).info.id)

    def delete_data(self, name: str, keys: Sequence[int] | np.ndarray) -> int:
        """Delete the samples with these keys; returns how many existed. Unknown keys are ignored, so a
        retried request has the effect of one. The files stay recorded, so they are not ingested again."""
        dataset_id = self._handle(name).info.id
        unique = np.unique(np.asarray(keys, dtype=np.int64).reshape(-1))
        with self.db.session() as session:
            return self.samples.delete_keys(session.connection(), dataset_id, unique)

    @staticmethod
    def current_timestamp() -> int:
        return int(time.time())


def _with_unlogged(info: DatasetInfo, unlogged: bool) -> DatasetInfo:
    return replace(info, unlogged=unlogged)


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
