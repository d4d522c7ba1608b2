"""The interface every selection strategy implements, what it may use while computing a trigger
training set (TriggerContext), and the config checks they share."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, delete, insert, select

from modyn.selector import key_store
from modyn.selector.models import StrategyState

DEFAULT_MAXIMUM_KEYS_IN_MEMORY = 100_000
# Bytes per stored chunk of a strategy's state.
_STATE_CHUNK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class TrainingSet:
    """A piece of a trigger training set: keys in training-set order, optionally one weight per key.

    A strategy yields its training set as a sequence of these; the selector concatenates them.
    """

    keys: NDArray[np.int64]
    weights: NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and len(self.weights) != len(self.keys):
            raise ValueError(f"{len(self.weights)} weights for {len(self.keys)} keys")


def config_int(
    config: dict[str, Any],
    field: str,
    minimum: int,
    default: int | None = None,
    maximum: int | None = None,
    prefix: str = "selection_strategy",
) -> int | None:
    """Read an integer option; ValueError naming the field (`prefix.field`) when it is bad."""
    value = config.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{prefix}.{field}: must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        text = "must be > 0" if minimum == 1 else f"must be >= {minimum}"
        raise ValueError(f"{prefix}.{field}: {text}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{prefix}.{field}: must be <= {maximum}, got {value}")
    return value


def config_required_int(
    config: dict[str, Any], field: str, minimum: int, maximum: int | None = None, prefix: str = "selection_strategy"
) -> int:
    if config.get(field) is None:
        raise ValueError(f"{prefix}.{field}: is required")
    value = config_int(config, field, minimum, maximum=maximum, prefix=prefix)
    assert value is not None
    return value


def config_bool(config: dict[str, Any], field: str, default: bool, prefix: str = "selection_strategy") -> bool:
    value = config.get(field, default)
    if not isinstance(value, bool):
        raise ValueError(f"{prefix}.{field}: must be true or false, got {value!r}")
    return value


def config_choice(
    config: dict[str, Any], field: str, choices: Sequence[str], default: str | None, prefix: str = "selection_strategy"
) -> str:
    value = config.get(field, default)
    if value is None:
        raise ValueError(f"{prefix}.{field}: is required (one of {', '.join(choices)})")
    if value not in choices:
        raise ValueError(f"{prefix}.{field}: must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def check_known_keys(config: dict[str, Any], allowed: Sequence[str], what: str, prefix: str) -> None:
    unknown = sorted(str(k) for k in config if k not in allowed)
    if unknown:
        raise ValueError(
            f"{prefix}: unknown key(s) {', '.join(map(repr, unknown))} for {what} (allowed: {', '.join(allowed)})"
        )


def first_trigger(tail_triggers: int | None, trigger_id: int) -> int:
    """The first trigger whose keys a `tail_triggers` window over trigger `trigger_id` covers."""
    return 0 if tail_triggers is None else max(0, trigger_id - tail_triggers)


class TriggerContext:
    """What a strategy may use while computing the training set of trigger `trigger_id`.

    `conn` is the transaction that stores the training set (and commits with it); reads of keys go
    through their own connection and see the committed state, which no other call can change while
    the trigger is computed (the pipeline is locked). `rng` is seeded with (seed, trigger id): the
    same pipeline state gives the same training set, on any back end and after any restart.
    """

    def __init__(
        self, engine: Engine, conn: Connection, pipeline_id: int, trigger_id: int, seed: int, chunk_rows: int
    ) -> None:
        self.engine = engine
        self.conn = conn
        self.pipeline_id = pipeline_id
        self.trigger_id = trigger_id
        self.seed = seed
        self.chunk_rows = chunk_rows
        self.rng = np.random.default_rng([seed, trigger_id])

    def count(self, first_trigger_id: int, last_trigger_id: int, group: str | None = None) -> dict[int, int]:
        """{group value: number of keys} of triggers first..last (group None: {0: total}, or {} if none)."""
        return key_store.group_counts(self.conn, self.pipeline_id, first_trigger_id, last_trigger_id, group)

    def stream(
        self, first_trigger_id: int, last_trigger_id: int, columns: Sequence[str], offset: int = 0
    ) -> Iterator[dict[str, NDArray[np.int64]]]:
        """Rows of triggers first..last ordered by (timestamp, key), in chunks of `chunk_rows`."""
        return key_store.stream_rows(
            self.engine, self.pipeline_id, first_trigger_id, last_trigger_id, columns, self.chunk_rows, offset
        )

    def mark_used(self, keys: NDArray[np.int64]) -> None:
        key_store.mark_used(self.conn, self.pipeline_id, keys)

    def clear_used(self) -> None:
        key_store.clear_used(self.conn, self.pipeline_id)

    def load_state(self, trigger_id: int) -> dict[str, NDArray[Any]] | None:
        """The arrays saved with `save_state` when trigger `trigger_id` was computed (None: none saved)."""
        chunks = self.conn.execute(
            select(StrategyState.data)
            .where(StrategyState.pipeline_id == self.pipeline_id, StrategyState.trigger_id == trigger_id)
            .order_by(StrategyState.chunk_id)
        ).all()
        if not chunks:
            return None
        with np.load(io.BytesIO(b"".join(c.data for c in chunks)), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}

    def save_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        """Save the strategy's state after this trigger (replaces what this trigger saved before)."""
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
        self.conn.execute(
            delete(StrategyState).where(
                StrategyState.pipeline_id == self.pipeline_id, StrategyState.trigger_id == self.trigger_id
            )
        )
        rows = [
            {"pipeline_id": self.pipeline_id, "trigger_id": self.trigger_id, "chunk_id": i, "data": data[start:end]}
            for i, (start, end) in enumerate(
                (s, min(len(data), s + _STATE_CHUNK_BYTES)) for s in range(0, len(data), _STATE_CHUNK_BYTES)
            )
        ]
        self.conn.execute(insert(StrategyState), rows)


