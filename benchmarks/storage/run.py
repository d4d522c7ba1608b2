"""Storage benchmark: ingestion vs raw PostgreSQL COPY, GetNewDataSince and Get through gRPC.

    python benchmarks/storage/run.py [--records 1000000] [--files 100] [--get-keys 100000]

Writes `records` binary records of 160 bytes (a 4-byte label and 156 bytes of payload, Criteo-like) in
`files` files, then, on throwaway PostgreSQL databases (found through MODYN_POSTGRES_URL):
  1. baseline: a raw `COPY` of the same sample rows (dataset_id, file_id, index_in_file, timestamp,
     label; text format, prepared in memory before the clock starts) into a plain table with a
     BIGSERIAL primary key;
  2. the storage service, started as a process (`modyn-storage`), ingests the folder: the time of the
     UpdateDataset RPC, from files on disk to committed rows (reading, validating, COPY, indexes);
  3. GetNewDataSince over all keys through gRPC (StorageClient.new_data_since_arrays: int64 arrays,
     as services consume bulk keys);
  4. Get of `get_keys` random keys through gRPC (StorageClient.get_sample_chunks: arrays plus the
     samples' bytes back to back), checked byte for byte against the files (the first 2,000) and
     in key order (all).
Reads are repeated `--repeats` times; the median is reported. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg2
import yaml

from modyn.common.clients.storage_client import StorageClient
from modyn.common.grpc_utils import wait_for_health
from modyn.common.testing import create_postgres_database, drop_postgres_database, free_port

RECORD_SIZE = 160
LABEL_SIZE = 4
BASE_TIME = 1_600_000_000


def write_dataset(folder: Path, records: int, files: int, seed: int = 0) -> list[np.ndarray]:
    """`files` files of binary records; returns each file's labels. Ten files share each timestamp."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per_file = np.full(files, records // files)
    per_file[: records % files] += 1
    all_labels = []
    for i, count in enumerate(per_file.tolist()):
        data = rng.integers(0, 256, size=(count, RECORD_SIZE), dtype=np.uint8)
        labels = rng.integers(0, 2, size=count, dtype=np.uint32)
        data[:, :LABEL_SIZE] = labels.astype("<u4").view(np.uint8).reshape(count, LABEL_SIZE)
        path = folder / f"part-{i:05d}.bin.staged"  # renamed to .bin when the clock starts
        path.write_bytes(data.tobytes())
        mtime = BASE_TIME + i // 10
        os.utime(path, (mtime, mtime))
        all_labels.append(labels.astype(np.int64))
    return all_labels


def pg_connect(db: dict[str, Any]) -> Any:
    return psycopg2.connect(
        host=db["hostname"],
        port=db["port"],
        user=db["username"],
        password=db["password"] or None,
        dbname=db["database"],
    )


def raw_copy(db: dict[str, Any], labels: list[np.ndarray]) -> tuple[float, int]:
    """Seconds for a text COPY of the sample rows into a plain table (rows rendered beforehand)."""
    lines = []
    for file_id, file_labels in enumerate(labels, start=1):
        ts = BASE_TIME + (file_id - 1) // 10
        lines.extend(f"1\t{file_id}\t{i}\t{ts}\t{lbl}\n" for i, lbl in enumerate(file_labels.tolist()))
    data = "".join(lines)
    rows = len(lines)
    conn = pg_connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE plain_samples (key BIGSERIAL PRIMARY KEY, dataset_id INTEGER NOT NULL,"
                " file_id BIGINT NOT NULL, index_in_file INTEGER NOT NULL, timestamp BIGINT NOT NULL,"
                " label BIGINT NOT NULL)"
            )
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.copy_expert(
                "COPY plain_samples (dataset_id, file_id, index_in_file, timestamp, label) FROM STDIN",
                io.StringIO(data),
            )
        conn.commit()
        elapsed = time.perf_counter() - start
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM plain_samples")
            assert cur.fetchone()[0] == rows
    finally:
        conn.close()
    return elapsed, rows


def storage_command() -> list[str]:
    script = Path(sys.executable).parent / "modyn-storage"
    return [str(script)] if script.exists() else [sys.executable, "-m", "modyn.storage.storage_entrypoint"]


def system_config(db: dict[str, Any], port: int, state: Path) -> dict[str, Any]:
    others = {
        name: {"hostname": "127.0.0.1", "port": free_port()}
        for name in ("selector", "trainer_server", "metadata_processor", "model_storage", "evaluator")
    }
    return {
        "storage": {"hostname": "127.0.0.1", "port": port, "database": db, "datasets": []},
        "metadata_database": {"drivername": "sqlite", "database": str(state / "metadata.db")},
        **others,
    }


