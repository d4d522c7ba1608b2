"""Benchmark: incremental model storage (WeightsDifference) against full storage (PyTorchFullModel).

A chain of fine-tuned models (ResNet18 for CIFAR-sized inputs by default; each trained a few SGD steps
from its parent, as a pipeline with use_previous_model does) is stored through ModelStorageManager
once with the full policy (the baseline) and once per incremental policy, on SQLite in a temporary
folder. Reported per policy: bytes on disk, store and fetch time (fetch = reconstruct + serialise),
and the ratios to the baseline. Every fetched model is checked bit-identical to the uploaded one.

    python benchmarks/models/run.py [--model ResNet18] [--chain 6] [--steps 3]

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from modyn.common.database import Database
from modyn.model_storage.model_storage_manager import ModelHeader, ModelStorageManager
from modyn.model_storage.strategies.state_dict import load_state_dict, save_state_dict, state_sha256
from modyn.models import build_model

POLICIES: dict[str, dict[str, Any]] = {
    "full": {},
    "full+zip": {"full_model_strategy": {"name": "PyTorchFullModel", "zip": True}},
    "xor+rle+zip": {
        "incremental_model_strategy": {
            "name": "WeightsDifference",
            "config": {"operator": "xor"},
            "full_model_interval": 10,
        }
    },
    "sub+rle+zip": {
        "incremental_model_strategy": {
            "name": "WeightsDifference",
            "config": {"operator": "sub"},
            "full_model_interval": 10,
        }
    },
    "xor+rle": {
        "incremental_model_strategy": {
            "name": "WeightsDifference",
            "config": {"operator": "xor", "zip": False},
            "full_model_interval": 10,
        }
    },
}


def make_chain(model_name: str, length: int, steps: int) -> list[bytes]:
    torch.manual_seed(0)
    config = {"num_classes": 10}
    model = build_model(model_name, config)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    chain = []
    for _ in range(length):
        for _ in range(steps):
            x = torch.randn(16, 3, 32, 32)
            y = torch.randint(0, 10, (16,))
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        chain.append(save_state_dict(OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())))
    return chain


def run_policy(name: str, policy: dict[str, Any], chain: list[bytes], folder: Path) -> dict[str, Any]:
    database = Database({"drivername": "sqlite", "database": str(folder / f"{name}.db")})
    manager = ModelStorageManager(database, folder / name)
    manager.set_pipeline(1, "bench", policy)
    ids: list[int] = []
    start = time.perf_counter()
    for trigger, data in enumerate(chain):
        header = ModelHeader(1, trigger, "ResNet18", "{}", hashlib.sha256(data).hexdigest(), ids[-1] if ids else None)
        ids.append(manager.store_model(header, [data]))
    store_s = time.perf_counter() - start
    start = time.perf_counter()
    fetched = [manager.read_model_bytes(model_id) for model_id in ids]
    fetch_s = time.perf_counter() - start
    for original, served in zip(chain, fetched, strict=True):
        assert state_sha256(load_state_dict(served)) == state_sha256(load_state_dict(original)), name
    stored = sum(manager.get_model_info(model_id).file_size_bytes for model_id in ids)
    database.dispose()
    return {"stored_bytes": stored, "store_s": round(store_s, 3), "fetch_s": round(fetch_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ResNet18")
    parser.add_argument("--chain", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    chain = make_chain(args.model, args.chain, args.steps)
    uploaded = sum(len(c) for c in chain)
    print(f"{args.chain} models of {args.model}, {uploaded / 2**20:.1f} MiB uploaded in total")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, policy in POLICIES.items():
            results[name] = run_policy(name, policy, chain, Path(tmp))
            print(f"{name:12} {results[name]}")
    baseline = results["full"]
    for r in results.values():
        r["size_ratio_vs_full"] = round(r["stored_bytes"] / baseline["stored_bytes"], 4)
        r["fetch_ratio_vs_full"] = round(r["fetch_s"] / max(baseline["fetch_s"], 1e-9), 2)
    print(
        json.dumps(
            {
                "benchmark": "model_storage_incremental",
                "model": args.model,
                "chain": args.chain,
                "sgd_steps_between_models": args.steps,
                "uploaded_bytes": uploaded,
                "machine": platform.machine(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
