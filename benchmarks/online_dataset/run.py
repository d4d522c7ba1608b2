"""OnlineDataset throughput against a plain local PyTorch Dataset, on the same files, in the same run.

Generates two datasets in a temporary folder: 160-byte binary records (BinaryFileWrapper: a 4-byte
label and 39 float32 features) and 28x28 grayscale PNGs (SingleSampleFileWrapper with .label
files). Starts real storage and selector services (processes, `modyn-storage` / `modyn-selector`,
SQLite by default or PostgreSQL with --postgres), ingests both datasets, registers one pipeline per
dataloader worker count and triggers once over all samples.

Then reads one epoch of every sample
  (a) through selector + storage + OnlineDataset, for dataloader_workers 0/1/2 x
      num_prefetched_partitions 0/1/2, and
  (b) directly from the same files by a plain local Dataset (records: memory-mapped files;
      images: one file read per sample), for dataloader_workers 0/1/2,
both with the same built-in parser (`float32` / `image`), the same batch size and timed from
creating the DataLoader to its last batch (worker start-up included). The local Dataset is
map-style, batched by the DataLoader; the OnlineDataset is run as the trainer runs it: it builds
the batches itself (`DataLoader(batch_size=None)`) and fills its default epoch cache (a fresh
dataset per measurement, so every sample comes from storage). Prints samples/s of each and
the ratio of the best OnlineDataset setting to the best local one. The last line is one JSON object.

    python benchmarks/online_dataset/run.py [--records N] [--images N] [--postgres] [--repeats R]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.grpc_utils import wait_for_health
from modyn.common.testing import create_postgres_database, drop_postgres_database, free_port

RECORD_SIZE = 160
LABEL_SIZE = 4
FEATURES = (RECORD_SIZE - LABEL_SIZE) // 4
RECORDS_PER_FILE = 10_000
BATCH_SIZE = 256
WORKERS = (0, 1, 2)
PREFETCH = (0, 1, 2)


# --- data --------------------------------------------------------------------------------------


def write_records(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for f, start in enumerate(range(0, n, RECORDS_PER_FILE)):
        count = min(RECORDS_PER_FILE, n - start)
        records = np.zeros(count, dtype=[("label", "<i4"), ("x", "<f4", (FEATURES,))])
        records["label"] = np.arange(start, start + count) % 10
        records["x"] = rng.standard_normal((count, FEATURES), dtype=np.float32)
        path = folder / f"part_{f:04d}.bin"
        path.write_bytes(records.tobytes())
        os.utime(path, (1_000_000 + f, 1_000_000 + f))


def write_images(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        pixels = (rng.random((28, 28)) * 255).astype(np.uint8)
        pixels[:, : i % 28] = 0  # some structure so PNG compresses like digits do
        path = folder / f"img_{i:06d}.png"
        Image.fromarray(pixels, mode="L").save(path, format="PNG")
        (folder / f"img_{i:06d}.label").write_text(str(i % 10))
        stamp = 1_000_000 + i // 1000
        os.utime(path, (stamp, stamp))


class LocalRecords:
    """Map-style Dataset over memory-mapped record files: what a user would write locally."""

    def __init__(self, folder: str, parser_name: str) -> None:
        self.files = sorted(str(p) for p in Path(folder).glob("*.bin"))
        self.parser_name = parser_name
        self.sizes = [os.path.getsize(f) // RECORD_SIZE for f in self.files]
        self.starts = [int(v) for v in np.cumsum([0, *self.sizes])]
        self._rows: list[np.ndarray] | None = None
        self._parser: Any = None

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> tuple[int, Any, int]:
        if self._rows is None:
            from modyn.common.data import build_bytes_parser

            self._rows = [
                np.memmap(f, dtype=np.uint8, mode="r", shape=(n, RECORD_SIZE))
                for f, n in zip(self.files, self.sizes, strict=True)
            ]
            self._parser = build_bytes_parser(self.parser_name)
        f = bisect.bisect_right(self.starts, index) - 1
        record = self._rows[f][index - self.starts[f]].tobytes()
        return index, self._parser(record[LABEL_SIZE:]), int.from_bytes(record[:LABEL_SIZE], "little")

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rows": None, "_parser": None}


class LocalImages:
    """Map-style Dataset over PNG files with sibling .label files."""

    def __init__(self, folder: str, parser_name: str) -> None:
        self.files = sorted(str(p) for p in Path(folder).glob("*.png"))
        self.parser_name = parser_name
        self._parser: Any = None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[int, Any, int]:
        if self._parser is None:
            from modyn.common.data import build_bytes_parser

            self._parser = build_bytes_parser(self.parser_name)
        path = self.files[index]
        with open(path, "rb") as f:
            data = f.read()
        with open(path[:-4] + ".label") as f:
            label = int(f.read())
        return index, self._parser(data), label

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_parser": None}


# --- services ----------------------------------------------------------------------------------


def system_config(root: Path, postgres: bool) -> dict[str, Any]:
    if postgres:
        storage_db, metadata_db = create_postgres_database("bench_storage"), create_postgres_database("bench_meta")
    else:
        storage_db = {"drivername": "sqlite", "database": str(root / "storage.db")}
        metadata_db = {"drivername": "sqlite", "database": str(root / "metadata.db")}
    return {
        "storage": {
            "hostname": "127.0.0.1",
            "port": free_port(),
            "database": storage_db,
            "datasets": [
                {
                    "name": "records",
                    "base_path": str(root / "records"),
                    "file_wrapper_type": "BinaryFileWrapper",
                    "file_wrapper_config": {
                        "file_extension": ".bin",
                        "record_size": RECORD_SIZE,
                        "label_size": LABEL_SIZE,
                        "byteorder": "little",
                    },
                    "file_watcher_interval": 3600,
                },
                {
                    "name": "images",
                    "base_path": str(root / "images"),
                    "file_wrapper_type": "SingleSampleFileWrapper",
                    "file_wrapper_config": {"file_extension": ".png", "label_file_extension": ".label"},
                    "file_watcher_interval": 3600,
                },
            ],
        },
        "metadata_database": metadata_db,
        "selector": {"hostname": "127.0.0.1", "port": free_port()},
        "trainer_server": {"hostname": "127.0.0.1", "port": free_port(), "scratch_directory": str(root / "scratch")},
        "metadata_processor": {"hostname": "127.0.0.1", "port": free_port()},
        "model_storage": {"hostname": "127.0.0.1", "port": free_port(), "models_directory": str(root / "models")},
        "evaluator": {"hostname": "127.0.0.1", "port": free_port()},
    }


def start_service(command: str, module: str, config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    executable = shutil.which(command)
    argv = [executable] if executable else [sys.executable, "-m", module]
    with open(log, "wb") as out:
        return subprocess.Popen([*argv, str(config_path)], stdout=out, stderr=subprocess.STDOUT)


def pipeline_config(dataset: str, parser: str, workers: int, partition_keys: int) -> dict[str, Any]:
    return {
        "pipeline": {"name": f"bench-{dataset}-{workers}"},
        "model": {"id": "Dummy"},
        "training": {
            "dataloader_workers": workers,
            "batch_size": BATCH_SIZE,
            "optimizers": [{"name": "default", "algorithm": "SGD", "param_groups": [{"config": {"lr": 0.1}}]}],
            "optimization_criterion": {"name": "CrossEntropyLoss"},
        },
        "data": {"dataset_id": dataset, "bytes_parser_function": parser},
        "trigger": {"id": "DataAmountTrigger", "num_samples": 1},
        "selection_strategy": {"name": "NewDataStrategy", "maximum_keys_in_memory": partition_keys},
    }


def trigger_all(storage: StorageClient, selector: SelectorClient, config: dict[str, Any]) -> tuple[int, int]:
    pipeline_id = selector.register_pipeline(config)
    keys: list[int] = []
    timestamps: list[int] = []
    labels: list[int] = []
    for k, t, lab in storage.new_data_since(config["data"]["dataset_id"], -1):
        keys += k
        timestamps += t
        labels += lab
    trigger_id, num_samples, _ = selector.inform_data_and_trigger(pipeline_id, keys, timestamps, labels)
    assert num_samples == len(keys)
    return pipeline_id, trigger_id


# --- measuring ---------------------------------------------------------------------------------


def epoch_rate(dataset: Any, workers: int, expected: int, batched_by_dataset: bool = False) -> float:
    """One epoch through a DataLoader: batches of BATCH_SIZE collated by the DataLoader (a map-style
    Dataset) or built by the dataset itself (OnlineDataset with batch_size, as the trainer runs it)."""
    from torch.utils.data import DataLoader

    started = time.perf_counter()
    loader = DataLoader(
        dataset,
        batch_size=None if batched_by_dataset else BATCH_SIZE,
        num_workers=workers,
        multiprocessing_context="spawn" if workers else None,
    )
    seen = 0
    for batch in loader:
        seen += len(batch[0])
    elapsed = time.perf_counter() - started
    if seen != expected:
        raise AssertionError(f"read {seen} samples, expected {expected}")
    return seen / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="rounds over every setting (local and online alternating); the best of each setting is kept",
    )
    parser.add_argument("--postgres", action="store_true", help="storage and selector on PostgreSQL")
    args = parser.parse_args()

    from modyn.trainer_server.online_dataset import DEFAULT_SAMPLE_CACHE_MB, OnlineDataset

    root = Path(tempfile.mkdtemp(prefix="modyn_bench_online_"))
    processes: list[subprocess.Popen[bytes]] = []
    config = system_config(root, args.postgres)
    try:
        t0 = time.perf_counter()
        write_records(root / "records", args.records)
        write_images(root / "images", args.images)
        print(f"generated {args.records} records and {args.images} images in {time.perf_counter() - t0:.1f} s")
        config_path = root / "system.yaml"
        config_path.write_text(yaml.safe_dump(config))
        processes.append(
            start_service("modyn-storage", "modyn.storage.storage_entrypoint", config_path, root / "storage.log")
        )
        processes.append(
            start_service("modyn-selector", "modyn.selector.selector_entrypoint", config_path, root / "selector.log")
        )
        for section in ("storage", "selector"):
            if not wait_for_health("127.0.0.1", config[section]["port"], timeout_s=60):
                raise RuntimeError(f"{section} did not become healthy; see {root}/{section}.log")
        storage = StorageClient("127.0.0.1", config["storage"]["port"])
        selector = SelectorClient("127.0.0.1", config["selector"]["port"])
        t0 = time.perf_counter()
        for name in ("records", "images"):
            storage.update_dataset(name)
        print(f"ingested both datasets in {time.perf_counter() - t0:.1f} s")

        cases = {
            "records": ("float32", args.records, LocalRecords(str(root / "records"), "float32")),
            "images": ("image", args.images, LocalImages(str(root / "images"), "image")),
        }
        results: dict[str, Any] = {}
        for name, (parser_name, count, local) in cases.items():
            partition_keys = max(1, count // 4)  # four partitions: prefetching has something to do
            triggers = {
                workers: trigger_all(storage, selector, pipeline_config(name, parser_name, workers, partition_keys))
                for workers in WORKERS
            }
            online: dict[str, float] = {}
            local_rates: dict[str, float] = {}
            # Rounds of every setting, local and online alternating, best of each kept: on a shared
            # machine a busy spell then hits both sides alike instead of one of them.
            for round_ in range(args.repeats):
                suffix = f"  (round {round_ + 1}/{args.repeats})" if args.repeats > 1 else ""
                for workers in WORKERS:
                    rate = epoch_rate(local, workers, count)
                    key = f"workers={workers}"
                    local_rates[key] = max(rate, local_rates.get(key, 0.0))
                    print(
                        f"{name:8s} local   workers={workers}               {rate:10.0f} samples/s{suffix}", flush=True
                    )
                for workers in WORKERS:
                    pipeline_id, trigger_id = triggers[workers]
                    for prefetch in PREFETCH:
                        # As the trainer builds it: batches built in the dataset and the default epoch cache,
                        # which fills during this first epoch (a fresh dataset per measurement: nothing cached).
                        options: dict[str, Any] = {
                            "pipeline_id": pipeline_id,
                            "trigger_id": trigger_id,
                            "dataset_id": name,
                            "bytes_parser_function": parser_name,
                            "label_transformer_function": "",
                            "storage": ("127.0.0.1", config["storage"]["port"]),
                            "selector": ("127.0.0.1", config["selector"]["port"]),
                            "num_prefetched_partitions": prefetch,
                            "parallel_prefetch_requests": max(1, prefetch),
                            "num_shares": max(1, workers),
                            "batch_size": BATCH_SIZE,
                            "sample_cache_bytes": DEFAULT_SAMPLE_CACHE_MB * 2**20,
                        }
                        rate = epoch_rate(OnlineDataset(**options), workers, count, batched_by_dataset=True)
                        key = f"workers={workers},prefetch={prefetch}"
                        online[key] = max(rate, online.get(key, 0.0))
                        print(
                            f"{name:8s} online  workers={workers} prefetch={prefetch}"
                            f"    {rate:10.0f} samples/s{suffix}",
                            flush=True,
                        )
            best_online = max(online, key=lambda k: online[k])
            best_local = max(local_rates, key=lambda k: local_rates[k])
            ratio = online[best_online] / local_rates[best_local]
            print(
                f"{name:8s} best online {online[best_online]:.0f}/s ({best_online}) vs best local "
                f"{local_rates[best_local]:.0f}/s ({best_local}): ratio {ratio:.2f}"
            )
            results[name] = {
                "samples": count,
                "online": {k: round(v) for k, v in online.items()},
                "local": {k: round(v) for k, v in local_rates.items()},
                "best_online": best_online,
                "best_local": best_local,
                "ratio": round(ratio, 3),
            }
        storage.close()
        selector.close()
        summary = {
            "benchmark": "online_dataset",
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "database": "postgresql" if args.postgres else "sqlite",
            "batch_size": BATCH_SIZE,
            "records": results["records"],
            "images": results["images"],
            "best_ratio_records": results["records"]["ratio"],
            "best_ratio_images": results["images"]["ratio"],
        }
        print(json.dumps(summary))
        return 0
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if args.postgres:
            for section in ("storage", "metadata_database"):
                db = config[section]["database"] if section == "storage" else config[section]
                drop_postgres_database(db)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
