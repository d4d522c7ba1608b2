"""Crash safety: `kill -9` the storage process while it ingests a large folder, restart it, and count:
every file is there with all its samples, none twice; a further restart changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import text
from storage_test_helpers import BINARY_CONFIG
from test_storage_entrypoint import storage_command, system_config

from modyn.common.database import Database
from modyn.common.grpc_utils import SHORT_DEADLINE_S, make_channel, wait_for_health
from modyn.generated import storage_pb2 as pb
from modyn.generated.storage_pb2_grpc import StorageStub

FILES = 60
RECORDS_PER_FILE = 2_000
TOTAL = FILES * RECORDS_PER_FILE


def write_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    for f in range(FILES):
        records = np.zeros((RECORDS_PER_FILE, 8), dtype=np.uint8)
        records[:, 0] = f % 256  # label = file number (low byte) ...
        records[:, 2:6] = np.arange(RECORDS_PER_FILE, dtype="<u4").view(np.uint8).reshape(-1, 4)  # ... payload = index
        path = folder / f"part-{f:04d}.bin"
        path.write_bytes(records.tobytes())
        mtime = 1_000_000 + f

        os.utime(path, (mtime, mtime))


def count_samples(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM samples")).scalar() or 0)


def start(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("a") as log:
        return subprocess.Popen([*storage_command(), str(config_path)], stdout=log, stderr=subprocess.STDOUT)


def test_kill_during_ingestion_then_restart(db_config: dict[str, Any], port: int, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_folder(data)
    config = system_config(db_config, port, data)
    config["storage"]["insertion_batch_size"] = 4_000  # many commits, so the kill lands between some
    config["storage"]["datasets"][0].update(
        {"name": "big", "file_wrapper_type": "BinaryFileWrapper", "file_wrapper_config": BINARY_CONFIG}
    )
    config_path = tmp_path / "system.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "storage.log"
    db = Database(db_config)
    process = start(config_path, log_path)
    try:
        # The start-up scan is ingesting: kill -9 as soon as a first batch is committed.
        deadline = time.monotonic() + 120
        seen = 0
        while time.monotonic() < deadline and seen == 0:
            try:
                seen = count_samples(db)
            except Exception:  # noqa: BLE001 - tables not created yet
                seen = 0
            if seen == 0:
                time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        at_kill = count_samples(db)
        assert 0 < at_kill < TOTAL, f"the kill did not land mid-ingestion ({at_kill} of {TOTAL})"

        process = start(config_path, log_path)
        assert wait_for_health("127.0.0.1", port, timeout_s=120), log_path.read_text()
        with make_channel("127.0.0.1", port) as channel:
            stub = StorageStub(channel)
            size = stub.GetDatasetSize(pb.GetDatasetSizeRequest(dataset_id="big"), timeout=SHORT_DEADLINE_S)
            assert size.num_keys == TOTAL
        with db.engine.connect() as conn:
            files = conn.execute(text("SELECT count(*), sum(number_of_samples) FROM files")).one()
            assert tuple(files) == (FILES, TOTAL)
            keys = conn.execute(text("SELECT count(DISTINCT key) FROM samples")).scalar()
            positions = conn.execute(
                text("SELECT count(*) FROM (SELECT DISTINCT file_id, index_in_file FROM samples) AS p")
            ).scalar()
            assert (keys, positions) == (TOTAL, TOTAL)
            # Every recorded file has exactly its samples, labels and indexes intact.
            per_file = conn.execute(
                text(
                    "SELECT f.path, count(s.key), min(s.index_in_file), max(s.index_in_file),"
                    " min(s.label), max(s.label) FROM files f JOIN samples s ON s.file_id = f.id GROUP BY f.path"
                )
            ).all()
            assert len(per_file) == FILES
            for path, count, low, high, min_label, max_label in per_file:
                label = int(path[5:9]) % 256
                assert (count, low, high, min_label, max_label) == (
                    RECORDS_PER_FILE,
                    0,
                    RECORDS_PER_FILE - 1,
                    label,
                    label,
                )
            before = set(conn.execute(text("SELECT key FROM samples")).scalars())

        # A clean restart ingests nothing again and keeps every key.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        process = start(config_path, log_path)
        assert wait_for_health("127.0.0.1", port, timeout_s=120), log_path.read_text()
        with db.engine.connect() as conn:
            assert set(conn.execute(text("SELECT key FROM samples")).scalars()) == before
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        db.dispose()