class AbstractSelectionStrategy(ABC):
    """What the selector asks of a selection strategy.

    A strategy is bound to one pipeline. `inform` records keys under the trigger that is open;
    `trigger` computes the training set of the trigger being closed from the database state alone
    (never from memory), so a restarted selector computes the same sets. It yields the set in
    pieces; the selector cuts it into partitions of `maximum_keys_in_memory` keys, splits each among
    the dataloader workers and stores it once, never to change.

    Common parameters (in the pipeline's `selection_strategy` section):
        name: the strategy's registered name.
        maximum_keys_in_memory: the most keys in one partition of a training set (> 0, default 100000);
            also the chunk size in which the selector reads keys, which bounds its memory.
        seed: seeds the strategy's random choices (>= 0). Default: the pipeline's `training.seed`,
            else 0. The choices of trigger t use the seed sequence (seed, t).
    """

    name: ClassVar[str]
    # Option names this strategy accepts beyond the common ones.
    options: ClassVar[tuple[str, ...]] = ()
    # Whether its training sets carry weights (the trainer then weighs each sample's loss).
    uses_weights: ClassVar[bool] = False

    def __init__(self, pipeline_id: int, config: dict[str, Any]) -> None:
        self.pipeline_id = pipeline_id
        self.config = self.validate_config(config)
        self.maximum_keys_in_memory: int = self.config["maximum_keys_in_memory"]
        self.seed: int = self.config["seed"]

    @classmethod
    def validate_config(cls, config: dict[str, Any], default_seed: int | None = None) -> dict[str, Any]:
        """Check the config, return a copy with defaults filled in; ValueError naming the bad field."""
        allowed = ("name", "maximum_keys_in_memory", "seed", *cls.options)
        check_known_keys(config, allowed, cls.name, "selection_strategy")
        checked = dict(config)
        checked["name"] = cls.name
        checked["maximum_keys_in_memory"] = config_int(
            config, "maximum_keys_in_memory", 1, DEFAULT_MAXIMUM_KEYS_IN_MEMORY
        )
        checked["seed"] = config_int(config, "seed", 0, 0 if default_seed is None else default_seed)
        return checked

    # ---- what clients may ask about the strategy ----------------------------------------------------

    @property
    def downsampling_config(self) -> dict[str, Any] | None:
        """The config of the downsampling the trainer applies to this strategy's training sets (None: none)."""
        return None

    @property
    def warmup_triggers(self) -> int:
        """Triggers at the start that train without downsampling."""
        return 0

    @property
    def status_bar_scale(self) -> int:
        """Percent of a training set the trainer trains on."""
        return 100

    # ---- informing and triggering ---------------------------------------------------------------------

    def inform(
        self,
        conn: Connection,
        trigger_id: int,
        keys: NDArray[np.int64],
        timestamps: NDArray[np.int64],
        labels: NDArray[np.int64] | None,
    ) -> int:
        """Record new keys under the open trigger `trigger_id`; return how many were not known yet."""
        return key_store.insert_keys(conn, self.pipeline_id, trigger_id, keys, timestamps, labels)

    @abstractmethod
    def trigger(self, ctx: TriggerContext) -> Iterator[TrainingSet]:
        """The training set of trigger `ctx.trigger_id` (the one being closed), in order, in pieces."""
