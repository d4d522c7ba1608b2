"""`modyn-cluster SYSTEM_YAML [--log-dir DIR]`: start every service, wait until each answers its
health check, print where each logs, and stop them all on SIGINT/SIGTERM (exit 0).

If a service fails to start or dies, the others are stopped and the exit code is 1.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modyn.common.grpc_utils import check_health
from modyn.config import ConfigError, load_system_config

# (config section, console script); started in this order.
SERVICES = [
    ("storage", "modyn-storage"),
    ("selector", "modyn-selector"),
    ("metadata_processor", "modyn-metadata-processor"),
    ("model_storage", "modyn-model-storage"),
    ("trainer_server", "modyn-trainer-server"),
    ("evaluator", "modyn-evaluator"),
]
STOP_GRACE_S = 20.0


def console_script(name: str) -> str:
    """The script installed beside this interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"console script {name} not found: is the modyn package installed?")
    return found


class Cluster:
    def __init__(self, system_config_path: Path, system_config: dict[str, Any], log_dir: Path) -> None:
        self.config_path = system_config_path
        self.config = system_config
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _endpoint(self, section: str) -> tuple[str, int]:
        return self.config[section]["hostname"], int(self.config[section]["port"])

    def start(self, timeout_s: float = 120.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for section, script in SERVICES:
            host, port = self._endpoint(section)
            if check_health(host, port, timeout_s=1.0):
                raise RuntimeError(f"{section}: something already serves on {host}:{port}")
            log_path = self.log_dir / f"{section}.log"
            with open(log_path, "ab") as log:
                self.processes[section] = subprocess.Popen(
                    [console_script(script), str(self.config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # our SIGINT (Ctrl-C) is forwarded by us, once
                )
        deadline = time.monotonic() + timeout_s
        waiting = dict(self.processes)
        while waiting:
            for section, process in list(waiting.items()):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{section} exited with code {process.returncode} during start-up; "
                        f"see {self.log_dir / (section + '.log')}"
                    )
                if check_health(*self._endpoint(section), timeout_s=1.0):
                    del waiting[section]
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"no health answer within {timeout_s:.0f}s from: {', '.join(waiting)}")
            if waiting:
                time.sleep(0.2)

    def first_dead(self) -> str | None:
        for section, process in self.processes.items():
            if process.poll() is not None:
                return section
        return None

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modyn-cluster", description="Run every Modyn service on this machine.")
    parser.add_argument("system_config", help="path to the system YAML")
    parser.add_argument("--log-dir", type=Path, default=Path("modyn_logs") / "cluster", help="service log folder")
    args = parser.parse_args(argv)
    try:
        config = load_system_config(args.system_config)
    except ConfigError as exc:
        print(f"modyn-cluster: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = Cluster(Path(args.system_config).resolve(), config, args.log_dir.resolve())
    try:
        cluster.start()
    except (RuntimeError, FileNotFoundError, OSError) as exc:
        print(f"modyn-cluster: {exc}", file=sys.stderr)
        cluster.stop()
        return 1
    for section, _ in SERVICES:
        host, port = config[section]["hostname"], config[section]["port"]
        log_path = args.log_dir.resolve() / f"{section}.log"
        print(f"{section:<20} {host}:{port:<6} pid {cluster.processes[section].pid:<8} log {log_path}")
    print("modyn-cluster: all services are up (Ctrl-C or SIGTERM stops them)", flush=True)
    exit_code = 0
    while not stop.wait(0.5):
        dead = cluster.first_dead()
        if dead is not None:
            print(
                f"modyn-cluster: {dead} exited with code {cluster.processes[dead].returncode}; stopping",
                file=sys.stderr,
            )
            exit_code = 1
            break
    cluster.stop()
    print("modyn-cluster: stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
