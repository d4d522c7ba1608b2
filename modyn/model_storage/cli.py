"""`modyn-models SYSTEM_YAML COMMAND ...`: browse and manage the model registry over gRPC.

Commands:
  list [--pipeline N] [--json]                 every stored model (of one pipeline)
  show MODEL [--pipeline N] [--json]           one model: lineage, storage, aliases, metrics
  export MODEL OUT.pt [--pipeline N]           the model's weights as a plain torch.save'd state dict
  promote MODEL --alias NAME [--pipeline N] [--gate-dataset D --gate-metric M [--max-regression X]
          [--lower-is-better]]                 point an alias at a model, optionally behind a gate
  delete MODEL [--pipeline N]                  delete a model (refused while others depend on it)

MODEL is a model id, or an alias (`latest`, `champion`, ...) together with --pipeline.
Exit codes: 0 done; 2 bad usage or invalid system config; 1 anything else (an unknown model, a refused
promotion or deletion, model storage down), with a message saying what.
Talks only to the model storage service named in the system config.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import grpc

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.config import ConfigError, load_system_config
from modyn.generated import model_storage_pb2 as pb


class CliError(Exception):
    """A failure reported as one line, exit code 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modyn-models", description="Browse and manage Modyn's model registry (model storage)."
    )
    parser.add_argument("system_config", metavar="SYSTEM_YAML")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="list stored models")
    listing.add_argument("--pipeline", type=int)
    listing.add_argument("--json", action="store_true")

    show = commands.add_parser("show", help="show one model")
    show.add_argument("model", metavar="MODEL")
    show.add_argument("--pipeline", type=int)
    show.add_argument("--json", action="store_true")

    export = commands.add_parser("export", help="write a model's weights to a .pt file")
    export.add_argument("model", metavar="MODEL")
    export.add_argument("out", metavar="OUT.pt", type=Path)
    export.add_argument("--pipeline", type=int)

    promote = commands.add_parser("promote", help="point an alias at a model")
    promote.add_argument("model", metavar="MODEL")
    promote.add_argument("--alias", required=True)
    promote.add_argument("--pipeline", type=int)
    promote.add_argument("--gate-dataset")
    promote.add_argument("--gate-metric")
    promote.add_argument("--max-regression", type=float, default=0.0)
    promote.add_argument("--lower-is-better", action="store_true")

    delete = commands.add_parser("delete", help="delete a model")
    delete.add_argument("model", metavar="MODEL")
    delete.add_argument("--pipeline", type=int)
    return parser


def _model_id(client: ModelStorageClient, model: str, pipeline: int | None) -> int:
    if model.isdigit():
        return int(model)
    if pipeline is None:
        raise CliError(f"{model!r} is not a model id; to use an alias, give its pipeline with --pipeline")
    return client.resolve_alias(pipeline, model)


def _interval(metric: pb.MetricValue) -> str:
    return f"[{metric.interval_start}, {metric.interval_end}]" if metric.has_interval else "all"


def _as_dict(info: pb.ModelInfo) -> dict[str, Any]:
    return {
        "model_id": info.model_id,
        "pipeline_id": info.pipeline_id,
        "trigger_id": info.trigger_id,
        "model_class_name": info.model_class_name,
        "model_config": json.loads(info.model_config or "{}"),
        "created_at": info.created_at,
        "parent_model_id": info.parent_model_id if info.HasField("parent_model_id") else None,
        "training_set_size": info.training_set_size if info.HasField("training_set_size") else None,
        "storage": info.storage,
        "size_bytes": info.size_bytes,
        "stored_size_bytes": info.stored_size_bytes,
        "sha256": info.sha256,
        "state_sha256": info.state_sha256,
        "aliases": list(info.aliases),
        "metrics": [
            {
                "dataset_id": m.dataset_id,
                "metric": m.metric,
                "interval": [m.interval_start, m.interval_end] if m.has_interval else None,
                "value": m.value,
                "recorded_at": m.recorded_at,
            }
            for m in info.metrics
        ],
    }


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)