def median_time(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--get-keys", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--unlogged", action="store_true", help="ingest into an UNLOGGED dataset partition")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modyn_storage_bench_") as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "data"
        print(f"writing {args.records} records of {RECORD_SIZE} bytes in {args.files} files ...", flush=True)
        labels = write_dataset(data, args.records, args.files)

        baseline_db = create_postgres_database("modyn_bench_copy")
        try:
            copy_s, rows = raw_copy(baseline_db, labels)
        finally:
            drop_postgres_database(baseline_db)
        print(f"raw COPY: {rows} rows in {copy_s:.2f} s = {rows / copy_s:,.0f} rows/s", flush=True)

        storage_db = create_postgres_database("modyn_bench_storage")
        port = free_port()
        config_path = tmp_path / "system.yaml"
        config_path.write_text(yaml.safe_dump(system_config(storage_db, port, tmp_path)))
        log_path = tmp_path / "storage.log"
        log = log_path.open("w")
        process = subprocess.Popen([*storage_command(), str(config_path)], stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_for_health("127.0.0.1", port, timeout_s=120):
                raise RuntimeError(f"storage did not start:\n{log_path.read_text()}")
            client = StorageClient("127.0.0.1", port)
            client.register_dataset(
                {
                    "name": "criteo_like",
                    "base_path": str(data),
                    "file_wrapper_type": "BinaryFileWrapper",
                    "file_wrapper_config": {
                        "file_extension": ".bin",
                        "record_size": RECORD_SIZE,
                        "label_size": LABEL_SIZE,
                        "byteorder": "little",
                    },
                    "file_watcher_interval": 3600,
                    "unlogged": args.unlogged,
                }
            )
            # The files appear at once (renames); the time runs until UpdateDataset returns with all of them
            # ingested (it waits for a watcher scan that may have begun first, then ingests what is left).
            start = time.perf_counter()
            for staged in sorted(data.glob("*.bin.staged")):
                staged.rename(staged.with_suffix(""))
            update = client.update_dataset("criteo_like")
            ingest_s = time.perf_counter() - start
            assert not update.skipped_files, update
            assert client.dataset_size("criteo_like") == args.records
            print(f"ingestion: {args.records} samples in {ingest_s:.2f} s", flush=True)

            def all_keys() -> np.ndarray:
                # The array form, as services consume bulk keys: no Python object per key.
                chunks = list(client.new_data_since_arrays("criteo_like", -1))
                return np.concatenate([c.keys for c in chunks]) if chunks else np.empty(0, dtype=np.int64)

            new_data_s, keys = median_time(all_keys, args.repeats)
            assert len(keys) == args.records
            print(f"GetNewDataSince: {len(keys)} keys in {new_data_s:.3f} s", flush=True)

            # Expected bytes of every key: keys follow file (path) order, then record order.
            rng = np.random.default_rng(1)
            key_array = keys
            order = np.argsort(key_array)
            chosen = rng.choice(len(keys), size=min(args.get_keys, len(keys)), replace=False)
            wanted = key_array[chosen]

            def get() -> list[Any]:
                # The array form (SampleChunk: keys, labels, sample bytes back to back with offsets).
                return list(client.get_sample_chunks("criteo_like", wanted))

            get_s, chunks = median_time(get, args.repeats)
            got_keys = np.concatenate([c.keys for c in chunks]).tolist()
            got_samples = [sample for c in chunks for sample in c.samples()]
            got_labels = np.concatenate([c.labels for c in chunks]).tolist()
            assert got_keys == wanted.tolist()
            # Check content: the n-th smallest key is the n-th record in path order.
            rank = np.empty(len(keys), dtype=np.int64)
            rank[order] = np.arange(len(keys))
            per_file = [len(x) for x in labels]
            file_starts = np.cumsum([0, *per_file[:-1]])
            all_labels = np.concatenate(labels)
            for key, sample, label in list(zip(got_keys, got_samples, got_labels, strict=True))[:2000]:
                r = int(rank[np.searchsorted(key_array[order], key)])
                f = int(np.searchsorted(file_starts, r, side="right") - 1)
                record = (data / f"part-{f:05d}.bin").read_bytes()[
                    (r - file_starts[f]) * RECORD_SIZE : (r - file_starts[f] + 1) * RECORD_SIZE
                ]
                assert sample == record[LABEL_SIZE:] and label == all_labels[r], key
            print(f"Get: {len(wanted)} random keys in {get_s:.3f} s", flush=True)
            client.close()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
            drop_postgres_database(storage_db)

    result = {
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "records": args.records,
        "files": args.files,
        "record_bytes": RECORD_SIZE,
        "unlogged": args.unlogged,
        "copy_rows_per_s": round(rows / copy_s),
        "ingest_samples_per_s": round(args.records / ingest_s),
        "ingest_vs_copy": round(copy_s / ingest_s, 3),
        "new_data_keys_per_s": round(args.records / new_data_s),
        "new_data_vs_target_1M": round(args.records / new_data_s / 1e6, 3),
        "get_keys": len(wanted),
        "get_samples_per_s": round(len(wanted) / get_s),
        "get_vs_target_300k": round(len(wanted) / get_s / 3e5, 3),
    }
    print(
        f"ingestion {result['ingest_samples_per_s']:,} samples/s vs raw COPY {result['copy_rows_per_s']:,} rows/s"
        f" = {result['ingest_vs_copy']:.2f}x; GetNewDataSince {result['new_data_keys_per_s']:,} keys/s;"
        f" Get {result['get_samples_per_s']:,} samples/s"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
