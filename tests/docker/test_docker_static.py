"""Checks of the Docker / compose / tmuxp files that need no Docker engine."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from modyn.config import load_system_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
MODYN_SERVICES = {
    "storage": "modyn-storage",
    "selector": "modyn-selector",
    "trainer_server": "modyn-trainer-server",
    "metadata_processor": "modyn-metadata-processor",
    "model_storage": "modyn-model-storage",
    "evaluator": "modyn-evaluator",
}


def console_scripts() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = ast.literal_eval(value)
                    return dict(entry.split("=", 1) for entry in entries)
    raise AssertionError("no console_scripts in setup.py")


def container_path_to_repo(path: str) -> Path:
    assert path.startswith("/modyn/"), path
    return ROOT / path.removeprefix("/modyn/")


def compose_system_config() -> dict[str, Any]:
    return load_system_config(ROOT / "docker" / "system_compose.yaml")


def test_each_modyn_service_runs_its_console_script_with_the_compose_config() -> None:
    scripts = console_scripts()
    for name, script in MODYN_SERVICES.items():
        command = SERVICES[name]["command"]
        assert command[0] == script, name
        assert script in scripts, f"{script} is not a console script in setup.py"
        module = scripts[script].split(":")[0]
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), scripts[script]
        assert container_path_to_repo(command[1]) == ROOT / "docker" / "system_compose.yaml"


def test_ports_and_hostnames_agree_with_the_compose_system_config() -> None:
    config = compose_system_config()
    for name in MODYN_SERVICES:
        port = config[name]["port"]
        assert SERVICES[name]["ports"] == [f"{port}:{port}"], name
        assert config[name]["hostname"] == name, "services reach each other by compose service name"
        health = SERVICES[name]["healthcheck"]["test"]
        assert health[-2:] == [name, str(port)], f"{name}: health check probes the wrong address"
    assert config["storage"]["database"]["hostname"] == "storage-db"
    assert config["metadata_database"]["hostname"] == "metadata-db"
    assert SERVICES["storage-db"]["environment"]["POSTGRES_DB"] == config["storage"]["database"]["database"]
    assert SERVICES["metadata-db"]["environment"]["POSTGRES_DB"] == config["metadata_database"]["database"]


def test_dependency_chain_waits_for_health() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, name
            assert "healthcheck" in SERVICES[dependency], f"{dependency} has no health check"
    assert set(SERVICES["tests"]["depends_on"]) == set(MODYN_SERVICES)
    assert SERVICES["tests"]["command"][-1] == "integrationtests"


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "docker").glob("Dockerfile*")))
def test_every_copied_file_exists(dockerfile: Path) -> None:
    copies = re.findall(r"^COPY\s+(.+)$", dockerfile.read_text(), flags=re.MULTILINE)
    assert copies
    for line in copies:
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"


def test_gpu_override_and_tmuxp_cover_the_services() -> None:
    gpu = yaml.safe_load((ROOT / "docker" / "docker-compose.gpu.yml").read_text())
    for name in gpu["services"]:
        assert name in SERVICES
    tmux = yaml.safe_load((ROOT / "tmuxp.yaml").read_text())
    panes = [p if isinstance(p, str) else " ".join(p["shell_command"]) for w in tmux["windows"] for p in w["panes"]]
    for name in MODYN_SERVICES:
        assert any(pane.endswith(f"logs -f {name}") for pane in panes), name
    assert any("storage-db psql" in pane for pane in panes)
    assert any("metadata-db psql" in pane for pane in panes)


def test_postgres_config_file_is_mounted_and_parses() -> None:
    conf = (ROOT / "docker" / "postgres" / "postgresql.conf").read_text()
    settings = dict(
        line.split("=", 1) for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    assert "shared_buffers " in settings
    for db in ("storage-db", "metadata-db"):
        assert "./docker/postgres/postgresql.conf:/etc/postgresql/postgresql.conf:ro" in SERVICES[db]["volumes"]
        assert "config_file=/etc/postgresql/postgresql.conf" in SERVICES[db]["command"]