def _list(client: ModelStorageClient, args: argparse.Namespace, out: TextIO) -> None:
    models = client.list_models(args.pipeline)
    if args.json:
        print(json.dumps([_as_dict(m) for m in models], indent=2), file=out)
        return
    if not models:
        print("no models stored" + (f" for pipeline {args.pipeline}" if args.pipeline is not None else ""), file=out)
        return
    rows = [["id", "pipeline", "trigger", "class", "parent", "train_size", "storage", "stored", "aliases", "created"]]
    for m in models:
        rows.append(
            [
                str(m.model_id),
                str(m.pipeline_id),
                str(m.trigger_id),
                m.model_class_name,
                str(m.parent_model_id) if m.HasField("parent_model_id") else "-",
                str(m.training_set_size) if m.HasField("training_set_size") else "-",
                m.storage,
                f"{m.stored_size_bytes / 1024:.1f} KiB",
                ",".join(m.aliases) or "-",
                m.created_at,
            ]
        )
    _table(rows, out)


def _show(client: ModelStorageClient, args: argparse.Namespace, out: TextIO) -> None:
    info = client.get_model_info(_model_id(client, args.model, args.pipeline))
    data = _as_dict(info)
    if args.json:
        print(json.dumps(data, indent=2), file=out)
        return
    for key in (
        "model_id",
        "pipeline_id",
        "trigger_id",
        "model_class_name",
        "model_config",
        "created_at",
        "parent_model_id",
        "training_set_size",
        "storage",
        "size_bytes",
        "stored_size_bytes",
        "sha256",
        "state_sha256",
        "aliases",
    ):
        value = data[key]
        print(f"{key:18} {json.dumps(value) if isinstance(value, dict | list) else value}", file=out)
    if info.metrics:
        print("metrics:", file=out)
        rows = [["dataset", "metric", "interval", "value", "recorded"]]
        rows += [[m.dataset_id, m.metric, _interval(m), f"{m.value:.6g}", m.recorded_at] for m in info.metrics]
        _table(rows, out)


def _export(client: ModelStorageClient, args: argparse.Namespace, out: TextIO) -> None:
    model_id = _model_id(client, args.model, args.pipeline)
    destination = args.out.expanduser().resolve()
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = client.fetch_model_file(model_id, destination)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(f"model {model_id} ({stored.model_class_name}) written to {destination}", file=out)


def _promote(client: ModelStorageClient, args: argparse.Namespace, out: TextIO) -> None:
    if bool(args.gate_dataset) != bool(args.gate_metric):
        raise CliError("give both --gate-dataset and --gate-metric for a promotion gate")
    gate = None
    if args.gate_dataset:
        gate = {
            "dataset_id": args.gate_dataset,
            "metric": args.gate_metric,
            "max_regression": args.max_regression,
            "higher_is_better": not args.lower_is_better,
        }
    model_id = _model_id(client, args.model, args.pipeline)
    response = client.promote(model_id, args.alias, gate)
    if not response.promoted:
        raise CliError(f"model {model_id} not promoted to {args.alias!r}: {response.reason}")
    line = f"model {model_id} is now {args.alias!r} ({response.reason})"
    if response.published_to:
        line += f"; published to {response.published_to}"
    print(line, file=out)


def _delete(client: ModelStorageClient, args: argparse.Namespace, out: TextIO) -> None:
    model_id = _model_id(client, args.model, args.pipeline)
    client.delete_model(model_id)
    print(f"model {model_id} deleted", file=out)


COMMANDS = {"list": _list, "show": _show, "export": _export, "promote": _promote, "delete": _delete}


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else 2
    try:
        config = load_system_config(args.system_config)
    except ConfigError as exc:
        print(f"modyn-models: {exc}", file=err)
        return 2
    section = config["model_storage"]
    client = ModelStorageClient(section["hostname"], section["port"])
    try:
        COMMANDS[args.command](client, args, out)
    except CliError as exc:
        print(f"modyn-models: {exc}", file=err)
        return 1
    except grpc.RpcError as exc:
        code = exc.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            detail = f"model storage at {section['hostname']}:{section['port']} does not answer ({code.name})"
        else:
            detail = exc.details() or code.name
        print(f"modyn-models: {detail}", file=err)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
