"""`modyn-supervisor PIPELINE_YAML SYSTEM_YAML [...]`: run one pipeline.

Exit codes: 0 done (also after SIGINT/SIGTERM: the running trigger is finished or abandoned and the
log written; also `--resume` of a pipeline that already ran to the end of its data, which changes
nothing); 2 invalid pipeline or system config (every problem named by its YAML path); 1 anything
else, with one line that says what failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modyn.config import ConfigError, load_pipeline_config, load_system_config
from modyn.supervisor.progress import MODES
from modyn.supervisor.supervisor import STOP_POLICIES, PipelineFinished, Supervisor, SupervisorError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="modyn-supervisor", description="Run a Modyn pipeline.")
    parser.add_argument("pipeline_config", help="path to the pipeline YAML")
    parser.add_argument("system_config", help="path to the system YAML")
    parser.add_argument(
        "--start-replay-at",
        type=int,
        default=None,
        metavar="TS",
        help="experiment mode: replay every sample with timestamp >= TS, then exit",
    )
    parser.add_argument(
        "--stop-replay-at",
        type=int,
        default=None,
        metavar="TS",
        help="experiment mode: replay only samples with timestamp <= TS",
    )
    parser.add_argument(
        "--maximum-triggers",
        type=int,
        default=None,
        metavar="N",
        help="stop after the N-th trigger's training and evaluation",
    )
    parser.add_argument(
        "--resume",
        type=int,
        default=None,
        metavar="PIPELINE_ID",
        help="continue pipeline PIPELINE_ID after a crash or a stop, with the same pipeline YAML and options",
    )
    parser.add_argument("--log-dir", type=Path, default=Path("modyn_logs"), help="where the pipeline log goes")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="production mode: seconds between polls for new data",
    )
    parser.add_argument(
        "--progress",
        choices=MODES,
        default="auto",
        help="progress bars (bar), JSON lines on stdout (json) or neither (none); auto: bars when stdout is "
        "a terminal, else JSON lines",
    )
    parser.add_argument(
        "--stop-policy",
        choices=STOP_POLICIES,
        default="finish",
        help="on SIGINT/SIGTERM: finish the running trigger (a second signal abandons it), or abandon it at once",
    )
    return parser.parse_args(argv)


def pipeline_problems(pipeline_config: dict[str, Any]) -> list[str]:
    """What the schema cannot check: the trigger policy's parameters and the user functions."""
    from modyn.common.data import DataConfigError, build_bytes_parser
    from modyn.common.user_functions import UserFunctionError, compile_user_function
    from modyn.supervisor.triggers import build_trigger

    problems = []
    try:
        build_trigger(pipeline_config["trigger"])
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(str(exc) if isinstance(exc, ValueError) else f"trigger: {type(exc).__name__}: {exc}")
    parsers = [("data.bytes_parser_function", pipeline_config["data"]["bytes_parser_function"])]
    for i, ds in enumerate((pipeline_config.get("evaluation") or {}).get("datasets", [])):
        parsers.append((f"evaluation.datasets[{i}].bytes_parser_function", ds["bytes_parser_function"]))
    for path, source in parsers:
        try:
            build_bytes_parser(source, path)
        except DataConfigError as exc:
            problems.append(str(exc))
    try:
        compile_user_function(
            pipeline_config["data"].get("label_transformer_function", ""), "label_transformer_function"
        )
    except UserFunctionError as exc:
        problems.append(f"data.label_transformer_function: {exc}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[supervisor] %(levelname)s %(message)s")
    problems: list[str] = []
    pipeline_config = system_config = None
    try:
        pipeline_config = load_pipeline_config(args.pipeline_config)
        problems += [f"invalid pipeline config:\n  {p}" for p in pipeline_problems(pipeline_config)]
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        system_config = load_system_config(args.system_config)
    except ConfigError as exc:
        problems.append(str(exc))
    if args.maximum_triggers is not None and args.maximum_triggers <= 0:
        problems.append("--maximum-triggers: must be > 0")
    if args.stop_replay_at is not None and args.start_replay_at is None:
        problems.append("--stop-replay-at: needs --start-replay-at (experiment mode)")
    if (
        args.start_replay_at is not None
        and args.stop_replay_at is not None
        and args.stop_replay_at < args.start_replay_at
    ):
        problems.append("--stop-replay-at: must be >= --start-replay-at")
    if args.resume is not None and args.resume < 0:
        problems.append("--resume: a pipeline id is >= 0")
    if args.poll_interval <= 0:
        problems.append("--poll-interval: must be > 0")
    if problems or pipeline_config is None or system_config is None:
        print("modyn-supervisor: " + "\n".join(problems), file=sys.stderr)
        return 2

    supervisor = Supervisor(
        pipeline_config, system_config, args.log_dir, progress=args.progress, stop_policy=args.stop_policy
    )
    supervisor.install_signal_handlers()
    try:
        if args.start_replay_at is not None:
            supervisor.run_experiment(
                args.start_replay_at, args.stop_replay_at, args.maximum_triggers, resume=args.resume
            )
        else:
            supervisor.run_production(args.poll_interval, args.maximum_triggers, resume=args.resume)
    except PipelineFinished as exc:
        print(f"modyn-supervisor: {exc}", file=sys.stderr)
        return 0
    except SupervisorError as exc:
        print(f"modyn-supervisor: {exc}", file=sys.stderr)
        if supervisor.log is not None:
            print(f"pipeline log: {supervisor.log.path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("modyn-supervisor: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a last line of defence: one clear line, not a traceback
        logging.getLogger("modyn.supervisor").debug("unexpected error", exc_info=True)
        print(f"modyn-supervisor: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        if supervisor.log is not None:
            print(f"pipeline log: {supervisor.log.path}", file=sys.stderr)
        return 1
    supervisor.print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
