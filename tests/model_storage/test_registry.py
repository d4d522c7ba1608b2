"""The registry: lineage, metrics, aliases, the promotion gate, deletion rules and deployment."""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import text

from modyn.common.database import Database
from modyn.model_storage.model_storage_manager import (
    AliasNotFoundError,
    InvalidModelError,
    ModelHeader,
    ModelInUseError,
    ModelNotFoundError,
    ModelStorageManager,
)
from modyn.model_storage.promotion import PromotionGate
from modyn.model_storage.strategies.state_dict import load_state_dict, save_state_dict

GATE = PromotionGate(dataset_id="test", metric="Accuracy", max_regression=0.02)


def _store(
    manager: ModelStorageManager, trigger: int, value: float, parent: int | None = None, pipeline: int = 1
) -> int:
    data = save_state_dict(OrderedDict([("w", torch.full((256,), value))]))
    header = ModelHeader(pipeline, trigger, "Dummy", "{}", hashlib.sha256(data).hexdigest(), parent, 1000 + trigger)
    return manager.store_model(header, [data])


@pytest.fixture
def manager(db_config: dict[str, Any], tmp_path: Path) -> ModelStorageManager:
    return ModelStorageManager(Database(db_config), tmp_path / "models")


def test_lineage_and_training_set_size_are_recorded(manager: ModelStorageManager) -> None:
    first = _store(manager, 0, 1.0)
    second = _store(manager, 1, 2.0, parent=first)
    info = manager.get_model_info(second)
    assert (info.parent_model_id, info.training_set_size) == (first, 1001)
    assert manager.get_model_info(first).parent_model_id is None
    assert manager.card(second)["lineage"] == [first]


def test_latest_follows_new_models_and_deletions(manager: ModelStorageManager) -> None:
    first = _store(manager, 0, 1.0)
    second = _store(manager, 1, 2.0)
    other = _store(manager, 0, 3.0, pipeline=2)
    assert manager.aliases(1) == {"latest": second}
    assert manager.aliases(2) == {"latest": other}
    assert manager.get_model_info(second).aliases == ("latest",)
    manager.delete_model(second)
    assert manager.resolve(1, "latest") == first
    manager.delete_model(first)
    with pytest.raises(AliasNotFoundError, match="pipeline 1 has no model aliased 'latest'"):
        manager.resolve(1, "latest")


def test_promotion_without_gate_and_idempotent(manager: ModelStorageManager) -> None:
    first = _store(manager, 0, 1.0)
    second = _store(manager, 1, 2.0)
    result = manager.promote(first, "champion")
    assert (result.promoted, result.previous_model_id) == (True, None)
    result = manager.promote(second, "champion")
    assert (result.promoted, result.previous_model_id, result.reason) == (True, first, "no gate")
    again = manager.promote(second, "champion")
    assert again.promoted and again.previous_model_id == second and "already" in again.reason
    assert manager.aliases(1) == {"latest": second, "champion": second}


def test_promotion_gate_compares_on_the_same_data(manager: ModelStorageManager) -> None:
    champion = _store(manager, 0, 1.0)
    worse = _store(manager, 1, 2.0)
    slightly_worse = _store(manager, 2, 3.0)
    assert manager.promote(champion, "champion", GATE).reason == "no model was 'champion' before"
    manager.record_metrics(champion, "test", (0, 99), {"Accuracy": 0.90})
    manager.record_metrics(champion, "test", (100, 199), {"Accuracy": 0.80})
    manager.record_metrics(worse, "test", (100, 199), {"Accuracy": 0.75})
    refused = manager.promote(worse, "champion", GATE)
    assert not refused.promoted and refused.previous_model_id == champion
    assert refused.reason == (
        "gate refused: test/Accuracy on interval [100, 199]: model 2 0.75 vs. model 1 0.8 "
        "(higher is better, max regression 0.02)".replace("model 2", f"model {worse}").replace(
            "model 1", f"model {champion}"
        )
    )
    assert manager.resolve(1, "champion") == champion
    manager.record_metrics(slightly_worse, "test", (100, 199), {"Accuracy": 0.785})
    passed = manager.promote(slightly_worse, "champion", GATE)
    assert passed.promoted and passed.reason.startswith("gate passed")
    assert manager.resolve(1, "champion") == slightly_worse


