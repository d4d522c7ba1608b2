"""Loading and validating the system config and the pipeline config.

`load_system_config(path)` / `load_pipeline_config(path)` return plain dicts with every default
filled in, or raise ConfigError listing every problem with its YAML path, e.g.
`training.batch_size: must be > 0`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_DIR = Path(__file__).parent / "schema"


class ConfigError(ValueError):
    """A config is invalid; `problems` holds one 'yaml.path: what is wrong' line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid {source}:\n" + "\n".join(f"  {p}" for p in problems))


def _expand_includes(node: Any) -> Any:
    """Replace every `{$include: relative/file.yaml}` with that file's schema (one file per section)."""
    if isinstance(node, dict):
        if set(node) == {"$include"}:
            return _expand_includes(yaml.safe_load((SCHEMA_DIR / node["$include"]).read_text()))
        return {key: _expand_includes(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand_includes(item) for item in node]
    return node


@cache
def _schema(name: str) -> dict[str, Any]:
    return _expand_includes(yaml.safe_load((SCHEMA_DIR / f"{name}.yaml").read_text()))


def yaml_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _describe(error: ValidationError) -> str:
    v, value = error.validator, error.validator_value
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{yaml_path([*error.absolute_path, missing])}: is required"
    if v in ("additionalProperties", "unevaluatedProperties"):
        known = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in known] if isinstance(error.instance, dict) else []
        names = ", ".join(repr(k) for k in extra) or error.message
        hint = f" (allowed: {', '.join(known)})" if known else ""
        return f"{yaml_path(error.absolute_path)}: unknown key {names}{hint}"
    path = yaml_path(error.absolute_path)
    instance = error.instance
    if v == "exclusiveMinimum":
        text = f"must be > {value}"
    elif v == "minimum":
        text = f"must be >= {value}"
    elif v == "maximum":
        text = f"must be <= {value}"
    elif v == "exclusiveMaximum":
        text = f"must be < {value}"
    elif v == "type":
        text = f"must be of type {value}, got {type(instance).__name__} {instance!r}"
    elif v == "enum":
        text = f"must be one of {', '.join(map(str, value))}, got {instance!r}"
    elif v == "pattern":
        text = f"{instance!r} does not match the expected form {value}"
    elif v == "minLength":
        text = "must not be empty"
    elif v == "minItems":
        text = f"must have at least {value} item(s)"
    else:
        text = error.message
    return f"{path}: {text}"


def _deref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _fill_defaults(schema: dict[str, Any], instance: Any, root: dict[str, Any]) -> None:
    """Insert the schema's defaults into `instance`, recursively, where keys are absent."""
    schema = _deref(schema, root)
    for sub in schema.get("allOf", []):
        _fill_defaults(sub, instance, root)
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if not isinstance(sub, dict):
                continue
            sub = _deref(sub, root)
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                _fill_defaults(sub, instance[key], root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(schema["items"], item, root)


def validate(
    config: Any, schema_name: str, checks: Callable[[dict[str, Any]], list[str]] | None = None
) -> dict[str, Any]:
    """Return a copy of `config` with defaults filled in; raise ConfigError on any problem.

    `checks` adds problems the schema cannot express (run only on a schema-valid config).
    """
    source = f"{schema_name} config"
    if not isinstance(config, dict):
        raise ConfigError(source, [f"(top level): must be a mapping, got {type(config).__name__}"])
    schema = _schema(schema_name)
    filled = copy.deepcopy(config)
    _fill_defaults(schema, filled, schema)
    errors = sorted(Draft202012Validator(schema).iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    problems = list(dict.fromkeys(_describe(e) for e in errors))
    if not problems and checks is not None:
        problems = checks(filled)
    if problems:
        raise ConfigError(source, problems)
    return filled


def read_yaml(path: str | Path, what: str) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(what, [f"{path}: file not found"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(what, [f"{path}: not valid YAML: {exc}"]) from exc


def _resolve(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def resolve_system_paths(config: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Make the config's relative file paths absolute, relative to base_dir."""
    for db in (config["storage"]["database"], config["metadata_database"]):
        if db["drivername"] == "sqlite" and db["database"] != ":memory:":
            db["database"] = _resolve(base_dir, db["database"])
    for dataset in config["storage"]["datasets"]:
        if dataset["filesystem_wrapper_type"] == "LocalFilesystemWrapper":
            dataset["base_path"] = _resolve(base_dir, dataset["base_path"])
    if "allowed_base_paths" in config["storage"]:
        config["storage"]["allowed_base_paths"] = [
            root if root.startswith("s3://") else _resolve(base_dir, root)
            for root in config["storage"]["allowed_base_paths"]
        ]
    config["trainer_server"]["scratch_directory"] = _resolve(base_dir, config["trainer_server"]["scratch_directory"])
    config["model_storage"]["models_directory"] = _resolve(base_dir, config["model_storage"]["models_directory"])
    return config


def _system_checks(config: dict[str, Any]) -> list[str]:
    names = [d["name"] for d in config["storage"]["datasets"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    return [f"storage.datasets: duplicate dataset name(s) {', '.join(duplicates)}"] if duplicates else []


def _pipeline_checks(config: dict[str, Any]) -> list[str]:
    from modyn.models import MODEL_REGISTRY  # light: names only, no torch import

    problems = []
    model_id = config["model"]["id"]
    if model_id not in MODEL_REGISTRY:
        problems.append(f"model.id: unknown model {model_id!r} (known: {', '.join(sorted(MODEL_REGISTRY))})")
    problems += _training_checks(config)
    from modyn.supervisor.evaluation.checks import evaluation_problems  # no torch import

    problems += evaluation_problems(config)
    return problems


def _training_checks(config: dict[str, Any]) -> list[str]:
    """Parser, transformations and training keys that must agree with each other."""
    from modyn.common.data import check_bytes_parser, check_transformations  # no torch import

    data, training = config["data"], config["training"]
    problems = check_bytes_parser(data["bytes_parser_function"]) + check_transformations(data["transformations"])
    if training.get("initial_model") == "pretrained" and "initial_model_id" not in training:
        problems.append("training.initial_model_id: is required when training.initial_model is pretrained")
    names = [o["name"] for o in training["optimizers"]]
    if len(set(names)) != len(names):
        problems.append("training.optimizers: optimizer names must be unique")
    for i, name in enumerate(training.get("lr_scheduler", {}).get("optimizers", [])):
        if name not in names:
            problems.append(f"training.lr_scheduler.optimizers[{i}]: no optimizer named {name!r}")
    return problems


def validate_system_config(config: Any, base_dir: Path | None = None) -> dict[str, Any]:
    return resolve_system_paths(validate(config, "system", _system_checks), base_dir or Path.cwd())


def validate_pipeline_config(config: Any) -> dict[str, Any]:
    return validate(config, "pipeline", _pipeline_checks)


def load_system_config(path: str | Path) -> dict[str, Any]:
    return validate_system_config(read_yaml(path, "system config"), Path(path).resolve().parent)


def load_pipeline_config(path: str | Path) -> dict[str, Any]:
    return validate_pipeline_config(read_yaml(path, "pipeline config"))
