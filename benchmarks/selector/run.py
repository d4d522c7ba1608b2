"""Selector benchmark: inform N keys in batches through gRPC to a real selector process on
PostgreSQL, close one trigger over all of them (NewDataStrategy, all data so far), and retrieve the
whole training set with 4 worker processes, the way the trainer's dataloader workers do.

Usage: python benchmarks/selector/run.py [--keys N] [--small-keys M] [--batch B] [--workers W]

Runs the pipeline twice, at M (default 1,000,000) and N keys (default 10,000,000), each in a fresh
database, to show that the selector's peak memory does not grow with the pipeline. Baseline, in the
same run on the same data: PostgreSQL's own bulk path (binary COPY of the same rows into a table of
the same shape, and a binary COPY of the keys out), which bounds what any selector on this database
can reach. Reference: Modyn's 2023 Python selector, 1M keys on PostgreSQL on this kind of machine:
inform 93k keys/s, trigger 3.1 s, retrieval 395k keys/s.
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import create_engine, text

from modyn.common.clients.selector_client import SelectorClient
from modyn.common.database import database_url
from modyn.common.grpc_utils import wait_for_health
from modyn.common.testing import create_postgres_database, drop_postgres_database, free_port

MODYN_2023 = {"inform_keys_per_s": 93_000, "trigger_s": 3.1, "retrieval_keys_per_s": 395_000}


def _keys(start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.arange(start, end, dtype=np.int64)
    return keys, keys // 4, keys % 10


def _system_config(tmp: Path, port: int, db: dict[str, Any]) -> Path:
    config = {
        "storage": {
            "hostname": "127.0.0.1",
            "port": 1,
            "database": {"drivername": "sqlite", "database": str(tmp / "storage.db")},
            "datasets": [],
        },
        "metadata_database": db,
        "selector": {"hostname": "127.0.0.1", "port": port},
        "trainer_server": {"hostname": "127.0.0.1", "port": 2, "scratch_directory": str(tmp / "trainer")},
        "metadata_processor": {"hostname": "127.0.0.1", "port": 3},
        "model_storage": {"hostname": "127.0.0.1", "port": 4, "models_directory": str(tmp / "models")},
        "evaluator": {"hostname": "127.0.0.1", "port": 5},
    }
    path = tmp / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _retrieve_worker(port: int, pipeline_id: int, worker_id: int, num_partitions: int, start: Any, out: Any) -> None:
    client = SelectorClient("127.0.0.1", port)
    client.number_of_partitions(pipeline_id, 0)  # open the channel before the clock starts
    start.wait()
    count, checksum = 0, 0
    for partition in range(num_partitions):
        keys, _ = client.get_sample_keys_and_weights(pipeline_id, 0, worker_id, partition)
        count += len(keys)
        checksum += sum(keys)
    out.put((worker_id, count, checksum, time.perf_counter()))


def _retrieve(port: int, pipeline_id: int, num_partitions: int, workers: int) -> tuple[float, int, int]:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_retrieve_worker, args=(port, pipeline_id, w, num_partitions, start, out))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    time.sleep(0.1)
    # Wait until every worker has its channel open (they block on `start`), then go.
    client = SelectorClient("127.0.0.1", port)
    client.number_of_partitions(pipeline_id, 0)
    time.sleep(3)
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(r[3] for r in results) - t0
    return elapsed, sum(r[1] for r in results), sum(r[2] for r in results)


def _baseline(db: dict[str, Any], num_keys: int, batch: int) -> tuple[float, float]:
    """(keys/s of a binary COPY into a table shaped like the selector's, keys/s of a binary COPY of the keys out)."""
    from modyn.selector import key_store

    engine = create_engine(database_url(db))
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE baseline_keys (pipeline_id integer, key bigint, timestamp bigint NOT NULL, "
                "label bigint, trigger_id integer NOT NULL, PRIMARY KEY (pipeline_id, key))"
            )
        )
    raw = engine.raw_connection()
    try:
        t0 = time.perf_counter()
        for s in range(0, num_keys, batch):
            keys, ts, labels = _keys(s, min(num_keys, s + batch))
            payload = key_store._pg_copy_rows(1, 0, keys, ts, labels)
            cursor = raw.cursor()
            cursor.copy_expert(
                "COPY baseline_keys (pipeline_id, key, timestamp, label, trigger_id) FROM STDIN WITH (FORMAT binary)",
                io.BytesIO(payload),
            )
            raw.commit()
        inform = num_keys / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        cursor = raw.cursor()
        sink = open(os.devnull, "wb")  # noqa: SIM115
        cursor.copy_expert("COPY (SELECT key FROM baseline_keys) TO STDOUT WITH (FORMAT binary)", sink)
        sink.close()
        raw.commit()
        retrieval = num_keys / (time.perf_counter() - t0)
        cursor.execute("DROP TABLE baseline_keys")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return inform, retrieval


