"""ModelStorageManager on SQLite and PostgreSQL: chunked store with checksum, fetch, delete, idempotence."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import func, select

from modyn.common.database import Database
from modyn.model_storage.model_storage_manager import (
    ChecksumMismatchError,
    InvalidModelError,
    ModelDataLossError,
    ModelHeader,
    ModelNotFoundError,
    ModelStorageManager,
)
from modyn.model_storage.models import ModelRecord


def _state_dict_bytes(seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _header(data: bytes, pipeline_id: int = 1, trigger_id: int = 0, **overrides: Any) -> ModelHeader:
    fields: dict[str, Any] = {
        "pipeline_id": pipeline_id,
        "trigger_id": trigger_id,
        "model_class_name": "MLP",
        "model_config": json.dumps({"input_dim": 64, "hidden_dims": [128], "num_classes": 10}),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    fields.update(overrides)
    return ModelHeader(**fields)


@pytest.fixture
def database(db_config: dict[str, Any]) -> Iterator[Database]:
    db = Database(db_config)
    yield db
    db.dispose()


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def manager(database: Database, models_dir: Path) -> ModelStorageManager:
    return ModelStorageManager(database, models_dir, chunk_bytes=4096)


def _row_count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(ModelRecord)) or 0)


def _files(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir())


def test_store_fetch_round_trip_of_a_state_dict(manager: ModelStorageManager, models_dir: Path) -> None:
    data = _state_dict_bytes()
    assert len(data) > 8 * 4096
    model_id = manager.store_model(_header(data), _chunks(data, 1000))  # many small upload chunks

    info, chunks = manager.open_model(model_id)
    received = list(chunks)
    assert all(len(c) == 4096 for c in received[:-1]) and 0 < len(received[-1]) <= 4096
    assert b"".join(received) == data
    assert info.model_id == model_id
    assert (info.pipeline_id, info.trigger_id, info.model_class_name) == (1, 0, "MLP")
    assert json.loads(info.model_config) == {"input_dim": 64, "hidden_dims": [128], "num_classes": 10}
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size_bytes == len(data)
    assert info.file_path == f"{model_id}.pt"
    assert _files(models_dir) == [f"{model_id}.pt"]

    loaded = torch.load(io.BytesIO(b"".join(received)), weights_only=True)
    expected = torch.load(io.BytesIO(data), weights_only=True)
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_checksum_mismatch_stores_nothing(manager: ModelStorageManager, database: Database, models_dir: Path) -> None:
    data = _state_dict_bytes()
    header = _header(data, sha256=hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(ChecksumMismatchError, match="pipeline 1 trigger 0.*nothing was stored"):
        manager.store_model(header, _chunks(data, 1000))
    assert _row_count(database) == 0
    assert _files(models_dir) == []


def test_same_model_again_returns_the_same_id(
    manager: ModelStorageManager, database: Database, models_dir: Path
) -> None:
    data = _state_dict_bytes()
    first = manager.store_model(_header(data), _chunks(data, 5000))
    again = manager.store_model(_header(data, sha256=hashlib.sha256(data).hexdigest().upper()), _chunks(data, 777))
    assert again == first
    assert _row_count(database) == 1
    assert _files(models_dir) == [f"{first}.pt"]

    # The same bytes for another trigger are another model.
    other = manager.store_model(_header(data, trigger_id=1), _chunks(data, 5000))
    assert other != first
    assert [m.model_id for m in manager.list_models(1)] == [first, other]
    assert manager.list_models(2) == []


def test_delete_removes_row_and_file(manager: ModelStorageManager, database: Database, models_dir: Path) -> None:
    data = _state_dict_bytes()
    keep = manager.store_model(_header(data, trigger_id=0), _chunks(data, 5000))
    gone = manager.store_model(_header(data, trigger_id=1), _chunks(data, 5000))
    manager.delete_model(gone)
    assert _row_count(database) == 1
    assert _files(models_dir) == [f"{keep}.pt"]
    with pytest.raises(ModelNotFoundError, match=f"model {gone} is not stored"):
        manager.open_model(gone)
    with pytest.raises(ModelNotFoundError):
        manager.delete_model(gone)
    assert manager.read_model_bytes(keep) == data

    # Ids are never reused, even for the latest one deleted: a model never changes under its id.
    newer = manager.store_model(_header(data, trigger_id=2), _chunks(data, 5000))
    assert newer > gone


def test_unknown_id_is_named(manager: ModelStorageManager) -> None:
    with pytest.raises(ModelNotFoundError, match="model 12345 is not stored"):
        manager.open_model(12345)
    with pytest.raises(ModelNotFoundError, match="model 12345"):
        manager.get_model_info(12345)
    with pytest.raises(ModelNotFoundError, match="model 12345"):
        manager.delete_model(12345)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sha256": "abc"}, "sha256 must be 64 hex digits"),
        ({"model_config": "{not json"}, "model_config is not valid JSON"),
        ({"model_config": "[1, 2]"}, "model_config must be a JSON object"),
        ({"model_class_name": "  "}, "model_class_name must not be empty"),
        ({"pipeline_id": -3}, "pipeline_id must be >= 0"),
        ({"trigger_id": -1}, "trigger_id must be >= 0"),
    ],
)
def test_invalid_header_stores_nothing(
    manager: ModelStorageManager, database: Database, models_dir: Path, overrides: dict[str, Any], message: str
) -> None:
    data = b"model bytes"
    with pytest.raises(InvalidModelError, match=message):
        manager.store_model(_header(data, **overrides), [data])
    assert _row_count(database) == 0
    assert _files(models_dir) == []


def test_empty_model_is_rejected(manager: ModelStorageManager, models_dir: Path) -> None:
    with pytest.raises(InvalidModelError, match="has no bytes"):
        manager.store_model(_header(b""), [b""])
    assert _files(models_dir) == []


def test_empty_config_means_empty_object(manager: ModelStorageManager) -> None:
    data = b"abc"
    model_id = manager.store_model(_header(data, model_config=""), [data])
    assert manager.get_model_info(model_id).model_config == "{}"


def test_interrupted_upload_leaves_nothing(manager: ModelStorageManager, database: Database, models_dir: Path) -> None:
    def broken_stream() -> Iterator[bytes]:
        yield b"x" * 10_000
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        manager.store_model(_header(b"x" * 20_000), broken_stream())
    assert _row_count(database) == 0
    assert _files(models_dir) == []


def test_stale_uploads_are_removed_on_start(database: Database, models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    (models_dir / ".incoming-abc.part").write_bytes(b"half a model")
    ModelStorageManager(database, models_dir)
    assert _files(models_dir) == []


def test_corrupt_or_missing_file_is_data_loss(manager: ModelStorageManager, models_dir: Path) -> None:
    data = _state_dict_bytes()
    model_id = manager.store_model(_header(data), _chunks(data, 5000))
    path = models_dir / f"{model_id}.pt"
    corrupted = bytearray(data)
    corrupted[100] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    with pytest.raises(ModelDataLossError, match=f"model {model_id}"):
        manager.read_model_bytes(model_id)
    path.unlink()
    with pytest.raises(ModelDataLossError, match="is missing"):
        manager.open_model(model_id)


def test_concurrent_identical_stores_agree(manager: ModelStorageManager, database: Database, models_dir: Path) -> None:
    data = _state_dict_bytes()
    ids: list[int] = []
    errors: list[BaseException] = []

    def store() -> None:
        try:
            ids.append(manager.store_model(_header(data), _chunks(data, 3000)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(ids) == 4 and len(set(ids)) == 1
    assert _row_count(database) == 1
    assert _files(models_dir) == [f"{ids[0]}.pt"]
