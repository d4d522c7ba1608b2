"""Model storage's logic: models as checksummed files plus rows in the metadata DB, no gRPC involved.

A model is streamed into a temporary file next to its final place while it is hashed; only a
model whose SHA-256 matches the one announced is kept. It is then laid out as its pipeline's storage
policy says (full, optionally zipped, or as a difference to its base model), fsync'ed, renamed
atomically to `<model_id>.<kind>` and committed as a row, so the database never points at a missing
or partial file. A stored model never changes under its id, and ids are never reused.

On top of the files sits the registry: lineage (parent model, training set size), recorded
evaluation metrics, per-pipeline aliases (`latest` is kept up to date automatically; others such as
`champion` are set by `promote`, optionally behind a gate) and publishing to a deployment folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import torch
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modyn.common.database import Database
from modyn.model_storage import deployment
from modyn.model_storage.models import (
    AliasRecord,
    MetricRecord,
    ModelRecord,
    ModelStorageBase,
    PipelineSettings,
    upgrade_schema,
)
from modyn.model_storage.promotion import WHOLE_DATASET, MetricValues, PromotionGate, judge
from modyn.model_storage.strategies import PyTorchFullModel, StoragePolicy, WeightsDifference
from modyn.model_storage.strategies.state_dict import (
    NotATensorStateDict,
    load_state_dict,
    save_state_dict,
    state_sha256,
)

logger = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 1024 * 1024
TEMP_PREFIX = ".incoming-"
TEMP_SUFFIX = ".part"
INT32_MAX = 2**31 - 1
LATEST = "latest"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class ModelStorageError(Exception):
    """Base of model storage's errors; the message names the model and what is wrong."""


class InvalidModelError(ModelStorageError):
    """The header or the byte stream of a model to store is malformed, or a request is malformed."""


class ChecksumMismatchError(ModelStorageError):
    """The bytes received do not hash to the SHA-256 the header announced; nothing was stored."""


class ModelNotFoundError(ModelStorageError):
    """No model is stored under this id."""

    def __init__(self, model_id: int) -> None:
        self.model_id = model_id
        super().__init__(f"model {model_id} is not stored")


class ModelDataLossError(ModelStorageError):
    """A stored model's file is missing or no longer matches its checksum."""


class ModelInUseError(ModelStorageError):
    """The model cannot be deleted: other models are stored as differences to it, or an alias names it."""


class AliasNotFoundError(ModelStorageError):
    """The pipeline has no such alias."""