def test_gate_on_a_lower_is_better_metric_and_an_explicit_interval(manager: ModelStorageManager) -> None:
    champion = _store(manager, 0, 1.0)
    candidate = _store(manager, 1, 2.0)
    manager.promote(champion, "champion")
    manager.record_metrics(champion, "test", None, {"Loss": 0.50})
    manager.record_metrics(candidate, "test", None, {"Loss": 0.55})
    manager.record_metrics(champion, "test", (0, 10), {"Loss": 0.70})
    manager.record_metrics(candidate, "test", (0, 10), {"Loss": 0.40})
    whole = PromotionGate("test", "Loss", max_regression=0.01, higher_is_better=False, interval=(-(2**63), 2**63 - 1))
    assert not manager.promote(candidate, "champion", whole).promoted
    on_interval = PromotionGate("test", "Loss", max_regression=0.0, higher_is_better=False, interval=(0, 10))
    assert manager.promote(candidate, "champion", on_interval).promoted


def test_gate_refuses_without_common_evaluation(manager: ModelStorageManager) -> None:
    champion = _store(manager, 0, 1.0)
    candidate = _store(manager, 1, 2.0)
    manager.promote(champion, "champion")
    manager.record_metrics(candidate, "test", (0, 5), {"Accuracy": 1.0})
    result = manager.promote(candidate, "champion", GATE)
    assert not result.promoted
    assert f"no test/Accuracy recorded for model(s) {champion}" in result.reason


def test_bad_promotions_are_rejected(manager: ModelStorageManager) -> None:
    model = _store(manager, 0, 1.0)
    with pytest.raises(InvalidModelError, match="kept up to date"):
        manager.promote(model, "latest")
    with pytest.raises(InvalidModelError, match="alias 'Bad Name' is not valid"):
        manager.promote(model, "Bad Name")
    with pytest.raises(InvalidModelError, match="max_regression must be >= 0"):
        manager.promote(model, "champion", PromotionGate("test", "Accuracy", max_regression=-1))
    with pytest.raises(ModelNotFoundError, match="model 999 is not stored"):
        manager.promote(999, "champion")


def test_metrics_are_recorded_idempotently_and_removed_with_the_model(manager: ModelStorageManager) -> None:
    model = _store(manager, 0, 1.0)
    manager.record_metrics(model, "test", (0, 9), {"Accuracy": 0.5, "F1Score": 0.4})
    manager.record_metrics(model, "test", (0, 9), {"Accuracy": 0.6})
    values = {(m.metric, m.interval): m.value for m in manager.metrics(model)}
    assert values == {("Accuracy", (0, 9)): 0.6, ("F1Score", (0, 9)): 0.4}
    with pytest.raises(ModelNotFoundError):
        manager.record_metrics(12345, "test", None, {"Accuracy": 1.0})
    with pytest.raises(InvalidModelError, match="interval start 5 is after its end 1"):
        manager.record_metrics(model, "test", (5, 1), {"Accuracy": 1.0})
    manager.delete_model(model)
    assert manager.metrics(model) == []


def test_deletion_refuses_to_break_a_chain_or_drop_a_champion(manager: ModelStorageManager) -> None:
    manager.set_pipeline(
        1, "p", {"incremental_model_strategy": {"name": "WeightsDifference", "full_model_interval": 10}}
    )
    base = _store(manager, 0, 1.0)
    middle = _store(manager, 1, 1.5, parent=base)
    top = _store(manager, 2, 1.75, parent=middle)
    assert manager.get_model_info(top).base_model_id == middle
    with pytest.raises(ModelInUseError, match=f"model\\(s\\) {middle} are stored as differences to it"):
        manager.delete_model(base)
    manager.promote(middle, "champion")
    manager.delete_model(top)
    with pytest.raises(ModelInUseError, match="it is 'champion' of pipeline 1; promote another model first"):
        manager.delete_model(middle)
    manager.promote(base, "champion")
    manager.delete_model(middle)
    assert [m.model_id for m in manager.list_models(1)] == [base]
    assert torch.equal(manager.load_state(base)["w"], torch.full((256,), 1.0))
    with pytest.raises(ModelNotFoundError):
        manager.delete_model(middle)


