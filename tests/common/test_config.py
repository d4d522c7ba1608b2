from pathlib import Path

import pytest
import yaml

from modyn.config import ConfigError, load_pipeline_config, load_system_config, validate_pipeline_config

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "benchmarks" / "mnist" / "pipeline.yaml"
SYSTEM = ROOT / "benchmarks" / "mnist" / "system_sqlite.yaml"


def example_pipeline() -> dict:
    return yaml.safe_load(PIPELINE.read_text())


def test_example_configs_are_valid_and_defaults_filled() -> None:
    pipeline = load_pipeline_config(PIPELINE)
    assert pipeline["training"]["optimizers"][0]["source"] == "PyTorch"
    assert pipeline["data"]["transformations"] == []
    assert pipeline["evaluation"]["datasets"][0]["label_transformer_function"] == ""
    system = load_system_config(SYSTEM)
    assert system["storage"]["keys_per_message"] == 100000
    # relative paths resolve against the YAML's folder, not the working directory
    assert system["storage"]["database"]["database"] == str((ROOT / "modyn_state/mnist/storage.db").resolve())
    assert system["storage"]["datasets"][0]["base_path"] == str((ROOT / "example_data/mnist/train").resolve())


def test_every_problem_is_reported_with_its_yaml_path() -> None:
    config = example_pipeline()
    config["training"]["batch_size"] = 0
    config["training"]["epochs_per_trigger"] = "three"
    config["training"]["optimizers"][0]["param_groups"][0]["config"] = 5
    config["training"]["unknown_key"] = 1
    del config["data"]["dataset_id"]
    config["trigger"] = {"id": "DataAmountTrigger", "num_samples": -1}
    with pytest.raises(ConfigError) as info:
        validate_pipeline_config(config)
    problems = info.value.problems
    assert "training.batch_size: must be > 0" in problems
    assert "data.dataset_id: is required" in problems
    assert "trigger.num_samples: must be > 0" in problems
    assert any(p.startswith("training.epochs_per_trigger: must be of type integer") for p in problems)
    assert any(p.startswith("training.optimizers[0].param_groups[0].config: must be of type object") for p in problems)
    assert any(p.startswith("training: unknown key 'unknown_key'") for p in problems)
    assert len(problems) == 6


def test_trigger_specific_keys() -> None:
    config = example_pipeline()
    config["trigger"] = {"id": "TimeTrigger", "every": "1 day"}
    with pytest.raises(ConfigError) as info:
        validate_pipeline_config(config)
    assert info.value.problems == ["trigger.every: '1 day' does not match the expected form ^[0-9]+[smhdwy]$"]
    config["trigger"] = {"id": "TimeTrigger", "every": "1d"}
    assert validate_pipeline_config(config)["trigger"]["every"] == "1d"


def test_unknown_model_id_is_named() -> None:
    config = example_pipeline()
    config["model"]["id"] = "GPT9"
    with pytest.raises(ConfigError) as info:
        validate_pipeline_config(config)
    assert info.value.problems[0].startswith("model.id: unknown model 'GPT9' (known: ")


def test_system_config_problems(tmp_path: Path) -> None:
    config = yaml.safe_load(SYSTEM.read_text())
    config["selector"]["port"] = 70000
    config["storage"]["datasets"].append(dict(config["storage"]["datasets"][0]))
    del config["evaluator"]
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as info:
        load_system_config(path)
    assert info.value.problems == ["evaluator: is required", "selector.port: must be <= 65535"]
    config["evaluator"] = {"port": 1}
    config["selector"]["port"] = 1
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as info:
        load_system_config(path)
    assert info.value.problems == ["storage.datasets: duplicate dataset name(s) mnist"]


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_pipeline_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline_config(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"\(top level\): must be a mapping"):
        load_pipeline_config(bad)


def test_defaults_behind_references_are_filled(tmp_path: Path) -> None:
    config = yaml.safe_load(SYSTEM.read_text())
    del config["selector"]["hostname"]
    del config["trainer_server"]["scratch_directory"]
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_system_config(path)
    assert loaded["selector"]["hostname"] == "127.0.0.1"
    assert loaded["trainer_server"]["scratch_directory"] == str(tmp_path / "modyn_state" / "trainer")


@pytest.mark.parametrize("name", ["system_sqlite.yaml", "system_postgres.yaml"])
def test_shipped_system_configs_are_valid(name: str) -> None:
    config = load_system_config(ROOT / "benchmarks" / "mnist" / name)
    assert [d["name"] for d in config["storage"]["datasets"]] == ["mnist", "mnist_test"]


def test_transformations_and_checkpointing_are_checked() -> None:
    config = example_pipeline()
    config["data"]["transformations"] = ["transforms.Normalize((0.1307,), (0.3081,))", {"name": "Resize", "size": 32}]
    config["training"]["checkpointing"] = {"activated": True, "interval": 10, "path": "/tmp/x"}
    assert validate_pipeline_config(config)["training"]["checkpointing"]["interval"] == 10
    config["data"]["transformations"] = ["Normalize(1)", "NoSuchTransform"]
    config["training"]["checkpointing"] = {"activated": True}
    with pytest.raises(ConfigError) as info:
        validate_pipeline_config(config)
    assert info.value.problems == [
        "training.checkpointing.interval: is required",
        "training.checkpointing.path: is required",
    ]
    config["training"]["checkpointing"] = {"activated": False}
    with pytest.raises(ConfigError) as info:
        validate_pipeline_config(config)
    assert [p.split(":")[0] for p in info.value.problems] == [
        "data.transformations[0]",
        "data.transformations[1]",
    ]


def test_allowed_roots_resolve_against_the_yaml_folder(tmp_path: Path) -> None:
    config = yaml.safe_load(SYSTEM.read_text())
    config["storage"]["allowed_base_paths"] = ["data", "/abs/root", "s3://bucket/prefix"]
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_system_config(path)
    assert loaded["storage"]["allowed_base_paths"] == [str(tmp_path / "data"), "/abs/root", "s3://bucket/prefix"]
