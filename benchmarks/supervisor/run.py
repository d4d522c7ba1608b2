"""Benchmark of the supervisor's area: bulk metadata storage and the cost of the drift trigger's test.

1. Metadata processor over a real loopback gRPC server (SQLite, and PostgreSQL when reachable):
   storing one trigger's per-sample metadata with packed columns (the client's way) vs the baseline of
   one SampleMetadata message per sample, on the same data, in the same run.
2. DataDriftTrigger decision cost: one MMD permutation test (two windows of 500 samples x 128-d
   embeddings, 200 permutations) vs the baseline of the distance alone.

    python benchmarks/supervisor/run.py [--samples 300000]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.database import Database
from modyn.common.grpc_utils import LONG_DEADLINE_S, GrpcServer
from modyn.common.testing import (
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_unavailable_reason,
)
from modyn.generated import metadata_processor_pb2 as pb
from modyn.generated.metadata_processor_pb2_grpc import add_MetadataProcessorServicer_to_server
from modyn.metadata_processor.metadata_processor_manager import MetadataProcessorManager
from modyn.metadata_processor.servicer import MetadataProcessorServicer
from modyn.supervisor.triggers.drift.mmd import MMDMetric


def bench_metadata(db_config: dict[str, Any], samples: int) -> dict[str, float]:
    database = Database(db_config)
    servicer = MetadataProcessorServicer(MetadataProcessorManager(database))
    port = free_port()
    server = GrpcServer("bench", "127.0.0.1", port, lambda s: add_MetadataProcessorServicer_to_server(servicer, s))
    keys = list(range(samples))
    losses = np.random.default_rng(0).random(samples).tolist()
    with server:
        client = MetadataProcessorClient("127.0.0.1", port)
        start = time.perf_counter()
        assert client.send_training_metadata(1, 0, 0.5, samples, keys, losses) == samples
        packed_s = time.perf_counter() - start
        start = time.perf_counter()
        request = pb.TrainingMetadataRequest(
            pipeline_id=1,
            trigger_id=1,
            trigger_metadata=pb.TriggerMetadata(loss=0.5, num_samples=samples),
            sample_metadata=[pb.SampleMetadata(sample_key=k, loss=v) for k, v in zip(keys, losses, strict=True)],
        )
        assert client.stub.ProcessTrainingMetadata(request, timeout=LONG_DEADLINE_S).num_samples_stored == samples
        baseline_s = time.perf_counter() - start
        start = time.perf_counter()
        got = client.get_sample_metadata(1, 0)
        read_s = time.perf_counter() - start
        assert got is not None and len(got[0]) == samples
        client.close()
    database.dispose()
    return {
        "packed_store_s": round(packed_s, 3),
        "per_message_store_s": round(baseline_s, 3),
        "store_speedup": round(baseline_s / packed_s, 2),
        "packed_rows_per_s": round(samples / packed_s),
        "read_rows_per_s": round(samples / read_s),
    }


def bench_mmd(repeats: int = 5) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 128)), rng.normal(size=(500, 128))
    metric = MMDMetric(num_permutations=200, seed=0)
    start = time.perf_counter()
    for _ in range(repeats):
        metric.test(x, y)
    test_s = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats):
        metric.distance(x, y)
    distance_s = (time.perf_counter() - start) / repeats
    return {
        "mmd_permutation_test_s": round(test_s, 4),
        "mmd_distance_only_s": round(distance_s, 4),
        "permutation_overhead": round(test_s / distance_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300_000)
    args = parser.parse_args()
    results: dict[str, Any] = {"samples": args.samples}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = bench_metadata(
            {"drivername": "sqlite", "database": str(Path(folder) / "m.db")}, args.samples
        )
        print("metadata, SQLite:", results["sqlite"], flush=True)
    reason = postgres_unavailable_reason()
    if reason is None:
        config = create_postgres_database("modyn_bench_meta")
        try:
            results["postgresql"] = bench_metadata(config, args.samples)
            print("metadata, PostgreSQL:", results["postgresql"], flush=True)
        finally:
            drop_postgres_database(config)
    else:
        results["postgresql"] = f"skipped: {reason}"
    results["drift"] = bench_mmd()
    print("drift test:", results["drift"], flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
