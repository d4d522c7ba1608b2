"""The selector's logic, without gRPC: pipelines, informed keys, triggers and their training sets.

All state lives in the metadata database, so a new manager on the same database (a restarted
selector) sees the same pipelines, keys and triggers and continues where the old one stopped.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, insert, select, text, update

from modyn.common.database import Database
from modyn.selector import key_store
from modyn.selector.errors import UnknownPartitionError, UnknownPipelineError, UnknownTriggerError
from modyn.selector.models import Pipeline, SelectorBase, TrainingSetShare, Trigger
from modyn.selector.strategies import AbstractSelectionStrategy, TrainingSet, TriggerContext, strategy_class

# Keys per stored chunk of a worker's share (8 MB of int64): keeps every blob far below the back ends' limits.
SHARE_CHUNK_KEYS = 1_000_000

ArrayLike = Sequence[int] | NDArray[Any]


@dataclass(frozen=True)
class TriggerInfo:
    """What closing a trigger produced."""

    trigger_id: int
    num_samples: int
    num_partitions: int


@dataclass(frozen=True)
class PipelineInfo:
    pipeline_id: int
    name: str
    num_workers: int
    selection_strategy: dict[str, Any]
    next_trigger_id: int


def worker_share_bounds(num_keys: int, num_workers: int) -> list[tuple[int, int]]:
    """Contiguous, near-equal [start, end) shares of `num_keys` keys for each worker.

    The first `num_keys % num_workers` workers get one key more; with fewer keys than workers the
    last workers get empty shares. Deterministic, so every worker computes the same split.
    """
    base, extra = divmod(num_keys, num_workers)
    bounds, start = [], 0
    for worker in range(num_workers):
        end = start + base + (1 if worker < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def _as_int64(values: ArrayLike, field: str) -> NDArray[np.int64]:
    try:
        array = np.asarray(values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{field}: must be 64-bit integers ({exc})") from exc
    if array.ndim != 1:
        raise ValueError(f"{field}: must be a flat list of integers")
    return array


def _inform_arrays(
    keys: ArrayLike, timestamps: ArrayLike, labels: ArrayLike | None
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64] | None]:
    key_array = _as_int64(keys, "keys")
    ts_array = _as_int64(timestamps, "timestamps")
    if len(ts_array) != len(key_array):
        raise ValueError(f"timestamps: got {len(ts_array)} values for {len(key_array)} keys")
    label_array = None if labels is None else _as_int64(labels, "labels")
    if label_array is not None and len(label_array) == 0:
        label_array = None  # labels are optional: an empty list means "none given"
    if label_array is not None and len(label_array) != len(key_array):
        raise ValueError(f"labels: got {len(label_array)} values for {len(key_array)} keys (give one per key or none)")
    return key_array, ts_array, label_array


def _inform_digest(keys: NDArray[np.int64], timestamps: NDArray[np.int64], labels: NDArray[np.int64] | None) -> str:
    digest = hashlib.sha256()
    digest.update(keys.astype("<i8").tobytes())
    digest.update(timestamps.astype("<i8").tobytes())
    if labels is not None:
        digest.update(labels.astype("<i8").tobytes())
    return digest.hexdigest()


class SelectorManager:
    """Registers pipelines, records informed keys, closes triggers and serves their training sets.

    Thread-safe: calls for one pipeline that change state are serialised by a per-pipeline lock (and,
    on PostgreSQL, a row lock on the pipeline, so that several selector processes could share a DB).
    """

    def __init__(self, database: Database) -> None:
        self._db = database
        self._db.create_tables(SelectorBase.metadata)
        if self._db.is_postgres:
            # Keys are stored as int64 blobs; PostgreSQL's default pglz compression of large values would
            # cost far more time than the few bytes it saves on them.
            with self._db.engine.begin() as conn:
                for table, column in (("selector_training_set_shares", "keys"), ("selector_strategy_state", "data")):
                    conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL"))
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._strategies: dict[int, AbstractSelectionStrategy] = {}

    # ---- pipelines -------------------------------------------------------------------------------

    def register_pipeline(
        self,
        name: str,
        num_workers: int,
        selection_strategy: dict[str, Any],
        pipeline_config: dict[str, Any] | None = None,
    ) -> int:
        """Register a new pipeline and return its id; ValueError naming the field for a bad config.

        The strategy config is validated and stored with its defaults filled in; its `seed` defaults
        to the pipeline config's `training.seed` (else 0), so the stored config alone reproduces it.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("pipeline_name: must not be empty")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers: must be >= 1, got {num_workers!r}")
        if not isinstance(selection_strategy, dict):
            raise ValueError("selection_strategy: must be an object with at least a 'name'")
        if "name" not in selection_strategy:
            raise ValueError("selection_strategy.name: is required")
        if pipeline_config is not None and not isinstance(pipeline_config, dict):
            raise ValueError("pipeline_config: must be an object")
        training = (pipeline_config or {}).get("training")
        default_seed = training.get("seed") if isinstance(training, dict) else None
        if isinstance(default_seed, bool) or not isinstance(default_seed, int) or default_seed < 0:
            default_seed = None
        checked = strategy_class(selection_strategy["name"]).validate_config(selection_strategy, default_seed)
        with self._db.engine.begin() as conn:
            pipeline_id = conn.execute(
                insert(Pipeline)
                .values(
                    name=name,
                    num_workers=num_workers,
                    selection_strategy=json.dumps(checked, sort_keys=True),
                    pipeline_config=json.dumps(pipeline_config or {}, sort_keys=True),
                    next_trigger_id=0,
                )
                .returning(Pipeline.pipeline_id)
            ).scalar_one()
        return int(pipeline_id)

    def get_pipeline(self, pipeline_id: int) -> PipelineInfo:
        with self._db.engine.connect() as conn:
            row = self._pipeline_row(conn, pipeline_id)
        return PipelineInfo(
            pipeline_id=row.pipeline_id,
            name=row.name,
            num_workers=row.num_workers,
            selection_strategy=json.loads(row.selection_strategy),
            next_trigger_id=row.next_trigger_id,
        )

    # ---- informing and triggering ------------------------------------------------------------------

    def inform_data(
        self, pipeline_id: int, keys: ArrayLike, timestamps: ArrayLike, labels: ArrayLike | None = None
    ) -> int:
        """Record keys for the trigger that is open; return how many keys were new to the pipeline.

        Informing a key again (a retried call) changes nothing: the key keeps its first record.
        """
        key_array, ts_array, label_array = _inform_arrays(keys, timestamps, labels)
        with self._pipeline_lock(pipeline_id), self._db.engine.begin() as conn:
            row = self._pipeline_row(conn, pipeline_id, for_update=True)
            if len(key_array) == 0:
                return 0
            strategy = self._strategy(row)
            return strategy.inform(conn, row.next_trigger_id, key_array, ts_array, label_array)

    def inform_data_and_trigger(
        self, pipeline_id: int, keys: ArrayLike, timestamps: ArrayLike, labels: ArrayLike | None = None
    ) -> TriggerInfo:
        """Record keys (may be none), close the open trigger and compute and store its training set.

        Trigger ids count 0, 1, 2, ... per pipeline. The keys commit first, then the training set, the
        trigger and the strategy's state together (a failure in between leaves the keys in the open
        trigger, for the next call). A retried call (the same non-empty keys as the call that closed
        the last trigger, and nothing informed since) returns that trigger again instead of closing
        another one.
        """
        key_array, ts_array, label_array = _inform_arrays(keys, timestamps, labels)
        digest = _inform_digest(key_array, ts_array, label_array) if len(key_array) else None
        with self._pipeline_lock(pipeline_id):
            with self._db.engine.begin() as conn:
                row = self._pipeline_row(conn, pipeline_id, for_update=True)
                trigger_id = row.next_trigger_id
                if digest is not None and trigger_id > 0:
                    last = self._trigger_row(conn, pipeline_id, trigger_id - 1)
                    if last.inform_digest == digest and not key_store.has_keys(conn, pipeline_id, trigger_id):
                        return TriggerInfo(last.trigger_id, last.num_keys, last.num_partitions)
                if len(key_array):
                    self._strategy(row).inform(conn, trigger_id, key_array, ts_array, label_array)
            with self._db.engine.begin() as conn:
                row = self._pipeline_row(conn, pipeline_id, for_update=True)
                trigger_id = row.next_trigger_id
                strategy = self._strategy(row)
                ctx = TriggerContext(
                    self._db.engine, conn, pipeline_id, trigger_id, strategy.seed, strategy.maximum_keys_in_memory
                )
                writer = TrainingSetWriter(
                    conn, pipeline_id, trigger_id, strategy.maximum_keys_in_memory, row.num_workers
                )
                for piece in strategy.trigger(ctx):
                    writer.add(piece)
                num_keys, num_partitions = writer.finish()
                conn.execute(
                    insert(Trigger).values(
                        pipeline_id=pipeline_id,
                        trigger_id=trigger_id,
                        num_keys=num_keys,
                        num_partitions=num_partitions,
                        inform_digest=digest,
                    )
                )
                conn.execute(
                    update(Pipeline).where(Pipeline.pipeline_id == pipeline_id).values(next_trigger_id=trigger_id + 1)
                )
        return TriggerInfo(trigger_id, num_keys, num_partitions)

    # ---- what clients may ask about a pipeline --------------------------------------------------------

    def get_available_labels(self, pipeline_id: int) -> list[int]:
        """The distinct labels informed for the pipeline so far, ascending."""
        with self._db.engine.connect() as conn:
            self._pipeline_row(conn, pipeline_id)
            return key_store.available_labels(conn, pipeline_id)

    def get_strategy(self, pipeline_id: int) -> AbstractSelectionStrategy:
        """The pipeline's strategy (its config, downsampling config, weights, status-bar scale)."""
        with self._db.engine.connect() as conn:
            return self._strategy(self._pipeline_row(conn, pipeline_id))

    # ---- reading training sets ----------------------------------------------------------------------

    def get_trigger(self, pipeline_id: int, trigger_id: int) -> TriggerInfo:
        with self._db.engine.connect() as conn:
            self._pipeline_row(conn, pipeline_id)
            row = self._trigger_row(conn, pipeline_id, trigger_id)
        return TriggerInfo(row.trigger_id, row.num_keys, row.num_partitions)

    def get_number_of_samples(self, pipeline_id: int, trigger_id: int) -> int:
        return self.get_trigger(pipeline_id, trigger_id).num_samples

    def get_number_of_partitions(self, pipeline_id: int, trigger_id: int) -> int:
        return self.get_trigger(pipeline_id, trigger_id).num_partitions

    def get_sample_keys_and_weights(
        self, pipeline_id: int, trigger_id: int, worker_id: int, partition_id: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float32] | None]:
        """One worker's share of one partition of a trigger training set: (keys, weights or None)."""
        with self._db.engine.connect() as conn:
            pipeline = self._pipeline_row(conn, pipeline_id)
            if not 0 <= worker_id < pipeline.num_workers:
                raise ValueError(
                    f"worker_id: {worker_id} is out of range for pipeline {pipeline_id} "
                    f"(it has {pipeline.num_workers} worker(s): 0..{pipeline.num_workers - 1})"
                )
            trigger = self._trigger_row(conn, pipeline_id, trigger_id)
            if not 0 <= partition_id < trigger.num_partitions:
                raise UnknownPartitionError(pipeline_id, trigger_id, partition_id, trigger.num_partitions)
            chunks = conn.execute(
                select(TrainingSetShare.keys, TrainingSetShare.weights)
                .where(
                    TrainingSetShare.pipeline_id == pipeline_id,
                    TrainingSetShare.trigger_id == trigger_id,
                    TrainingSetShare.partition_id == partition_id,
                    TrainingSetShare.worker_id == worker_id,
                )
                .order_by(TrainingSetShare.chunk_id)
            ).all()
        if not chunks:
            return np.empty(0, dtype=np.int64), None
        keys = np.concatenate([np.frombuffer(chunk.keys, dtype="<i8") for chunk in chunks]).astype(np.int64)
        if chunks[0].weights is None:
            return keys, None
        weights = np.concatenate([np.frombuffer(chunk.weights, dtype="<f4") for chunk in chunks]).astype(np.float32)
        return keys, weights

    # ---- internals ------------------------------------------------------------------------------------

    def _pipeline_lock(self, pipeline_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(pipeline_id, threading.Lock())

    @staticmethod
    def _pipeline_row(conn: Connection, pipeline_id: int, for_update: bool = False) -> Any:
        query = select(Pipeline).where(Pipeline.pipeline_id == pipeline_id)
        if for_update:
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            raise UnknownPipelineError(pipeline_id)
        return row

    @staticmethod
    def _trigger_row(conn: Connection, pipeline_id: int, trigger_id: int) -> Any:
        row = conn.execute(
            select(Trigger).where(Trigger.pipeline_id == pipeline_id, Trigger.trigger_id == trigger_id)
        ).one_or_none()
        if row is None:
            raise UnknownTriggerError(pipeline_id, trigger_id)
        return row

    def _strategy(self, pipeline_row: Any) -> AbstractSelectionStrategy:
        strategy = self._strategies.get(pipeline_row.pipeline_id)
        if strategy is None:
            config = json.loads(pipeline_row.selection_strategy)
            strategy = strategy_class(config["name"])(pipeline_row.pipeline_id, config)
            self._strategies[pipeline_row.pipeline_id] = strategy
        return strategy


class TrainingSetWriter:
    """Stores a training set that arrives in pieces: cuts it into partitions of `keys_per_partition`
    keys, splits each partition among the workers (contiguous, near-equal shares) and writes each
    share as int64/float32 blobs of at most SHARE_CHUNK_KEYS keys, as soon as the partition is full.
    Holds at most one partition plus one piece in memory."""

    def __init__(
        self, conn: Connection, pipeline_id: int, trigger_id: int, keys_per_partition: int, num_workers: int
    ) -> None:
        self._conn = conn
        self._pipeline_id = pipeline_id
        self._trigger_id = trigger_id
        self._keys_per_partition = keys_per_partition
        self._num_workers = num_workers
        self._keys: list[NDArray[np.int64]] = []
        self._weights: list[NDArray[np.float32]] = []
        self._buffered = 0
        self._has_weights: bool | None = None
        self._num_keys = 0
        self._num_partitions = 0

    def add(self, piece: TrainingSet) -> None:
        if len(piece.keys) == 0:
            return
        has_weights = piece.weights is not None
        if self._has_weights is None:
            self._has_weights = has_weights
        elif self._has_weights != has_weights:
            raise ValueError("a training set must give weights for all of its keys or for none")
        self._keys.append(np.asarray(piece.keys, dtype=np.int64))
        if piece.weights is not None:
            self._weights.append(np.asarray(piece.weights, dtype=np.float32))
        self._buffered += len(piece.keys)
        if self._buffered >= self._keys_per_partition:
            self._flush(final=False)

    def finish(self) -> tuple[int, int]:
        """Store what is left; return (number of keys, number of partitions)."""
        self._flush(final=True)
        return self._num_keys, self._num_partitions

    def _flush(self, final: bool) -> None:
        if not self._keys:
            return
        keys = np.concatenate(self._keys) if len(self._keys) > 1 else self._keys[0]
        weights = None
        if self._has_weights:
            weights = np.concatenate(self._weights) if len(self._weights) > 1 else self._weights[0]
        full = len(keys) // self._keys_per_partition * self._keys_per_partition
        end = len(keys) if final else full
        for start in range(0, end, self._keys_per_partition):
            stop = min(end, start + self._keys_per_partition)
            self._store_partition(keys[start:stop], None if weights is None else weights[start:stop])
        self._keys = [keys[end:]] if end < len(keys) else []
        self._weights = [weights[end:]] if weights is not None and end < len(keys) else []
        self._buffered = len(keys) - end

    def _store_partition(self, keys: NDArray[np.int64], weights: NDArray[np.float32] | None) -> None:
        keys = keys.astype("<i8", copy=False)
        weights = None if weights is None else weights.astype("<f4", copy=False)
        rows: list[dict[str, Any]] = []
        for worker_id, (start, end) in enumerate(worker_share_bounds(len(keys), self._num_workers)):
            for chunk_id, lo in enumerate(range(start, end, SHARE_CHUNK_KEYS)):
                hi = min(end, lo + SHARE_CHUNK_KEYS)
                rows.append(
                    {
                        "pipeline_id": self._pipeline_id,
                        "trigger_id": self._trigger_id,
                        "partition_id": self._num_partitions,
                        "worker_id": worker_id,
                        "chunk_id": chunk_id,
                        "num_keys": hi - lo,
                        "keys": keys[lo:hi].tobytes(),
                        "weights": None if weights is None else weights[lo:hi].tobytes(),
                    }
                )
        key_store.insert_shares(self._conn, rows)
        self._num_partitions += 1
        self._num_keys += len(keys)