def run_once(num_keys: int, batch: int, workers: int, max_keys: int) -> dict[str, Any]:
    db = create_postgres_database("modyn_selector_bench")
    tmp = Path(tempfile.mkdtemp(prefix="selector_bench_"))
    port = free_port()
    code = "import sys; from modyn.selector.selector_entrypoint import main; sys.exit(main(sys.argv[1:]))"
    log = open(tmp / "selector.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(_system_config(tmp, port, db))], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        if not wait_for_health("127.0.0.1", port, timeout_s=120):
            raise RuntimeError(f"selector did not start: {(tmp / 'selector.log').read_text()}")
        rss_start = _rss_mb(process.pid, "VmRSS")
        client = SelectorClient("127.0.0.1", port)
        pipeline_id = client.register_pipeline(
            {
                "pipeline": {"name": "bench"},
                "training": {"dataloader_workers": workers},
                "selection_strategy": {"name": "NewDataStrategy", "maximum_keys_in_memory": max_keys},
            }
        )
        t0 = time.perf_counter()
        for s in range(0, num_keys, batch):
            keys, ts, labels = _keys(s, min(num_keys, s + batch))
            client.inform_data(pipeline_id, keys, ts, labels)
        inform_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        trigger_id, num_samples, num_partitions = client.inform_data_and_trigger(pipeline_id, [], [], [])
        trigger_s = time.perf_counter() - t0
        assert (trigger_id, num_samples) == (0, num_keys), (trigger_id, num_samples)
        retrieval_s, retrieved, checksum = _retrieve(port, pipeline_id, num_partitions, workers)
        assert retrieved == num_keys and checksum == num_keys * (num_keys - 1) // 2, (retrieved, checksum)
        peak = _rss_mb(process.pid, "VmHWM")
        client.close()
        baseline_inform, baseline_retrieval = _baseline(db, num_keys, batch)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
        drop_postgres_database(db)
    return {
        "keys": num_keys,
        "inform_keys_per_s": round(num_keys / inform_s),
        "trigger_s": round(trigger_s, 3),
        "retrieval_keys_per_s": round(num_keys / retrieval_s),
        "selector_peak_rss_mb": round(peak, 1),
        "selector_start_rss_mb": round(rss_start, 1),
        "num_partitions": num_partitions,
        "baseline_pg_copy_in_keys_per_s": round(baseline_inform),
        "baseline_pg_copy_out_keys_per_s": round(baseline_retrieval),
        "inform_vs_pg_copy": round(num_keys / inform_s / baseline_inform, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--small-keys", type=int, default=1_000_000, help="the second, smaller run (0: skip)")
    parser.add_argument("--batch", type=int, default=100_000, help="keys per InformData call")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--maximum-keys-in-memory", type=int, default=1_000_000)
    args = parser.parse_args()
    runs = []
    for n in ([args.small_keys] if 0 < args.small_keys < args.keys else []) + [args.keys]:
        result = run_once(n, args.batch, args.workers, args.maximum_keys_in_memory)
        print(json.dumps(result), flush=True)
        runs.append(result)
    main_run = runs[-1]
    summary = dict(main_run)
    if len(runs) == 2:
        small = runs[0]
        summary["small_run"] = {
            k: small[k]
            for k in ("keys", "inform_keys_per_s", "trigger_s", "retrieval_keys_per_s", "selector_peak_rss_mb")
        }
        summary["peak_rss_ratio_large_vs_small"] = round(
            main_run["selector_peak_rss_mb"] / small["selector_peak_rss_mb"], 3
        )
    summary["vs_modyn_2023"] = {
        "inform": round(main_run["inform_keys_per_s"] / MODYN_2023["inform_keys_per_s"], 1),
        "retrieval": round(main_run["retrieval_keys_per_s"] / MODYN_2023["retrieval_keys_per_s"], 1),
    }
    summary["maximum_keys_in_memory"] = args.maximum_keys_in_memory
    summary["batch"] = args.batch
    summary["workers"] = args.workers
    summary["machine"] = f"{platform.node()} {os.cpu_count()} cpus"
    summary["date"] = time.strftime("%Y-%m-%d")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