def test_promotion_publishes_to_the_deployment_folder(manager: ModelStorageManager, tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    manager.set_pipeline(
        1,
        "mnist",
        {"incremental_model_strategy": {"name": "WeightsDifference"}},
        {"folder": str(folder), "alias": "champion"},
    )
    first = _store(manager, 0, 1.0)
    second = _store(manager, 1, 2.0, parent=first)
    manager.record_metrics(second, "test", None, {"Accuracy": 0.9})
    result = manager.promote(first, "champion")
    assert result.published_to == str(folder / "models" / str(first))
    manager.promote(second, "champion")
    assert os.readlink(folder / "current") == f"models/{second}"
    card = json.loads((folder / "current" / "card.json").read_text())
    assert card["model_id"] == second and card["pipeline_name"] == "mnist" and card["lineage"] == [first]
    assert card["training_set_size"] == 1001 and card["alias"] == "champion"
    assert card["metrics"] == [
        {"dataset_id": "test", "metric": "Accuracy", "interval": [-(2**63), 2**63 - 1], "value": 0.9}
    ]
    assert json.loads((folder / "current.json").read_text())["model_id"] == second
    weights = (folder / "current" / "model.pt").read_bytes()
    assert torch.equal(load_state_dict(weights)["w"], torch.full((256,), 2.0))
    assert card["file_sha256"] == hashlib.sha256(weights).hexdigest()
    # Back to the first model: its directory is reused, `current` switches; nothing half-written remains.
    manager.promote(first, "champion")
    assert os.readlink(folder / "current") == f"models/{first}"
    assert sorted(p.name for p in folder.iterdir()) == ["current", "current.json", "models"]
    assert sorted(p.name for p in (folder / "models").iterdir()) == [str(first), str(second)]
    # Another alias is not published.
    manager.promote(second, "staging")
    assert os.readlink(folder / "current") == f"models/{first}"


def test_set_pipeline_rejects_bad_configs(manager: ModelStorageManager) -> None:
    with pytest.raises(InvalidModelError, match="full_model_interval"):
        manager.set_pipeline(1, "p", {"incremental_model_strategy": {"full_model_interval": "x"}})
    with pytest.raises(InvalidModelError, match="deployment.folder: must be an absolute path"):
        manager.set_pipeline(1, "p", {}, {"folder": "relative/dir"})


def test_database_of_an_older_version_is_upgraded(sqlite_db_config: dict[str, Any], tmp_path: Path) -> None:
    database = Database(sqlite_db_config)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE model_storage_models (model_id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline_id INTEGER "
                "NOT NULL, trigger_id INTEGER NOT NULL, model_class_name VARCHAR(255) NOT NULL, model_config TEXT "
                "NOT NULL, file_path VARCHAR(1024) NOT NULL, sha256 VARCHAR(64) NOT NULL, size_bytes BIGINT NOT "
                "NULL, created_at DATETIME NOT NULL, UNIQUE (pipeline_id, trigger_id, sha256))"
            )
        )
    models = tmp_path / "models"
    models.mkdir()
    data = save_state_dict(OrderedDict([("w", torch.ones(3))]))
    (models / "1.pt").write_bytes(data)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO model_storage_models VALUES (1, 4, 0, 'Dummy', '{}', '1.pt', :sha, :size, "
                "'2024-01-01 00:00:00')"
            ),
            {"sha": hashlib.sha256(data).hexdigest(), "size": len(data)},
        )
    manager = ModelStorageManager(database, models)
    info = manager.get_model_info(1)
    assert (info.storage, info.parent_model_id, info.file_size_bytes) == ("full", None, len(data))
    assert manager.read_model_bytes(1) == data
    assert _store(manager, 1, 5.0, pipeline=4) == 2
