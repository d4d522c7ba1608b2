"""Model storage's logic: models as checksummed files plus rows in the metadata DB, no gRPC involved.

A model is streamed into a temporary file next to its final place while it is hashed; only a
model whose SHA-256 matches the one announced is kept: fsync'ed, renamed atomically to
`<model_id>.pt` and then committed as a row, so the database never points at a missing or
partial file. A stored model never changes under its id, and ids are never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from modyn.common.database import Database
from modyn.model_storage.models import ModelRecord, ModelStorageBase

logger = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 1024 * 1024
TEMP_PREFIX = ".incoming-"
TEMP_SUFFIX = ".part"
INT32_MAX = 2**31 - 1
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ModelStorageError(Exception):
    """Base of model storage's errors; the message names the model and what is wrong."""


class InvalidModelError(ModelStorageError):
    """The header or the byte stream of a model to store is malformed."""


class ChecksumMismatchError(ModelStorageError):
    """The bytes received do not hash to the SHA-256 the header announced; nothing was stored."""


class ModelNotFoundError(ModelStorageError):
    """No model is stored under this id."""

    def __init__(self, model_id: int) -> None:
        self.model_id = model_id
        super().__init__(f"model {model_id} is not stored")


class ModelDataLossError(ModelStorageError):
    """A stored model's file is missing or no longer matches its checksum."""


@dataclass(frozen=True)
class ModelHeader:
    """What a model to store is: whose, which trigger, which class and config, and its checksum."""

    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    sha256: str

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
        return replace(self, model_class_name=name, model_config=config, sha256=sha256)


@dataclass(frozen=True)
class ModelInfo:
    """A stored model's row: `file_path` is relative to the models directory."""

    model_id: int
    pipeline_id: int
    trigger_id: int
    model_class_name: str
    model_config: str
    file_path: str
    sha256: str
    size_bytes: int
    created_at: datetime


def _info(record: ModelRecord) -> ModelInfo:
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
    )


def _fsync_directory(path: Path) -> None:
    # Makes the rename itself durable, not only the file's bytes.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        self._remove_stale_uploads()

    def _remove_stale_uploads(self) -> None:
        # Uploads cut short by a crash are never referenced by a row; one model storage owns this folder.
        for stale in self.models_directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            logger.info("removing unfinished upload %s", stale)
            stale.unlink(missing_ok=True)

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
            return self._commit(header, temp_path, size)
        finally:
            temp_path.unlink(missing_ok=True)

    def _commit(self, header: ModelHeader, temp_path: Path, size: int) -> int:
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
                )
                session.add(record)
                session.flush()  # assigns the id that names the file
                model_id = int(record.model_id)
                record.file_path = f"{model_id}.pt"
                final_path = self.models_directory / record.file_path
                os.replace(temp_path, final_path)
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
            "stored model %d (pipeline %d, trigger %d, %d bytes)", model_id, header.pipeline_id, header.trigger_id, size
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
    def get_model_info(self, model_id: int) -> ModelInfo:
        """The row of model `model_id`, or ModelNotFoundError."""
        with self._db.session() as session:
            record = session.get(ModelRecord, model_id)
            if record is None:
                raise ModelNotFoundError(model_id)
            return _info(record)

    def list_models(self, pipeline_id: int | None = None) -> list[ModelInfo]:
        """Every stored model (of one pipeline, if given), by id."""
        query = select(ModelRecord).order_by(ModelRecord.model_id)
        if pipeline_id is not None:
            query = query.where(ModelRecord.pipeline_id == pipeline_id)
        with self._db.session() as session:
            return [_info(record) for record in session.scalars(query)]

    def open_model(self, model_id: int) -> tuple[ModelInfo, Iterator[bytes]]:
        """The model's row and an iterator over its bytes in chunks of `chunk_bytes`.

        Raises ModelNotFoundError for an unknown id. The iterator verifies size and checksum as it
        goes and raises ModelDataLossError at the end if the file no longer matches.
        """
        info = self.get_model_info(model_id)
        path = self.models_directory / info.file_path
        try:
            model_file = open(path, "rb")  # noqa: SIM115 - the generator below owns and closes it
        except FileNotFoundError:
            # Deleted between the lookup and the open, or lost on disk.
            if not self._exists(model_id):
                raise ModelNotFoundError(model_id) from None
            raise ModelDataLossError(f"model {model_id}: its file {path} is missing") from None
        return info, self._read_chunks(info, model_file)

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
        if size != info.size_bytes or digest.hexdigest() != info.sha256:
            raise ModelDataLossError(
                f"model {info.model_id}: file {info.file_path} has {size} bytes with sha256 {digest.hexdigest()}, "
                f"expected {info.size_bytes} bytes with sha256 {info.sha256}"
            )

    def read_model_bytes(self, model_id: int) -> bytes:
        """The whole model in memory (for tests and small models)."""
        _, chunks = self.open_model(model_id)
        return b"".join(chunks)

    def _exists(self, model_id: int) -> bool:
        with self._db.session() as session:
            return session.get(ModelRecord, model_id) is not None

    # ---- delete ------------------------------------------------------------------------------
    def delete_model(self, model_id: int) -> None:
        """Remove model `model_id`: first its row (so nobody finds it any more), then its file."""
        with self._db.session() as session:
            file_path = session.execute(
                delete(ModelRecord).where(ModelRecord.model_id == model_id).returning(ModelRecord.file_path)
            ).scalar_one_or_none()
        if file_path is None:
            raise ModelNotFoundError(model_id)
        # A fetch already streaming keeps reading its open handle; new fetches see the id gone.
        (self.models_directory / file_path).unlink(missing_ok=True)
        logger.info("deleted model %d", model_id)
