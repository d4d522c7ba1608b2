"""`modyn-models` against a real model storage service on a loopback port."""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.database import Database
from modyn.common.grpc_utils import GrpcServer
from modyn.common.testing import free_port
from modyn.generated.model_storage_pb2_grpc import add_ModelStorageServicer_to_server
from modyn.model_storage.cli import main
from modyn.model_storage.model_storage_manager import ModelStorageManager
from modyn.model_storage.servicer import ModelStorageServicer
from modyn.model_storage.strategies.state_dict import load_state_dict, save_state_dict


@pytest.fixture
def setup(sqlite_db_config: dict[str, Any], port: int, tmp_path: Path) -> Iterator[tuple[Path, list[int]]]:
    database = Database(sqlite_db_config)
    manager = ModelStorageManager(database, tmp_path / "models")
    servicer = ModelStorageServicer(manager)
    system = {
        "storage": {
            "port": free_port(),
            "database": {"drivername": "sqlite", "database": str(tmp_path / "s.db")},
            "datasets": [],
        },
        "metadata_database": sqlite_db_config,
        "selector": {"port": free_port()},
        "trainer_server": {"port": free_port()},
        "metadata_processor": {"port": free_port()},
        "model_storage": {"hostname": "127.0.0.1", "port": port, "models_directory": str(tmp_path / "models")},
        "evaluator": {"port": free_port()},
    }
    config = tmp_path / "system.yaml"
    config.write_text(yaml.safe_dump(system))
    with GrpcServer("model-storage-test", "127.0.0.1", port, lambda s: add_ModelStorageServicer_to_server(servicer, s)):
        client = ModelStorageClient("127.0.0.1", port)
        client.set_pipeline(3, "p", {"incremental_model_strategy": {"name": "WeightsDifference"}}, None)
        ids: list[int] = []
        for trigger in range(2):
            path = tmp_path / f"m{trigger}.pt"
            path.write_bytes(save_state_dict(OrderedDict([("w", torch.full((64,), float(trigger)))])))
            ids.append(client.store_model_file(path, 3, trigger, "Dummy", {}, ids[-1] if ids else None, 50))
        client.record_metrics(ids[1], "test", (0, 9), {"Accuracy": 0.75})
        client.close()
        yield config, ids
    database.dispose()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_list_show_export_promote_delete(setup: tuple[Path, list[int]], tmp_path: Path) -> None:
    config, (first, second) = setup
    code, out, _ = run(str(config), "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "id",
        "pipeline",
        "trigger",
        "class",
        "parent",
        "train_size",
        "storage",
        "stored",
        "aliases",
        "created",
    ]
    assert lines[2].split()[:7] == [str(second), "3", "1", "Dummy", str(first), "50", "diff(xor)"]
    code, out, _ = run(str(config), "list", "--pipeline", "3", "--json")
    assert [m["model_id"] for m in json.loads(out)] == [first, second]

    code, out, _ = run(str(config), "show", "latest", "--pipeline", "3", "--json")
    shown = json.loads(out)
    assert (shown["model_id"], shown["parent_model_id"], shown["aliases"]) == (second, first, ["latest"])
    assert shown["metrics"][0]["interval"] == [0, 9] and shown["metrics"][0]["value"] == 0.75
    code, out, _ = run(str(config), "show", str(second))
    assert code == 0 and "Accuracy" in out and f"diff(xor) of model {first}" in out

    code, out, _ = run(str(config), "export", str(second), str(tmp_path / "out" / "model.pt"))
    assert code == 0
    assert torch.equal(load_state_dict((tmp_path / "out" / "model.pt").read_bytes())["w"], torch.full((64,), 1.0))

    assert run(str(config), "promote", str(first), "--alias", "champion")[0] == 0
    code, _, err = run(
        str(config),
        "promote",
        str(second),
        "--alias",
        "champion",
        "--gate-dataset",
        "test",
        "--gate-metric",
        "Accuracy",
    )
    assert code == 1 and "not promoted to 'champion'" in err and "not both evaluated" in err

    code, _, err = run(str(config), "delete", str(first))
    assert code == 1 and f"model(s) {second} are stored as differences to it" in err
    assert run(str(config), "delete", str(second)) == (0, f"model {second} deleted\n", "")
    code, _, err = run(str(config), "show", str(second))
    assert code == 1 and f"model {second} is not stored" in err


def test_usage_and_config_errors(setup: tuple[Path, list[int]], tmp_path: Path) -> None:
    config, _ = setup
    assert run(str(config), "show", "champion")[2] == (
        "modyn-models: 'champion' is not a model id; to use an alias, give its pipeline with --pipeline\n"
    )
    assert run(str(config), "frobnicate")[0] == 2
    code, _, err = run(str(tmp_path / "missing.yaml"), "list")
    assert code == 2 and "file not found" in err
    code, _, err = run(str(config), "show", "champion", "--pipeline", "3")
    assert code == 1 and "pipeline 3 has no model aliased 'champion'" in err