@dataclass(frozen=True)
class ModelHeader:
    """What a model to store is: whose, which trigger, which class and config, its checksum and lineage."""

    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    sha256: str
    parent_model_id: int | None = None
    training_set_size: int | None = None

    def validated(self) -> ModelHeader:
        """The header normalised (lower-case hex, '{}' for an empty config), or InvalidModelError."""
        if not 0 <= self.pipeline_id <= INT32_MAX:
            raise InvalidModelError(f"pipeline_id must be >= 0, got {self.pipeline_id}")
        if not 0 <= self.trigger_id <= INT32_MAX:
            raise InvalidModelError(f"trigger_id must be >= 0, got {self.trigger_id}")
        name = self.model_class_name.strip()
        if not name:
            raise InvalidModelError("model_class_name must not be empty")
        if len(name) > 255:
            raise InvalidModelError(f"model_class_name is longer than 255 characters: {name[:40]!r}...")
        sha256 = self.sha256.strip().lower()
        if not _SHA256_HEX.match(sha256):
            raise InvalidModelError(f"sha256 must be 64 hex digits, got {self.sha256!r}")
        config = self.model_config.strip() or "{}"
        try:
            parsed = json.loads(config)
        except json.JSONDecodeError as exc:
            raise InvalidModelError(f"model_config is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise InvalidModelError(f"model_config must be a JSON object, got {type(parsed).__name__}")
        if self.parent_model_id is not None and self.parent_model_id <= 0:
            raise InvalidModelError(f"parent_model_id must be > 0, got {self.parent_model_id}")
        if self.training_set_size is not None and self.training_set_size < 0:
            raise InvalidModelError(f"training_set_size must be >= 0, got {self.training_set_size}")
        return replace(self, model_class_name=name, model_config=config, sha256=sha256)


@dataclass(frozen=True)
class ModelInfo:
    """A stored model's row: `file_path` is relative to the models directory.

    `sha256`/`size_bytes`: the uploaded bytes. `served_sha256`: the bytes FetchModel streams (equal to
    `sha256` except for incrementally stored models, which are served as a fresh torch.save of the
    reconstructed, bit-identical state dict; `state_sha256` vouches for that).
    """

    model_id: int
    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    file_path: str
    sha256: str
    size_bytes: int
    created_at: datetime
    parent_model_id: int | None = None
    training_set_size: int | None = None
    base_model_id: int | None = None
    chain_depth: int = 0
    encoding: dict[str, Any] = field(default_factory=lambda: {"strategy": "PyTorchFullModel", "zip": False})
    file_sha256: str = ""
    file_size_bytes: int = 0
    state_sha256: str = ""
    aliases: tuple[str, ...] = ()
    served_sha256: str = ""

    @property
    def storage(self) -> str:
        """`full`, `full+zip` or `diff(<op>)` of model N."""
        if self.encoding.get("strategy") == WeightsDifference.name:
            return f"diff({self.encoding.get('operator')}) of model {self.base_model_id}"
        return "full+zip" if self.encoding.get("zip") else "full"


@dataclass(frozen=True)
class MetricValue:
    dataset_id: str
    metric: str
    interval: tuple[int, int]
    value: float
    recorded_at: datetime


@dataclass(frozen=True)
class PromotionResult:
    promoted: bool
    reason: str
    previous_model_id: int | None
    published_to: str = ""


def _info(record: ModelRecord, aliases: Iterable[str] = ()) -> ModelInfo:
    return ModelInfo(
        model_id=int(record.model_id),
        pipeline_id=int(record.pipeline_id),
        trigger_id=int(record.trigger_id),
        model_class_name=record.model_class_name,
        model_config=record.model_config,
        file_path=record.file_path,
        sha256=record.sha256,
        size_bytes=int(record.size_bytes),
        created_at=record.created_at,
        parent_model_id=None if record.parent_model_id is None else int(record.parent_model_id),
        training_set_size=None if record.training_set_size is None else int(record.training_set_size),
        base_model_id=None if record.base_model_id is None else int(record.base_model_id),
        chain_depth=int(record.chain_depth or 0),
        encoding=json.loads(record.encoding) if record.encoding else {"strategy": "PyTorchFullModel", "zip": False},
        # Rows from before incremental storage: the file is the upload itself.
        file_sha256=record.file_sha256 or record.sha256,
        file_size_bytes=int(record.file_size_bytes if record.file_size_bytes is not None else record.size_bytes),
        state_sha256=record.state_sha256 or "",
        aliases=tuple(sorted(aliases)),
        served_sha256=record.sha256,
    )


def _fsync_directory(path: Path) -> None:
    # Makes the rename itself durable, not only the file's bytes.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Layout:
    """How a verified upload is going to be stored."""

    path: Path  # the file to rename into place
    suffix: str
    encoding: dict[str, Any]
    base_model_id: int | None
    chain_depth: int
    state_sha256: str | None
    file_sha256: str
    file_size: int


class ModelStorageManager:
    """Stores, fetches and deletes models under `models_directory`, indexed in the metadata database."""

    def __init__(self, database: Database, models_directory: str | Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        if chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be > 0, got {chunk_bytes}")
        self._db = database
        self.models_directory = Path(models_directory).expanduser().resolve()
        self.chunk_bytes = chunk_bytes
        self.models_directory.mkdir(parents=True, exist_ok=True)
        self._db.create_tables(ModelStorageBase.metadata)
        upgrade_schema(self._db.engine)
        # One lock for everything that changes chains or aliases: a base cannot vanish while a
        # difference to it is being written, and two promotions cannot interleave.
        self._write_lock = threading.RLock()
        self._remove_stale_uploads()

    def _remove_stale_uploads(self) -> None:
        # Uploads cut short by a crash are never referenced by a row; one model storage owns this folder.
        for stale in self.models_directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            logger.info("removing unfinished upload %s", stale)
            stale.unlink(missing_ok=True)

    # ---- pipelines ---------------------------------------------------------------------------
    def set_pipeline(
        self,
        pipeline_id: int,
        pipeline_name: str = "",
        model_storage_config: dict[str, Any] | None = None,
        deployment_config: dict[str, Any] | None = None,
    ) -> None:
        """Record (or replace) a pipeline's storage policy and deployment; applies to models stored later."""
        if not 0 <= pipeline_id <= INT32_MAX:
            raise InvalidModelError(f"pipeline_id must be >= 0, got {pipeline_id}")
        try:
            StoragePolicy.from_config(model_storage_config)
        except ValueError as exc:
            raise InvalidModelError(str(exc)) from exc
        deployment_config = dict(deployment_config or {})
        if deployment_config and not str(deployment_config.get("folder", "")).strip():
            raise InvalidModelError("deployment.folder: is required")
        if deployment_config and not Path(deployment_config["folder"]).is_absolute():
            raise InvalidModelError(f"deployment.folder: must be an absolute path, got {deployment_config['folder']!r}")
        with self._db.session() as session:
            session.merge(
                PipelineSettings(
                    pipeline_id=pipeline_id,
                    pipeline_name=pipeline_name,
                    model_storage_config=json.dumps(model_storage_config or {}),
                    deployment_config=json.dumps(deployment_config),
                )
            )

    def _settings(self, pipeline_id: int) -> tuple[str, StoragePolicy, dict[str, Any]]:
        with self._db.session() as session:
            row = session.get(PipelineSettings, pipeline_id)
            if row is None:
                return "", StoragePolicy.from_config(None), {}
            return (
                row.pipeline_name,
                StoragePolicy.from_config(json.loads(row.model_storage_config)),
                json.loads(row.deployment_config),
            )

    # ---- store -------------------------------------------------------------------------------
    def store_model(self, header: ModelHeader, chunks: Iterable[bytes]) -> int:
        """Store the model whose bytes `chunks` yields; return its id.

        Idempotent: the same (pipeline, trigger, sha256) again returns the id already stored.
        Raises InvalidModelError (bad header, no bytes) or ChecksumMismatchError; in both cases
        nothing is stored.
        """
        header = header.validated()
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self.models_directory)
        temp_path = Path(temp_name)
        layout: _Layout | None = None
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as temp_file:
                for chunk in chunks:
                    digest.update(chunk)
                    temp_file.write(chunk)
                    size += len(chunk)
                if size == 0:
                    raise InvalidModelError(
                        f"model of pipeline {header.pipeline_id} trigger {header.trigger_id} has no bytes"
                    )
                actual = digest.hexdigest()
                if actual != header.sha256:
                    raise ChecksumMismatchError(
                        f"model of pipeline {header.pipeline_id} trigger {header.trigger_id}: received {size} bytes "
                        f"with sha256 {actual}, but the header announced {header.sha256}; nothing was stored"
                    )
                temp_file.flush()
                os.fsync(temp_file.fileno())
            existing = self._find(header)
            if existing is not None:
                return existing
            with self._write_lock:
                layout = self._lay_out(header, temp_path, size)
                return self._commit(header, layout, size)
        finally:
            temp_path.unlink(missing_ok=True)
            if layout is not None:
                layout.path.unlink(missing_ok=True)

    def _lay_out(self, header: ModelHeader, upload: Path, size: int) -> _Layout:
        """Write the stored form of the upload as the pipeline's policy says (a difference when it can)."""
        _, policy, _ = self._settings(header.pipeline_id)
        data = upload.read_bytes()
        try:
            state: OrderedDict[str, torch.Tensor] | None = load_state_dict(data)
        except NotATensorStateDict as exc:
            state = None
            if policy.incremental is not None:
                logger.info("model of pipeline %d: stored in full, %s", header.pipeline_id, exc)
        checksum = state_sha256(state) if state is not None else None
        if policy.incremental is not None and state is not None:
            base = self._choose_base(header, policy.full_model_interval)
            if base is not None:
                try:
                    base_state = self.load_state(base.model_id)
                except ModelStorageError as exc:
                    logger.warning("model %d cannot serve as a base, storing in full: %s", base.model_id, exc)
                else:
                    encoded = policy.incremental.encode(state, base_state)
                    if len(encoded) < size:
                        return self._write_layout(
                            encoded,
                            ".wd",
                            policy.incremental.encoding(base.model_id),
                            base.model_id,
                            base.chain_depth + 1,
                            checksum,
                        )
        if not policy.full.zip:
            return _Layout(upload, ".pt", policy.full.encoding(), None, 0, checksum, header.sha256, size)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self.models_directory)
        with os.fdopen(fd, "wb") as out, open(upload, "rb") as source:
            PyTorchFullModel.write(source, out, zip_=True)
        return self._finish_layout(Path(name), ".pt.z", policy.full.encoding(), None, 0, checksum)

    def _write_layout(
        self, data: bytes, suffix: str, encoding: dict[str, Any], base: int | None, depth: int, checksum: str | None
    ) -> _Layout:
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self.models_directory)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return self._finish_layout(Path(name), suffix, encoding, base, depth, checksum)

    def _finish_layout(
        self, path: Path, suffix: str, encoding: dict[str, Any], base: int | None, depth: int, checksum: str | None
    ) -> _Layout:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb+") as stored:
            while chunk := stored.read(self.chunk_bytes):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(stored.fileno())
        return _Layout(path, suffix, encoding, base, depth, checksum, digest.hexdigest(), size)

    def _choose_base(self, header: ModelHeader, full_model_interval: int) -> ModelInfo | None:
        """The parent model if given (else the pipeline's newest model) of the same class, unless the
        chain through it is already `full_model_interval` models long."""
        with self._db.session() as session:
            record = None
            if header.parent_model_id is not None:
                record = session.get(ModelRecord, header.parent_model_id)
            else:
                record = session.scalars(
                    select(ModelRecord)
                    .where(ModelRecord.pipeline_id == header.pipeline_id)
                    .order_by(ModelRecord.model_id.desc())
                    .limit(1)
                ).first()
            if record is None or record.model_class_name != header.model_class_name:
                return None
            base = _info(record)
        return base if base.chain_depth + 1 < full_model_interval else None

    def _commit(self, header: ModelHeader, layout: _Layout, size: int) -> int:
        existing = self._find(header)
        if existing is not None:
            return existing
        final_path: Path | None = None
        committed = False
        try:
            with self._db.session() as session:
                record = ModelRecord(
                    pipeline_id=header.pipeline_id,
                    trigger_id=header.trigger_id,
                    model_class_name=header.model_class_name,
                    model_config=header.model_config,
                    file_path="",
                    sha256=header.sha256,
                    size_bytes=size,
                    created_at=datetime.now(UTC),
                    parent_model_id=header.parent_model_id,
                    training_set_size=header.training_set_size,
                    base_model_id=layout.base_model_id,
                    chain_depth=layout.chain_depth,
                    encoding=json.dumps(layout.encoding),
                    file_sha256=layout.file_sha256,
                    file_size_bytes=layout.file_size,
                    state_sha256=layout.state_sha256,
                )
                session.add(record)
                session.flush()  # assigns the id that names the file
                model_id = int(record.model_id)
                record.file_path = f"{model_id}{layout.suffix}"
                session.merge(
                    AliasRecord(
                        pipeline_id=header.pipeline_id, alias=LATEST, model_id=model_id, updated_at=datetime.now(UTC)
                    )
                )
                final_path = self.models_directory / record.file_path
                os.replace(layout.path, final_path)
                _fsync_directory(self.models_directory)
            committed = True
        except IntegrityError:
            # A concurrent store of the same model won the race: answer with its id.
            existing = self._find(header)
            if existing is None:
                raise
            return existing
        finally:
            if final_path is not None and not committed:
                final_path.unlink(missing_ok=True)
        logger.info(
            "stored model %d (pipeline %d, trigger %d, %d bytes uploaded, %d stored as %s)",
            model_id,
            header.pipeline_id,
            header.trigger_id,
            size,
            layout.file_size,
            layout.encoding,
        )
        return model_id

    def _find(self, header: ModelHeader) -> int | None:
        with self._db.session() as session:
            found = session.execute(
                select(ModelRecord.model_id).where(
                    ModelRecord.pipeline_id == header.pipeline_id,
                    ModelRecord.trigger_id == header.trigger_id,
                    ModelRecord.sha256 == header.sha256,
                )
            ).scalar_one_or_none()
        return None if found is None else int(found)

    # ---- read --------------------------------------------------------------------------------
    def _aliases_of(self, session: Session, model_ids: list[int]) -> dict[int, list[str]]:
        result: dict[int, list[str]] = {}
        if not model_ids:
            return result
        rows = session.execute(
            select(AliasRecord.model_id, AliasRecord.alias).where(AliasRecord.model_id.in_(model_ids))
        )
        for model_id, alias in rows:
            result.setdefault(int(model_id), []).append(alias)
        return result

    def get_model_info(self, model_id: int) -> ModelInfo:
        """The row of model `model_id` (with its aliases), or ModelNotFoundError."""
        with self._db.session() as session:
            record = session.get(ModelRecord, model_id)
            if record is None:
                raise ModelNotFoundError(model_id)
            return _info(record, self._aliases_of(session, [model_id]).get(model_id, []))

    def list_models(self, pipeline_id: int | None = None) -> list[ModelInfo]:
        """Every stored model (of one pipeline, if given), by id."""
        query = select(ModelRecord).order_by(ModelRecord.model_id)
        if pipeline_id is not None:
            query = query.where(ModelRecord.pipeline_id == pipeline_id)
        with self._db.session() as session:
            records = list(session.scalars(query))
            aliases = self._aliases_of(session, [int(r.model_id) for r in records])
            return [_info(record, aliases.get(int(record.model_id), [])) for record in records]

    def resolve(self, pipeline_id: int, alias: str) -> int:
        """The model id an alias of a pipeline points to; AliasNotFoundError if none."""
        with self._db.session() as session:
            row = session.get(AliasRecord, (pipeline_id, alias))
            if row is None:
                raise AliasNotFoundError(f"pipeline {pipeline_id} has no model aliased {alias!r}")
            return int(row.model_id)

    def aliases(self, pipeline_id: int) -> dict[str, int]:
        with self._db.session() as session:
            rows = session.scalars(select(AliasRecord).where(AliasRecord.pipeline_id == pipeline_id))
            return {row.alias: int(row.model_id) for row in rows}

    def open_model(self, model_id: int) -> tuple[ModelInfo, Iterator[bytes]]:
        """The model's row and an iterator over its (full, loadable) bytes in chunks of `chunk_bytes`.

        Raises ModelNotFoundError for an unknown id. Stored files are verified against their checksum
        as they are read (ModelDataLossError if one no longer matches); an incrementally stored model
        is reconstructed first and checked against the state checksum recorded at upload.
        """
        info = self.get_model_info(model_id)
        if info.encoding.get("strategy") == WeightsDifference.name:
            data = save_state_dict(self.load_state(model_id))
            served = replace(info, served_sha256=hashlib.sha256(data).hexdigest())
            return served, (data[i : i + self.chunk_bytes] for i in range(0, len(data), self.chunk_bytes))
        stored = self._stored_chunks(info)
        if not info.encoding.get("zip"):
            return info, stored
        return info, self._checked(info, PyTorchFullModel.read(stored, zip_=True))

    def _checked(self, info: ModelInfo, chunks: Iterator[bytes]) -> Iterator[bytes]:
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        except ValueError as exc:  # a corrupt compressed stream
            raise ModelDataLossError(f"model {info.model_id}: file {info.file_path}: {exc}") from exc
        if size != info.size_bytes or digest.hexdigest() != info.sha256:
            raise ModelDataLossError(
                f"model {info.model_id}: unpacks to {size} bytes with sha256 {digest.hexdigest()}, expected "
                f"{info.size_bytes} bytes with sha256 {info.sha256}"
            )

    def _stored_chunks(self, info: ModelInfo) -> Iterator[bytes]:
        path = self.models_directory / info.file_path
        try:
            model_file = open(path, "rb")  # noqa: SIM115 - the generator below owns and closes it
        except FileNotFoundError:
            # Deleted between the lookup and the open, or lost on disk.
            if not self._exists(info.model_id):
                raise ModelNotFoundError(info.model_id) from None
            raise ModelDataLossError(f"model {info.model_id}: its file {path} is missing") from None
        return self._read_chunks(info, model_file)

    def _read_chunks(self, info: ModelInfo, model_file: BinaryIO) -> Iterator[bytes]:
        digest = hashlib.sha256()
        size = 0
        try:
            while chunk := model_file.read(self.chunk_bytes):
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        finally:
            model_file.close()
        if size != info.file_size_bytes or digest.hexdigest() != info.file_sha256:
            raise ModelDataLossError(
                f"model {info.model_id}: file {info.file_path} has {size} bytes with sha256 {digest.hexdigest()}, "
                f"expected {info.file_size_bytes} bytes with sha256 {info.file_sha256}"
            )

    def load_state(self, model_id: int) -> OrderedDict[str, torch.Tensor]:
        """The model's state dict, reconstructed through its chain of differences and verified."""
        info = self.get_model_info(model_id)
        stored = b"".join(self._stored_chunks(info))
        if info.encoding.get("strategy") == WeightsDifference.name:
            if info.base_model_id is None:
                raise ModelDataLossError(f"model {model_id}: stored as a difference but without a base model")
            base = self.load_state(info.base_model_id)
            try:
                state = WeightsDifference.decode(stored, base)
            except ValueError as exc:
                raise ModelDataLossError(f"model {model_id}: its difference file does not decode: {exc}") from exc
            if info.state_sha256 and state_sha256(state) != info.state_sha256:
                raise ModelDataLossError(
                    f"model {model_id}: reconstructed weights do not match the checksum recorded at upload"
                )
            return state
        data = b"".join(self._checked(info, PyTorchFullModel.read(iter([stored]), bool(info.encoding.get("zip")))))
        try:
            return load_state_dict(data)
        except NotATensorStateDict as exc:
            raise ModelStorageError(f"model {model_id} is not a state dict of tensors: {exc}") from exc

    def read_model_bytes(self, model_id: int) -> bytes:
        """The whole model in memory (for tests and small models)."""
        _, chunks = self.open_model(model_id)
        return b"".join(chunks)

    def _exists(self, model_id: int) -> bool:
        with self._db.session() as session:
            return session.get(ModelRecord, model_id) is not None

    # ---- delete ------------------------------------------------------------------------------
    def delete_model(self, model_id: int) -> None:
        """Remove model `model_id`: first its row (so nobody finds it any more), then its file.

        Refused (ModelInUseError) while another model is stored as a difference to it, or while an
        alias other than `latest` names it; `latest` moves to the pipeline's newest remaining model.
        """
        with self._write_lock:
            with self._db.session() as session:
                record = session.get(ModelRecord, model_id)
                if record is None:
                    raise ModelNotFoundError(model_id)
                dependents = list(
                    session.scalars(
                        select(ModelRecord.model_id)
                        .where(ModelRecord.base_model_id == model_id)
                        .order_by(ModelRecord.model_id)
                    )
                )
                if dependents:
                    raise ModelInUseError(
                        f"model {model_id} cannot be deleted: model(s) {', '.join(map(str, dependents))} are stored "
                        "as differences to it; delete those first"
                    )
                aliases = self._aliases_of(session, [model_id]).get(model_id, [])
                pinned = sorted(a for a in aliases if a != LATEST)
                if pinned:
                    raise ModelInUseError(
                        f"model {model_id} cannot be deleted: it is {', '.join(map(repr, pinned))} of pipeline "
                        f"{record.pipeline_id}; promote another model first"
                    )
                pipeline_id, file_path = int(record.pipeline_id), record.file_path
                session.delete(record)
                session.execute(delete(MetricRecord).where(MetricRecord.model_id == model_id))
                if aliases:
                    session.execute(
                        delete(AliasRecord).where(AliasRecord.pipeline_id == pipeline_id, AliasRecord.alias == LATEST)
                    )
                    session.flush()
                    newest = session.scalars(
                        select(ModelRecord.model_id)
                        .where(ModelRecord.pipeline_id == pipeline_id)
                        .order_by(ModelRecord.model_id.desc())
                        .limit(1)
                    ).first()
                    if newest is not None:
                        session.add(
                            AliasRecord(
                                pipeline_id=pipeline_id,
                                alias=LATEST,
                                model_id=int(newest),
                                updated_at=datetime.now(UTC),
                            )
                        )
        # A fetch already streaming keeps reading its open handle; new fetches see the id gone.
        (self.models_directory / file_path).unlink(missing_ok=True)
        logger.info("deleted model %d", model_id)

    # ---- metrics -----------------------------------------------------------------------------
    def record_metrics(
        self, model_id: int, dataset_id: str, interval: tuple[int, int] | None, metrics: dict[str, float]
    ) -> None:
        """Record (or overwrite) evaluation results of a model; `interval` None: the whole dataset."""
        if not dataset_id:
            raise InvalidModelError("dataset_id must not be empty")
        if not metrics:
            raise InvalidModelError("no metrics given")
        start, end = interval if interval is not None else WHOLE_DATASET
        if start > end:
            raise InvalidModelError(f"interval start {start} is after its end {end}")
        now = datetime.now(UTC)
        with self._db.session() as session:
            if session.get(ModelRecord, model_id) is None:
                raise ModelNotFoundError(model_id)
            for name, value in metrics.items():
                existing = session.scalars(
                    select(MetricRecord).where(
                        MetricRecord.model_id == model_id,
                        MetricRecord.dataset_id == dataset_id,
                        MetricRecord.metric == name,
                        MetricRecord.interval_start == start,
                        MetricRecord.interval_end == end,
                    )
                ).first()
                if existing is None:
                    session.add(
                        MetricRecord(
                            model_id=model_id,
                            dataset_id=dataset_id,
                            metric=name,
                            interval_start=start,
                            interval_end=end,
                            value=float(value),
                            recorded_at=now,
                        )
                    )
                else:
                    existing.value = float(value)
                    existing.recorded_at = now

    def metrics(self, model_id: int) -> list[MetricValue]:
        with self._db.session() as session:
            rows = session.scalars(
                select(MetricRecord).where(MetricRecord.model_id == model_id).order_by(MetricRecord.metric_id)
            )
            return [
                MetricValue(
                    r.dataset_id, r.metric, (int(r.interval_start), int(r.interval_end)), r.value, r.recorded_at
                )
                for r in rows
            ]

    def _metric_values(self, model_id: int, dataset_id: str, metric: str) -> MetricValues:
        return {
            m.interval: (m.value, m.recorded_at)
            for m in self.metrics(model_id)
            if m.dataset_id == dataset_id and m.metric == metric
        }

    # ---- aliases, promotion, deployment --------------------------------------------------------
    def promote(self, model_id: int, alias: str, gate: PromotionGate | None = None) -> PromotionResult:
        """Point `alias` of the model's pipeline at the model, if the gate (when given) lets it.

        Idempotent: promoting the model that already holds the alias succeeds without a change. When
        the pipeline's deployment publishes this alias, the model is published before the alias moves.
        """
        if not _ALIAS.match(alias):
            raise InvalidModelError(
                f"alias {alias!r} is not valid (lower-case letters, digits, '-' and '_', starting with a letter)"
            )
        if alias == LATEST:
            raise InvalidModelError("alias 'latest' is kept up to date by model storage and cannot be promoted to")
        if gate is not None:
            try:
                gate = gate.validated()
            except ValueError as exc:
                raise InvalidModelError(str(exc)) from exc
        with self._write_lock:
            info = self.get_model_info(model_id)
            current = self.aliases(info.pipeline_id).get(alias)
            if current == model_id:
                return PromotionResult(True, f"model {model_id} already is {alias!r}", current)
            if gate is not None and current is not None:
                allowed, reason = judge(
                    gate,
                    model_id,
                    self._metric_values(model_id, gate.dataset_id, gate.metric),
                    current,
                    self._metric_values(current, gate.dataset_id, gate.metric),
                )
                if not allowed:
                    logger.info("model %d not promoted to %r: %s", model_id, alias, reason)
                    return PromotionResult(False, reason, current)
            else:
                reason = "no gate" if gate is None else f"no model was {alias!r} before"
            published = ""
            name, _, deployment_config = self._settings(info.pipeline_id)
            if deployment_config and deployment_config.get("alias", "champion") == alias:
                published = str(self.publish(model_id, Path(deployment_config["folder"]), alias, name))
            with self._db.session() as session:
                session.merge(
                    AliasRecord(
                        pipeline_id=info.pipeline_id, alias=alias, model_id=model_id, updated_at=datetime.now(UTC)
                    )
                )
        logger.info("model %d is now %r of pipeline %d (%s)", model_id, alias, info.pipeline_id, reason)
        return PromotionResult(True, reason, current, published)

    def card(self, model_id: int, alias: str = "", pipeline_name: str = "") -> dict[str, Any]:
        """What a deployed model comes with: identity, lineage, training set size, metrics, checksums."""
        info = self.get_model_info(model_id)
        lineage: list[int] = []
        parent = info.parent_model_id
        while parent is not None and parent not in lineage:
            lineage.append(parent)
            try:
                parent = self.get_model_info(parent).parent_model_id
            except ModelNotFoundError:
                break
        return {
            "model_id": info.model_id,
            "pipeline_id": info.pipeline_id,
            "pipeline_name": pipeline_name,
            "trigger_id": info.trigger_id,
            "model_class_name": info.model_class_name,
            "model_config": json.loads(info.model_config),
            "parent_model_id": info.parent_model_id,
            "lineage": lineage,
            "training_set_size": info.training_set_size,
            "created_at": info.created_at.isoformat(),
            "alias": alias,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "upload_sha256": info.sha256,
            "state_sha256": info.state_sha256,
            "metrics": [
                {"dataset_id": m.dataset_id, "metric": m.metric, "interval": list(m.interval), "value": m.value}
                for m in self.metrics(model_id)
            ],
        }

    def publish(self, model_id: int, folder: Path, alias: str = "", pipeline_name: str = "") -> Path:
        """Write the model and its card into a deployment folder and make it `current` (atomically)."""
        _, chunks = self.open_model(model_id)
        return deployment.publish(folder, model_id, chunks, self.card(model_id, alias, pipeline_name))
