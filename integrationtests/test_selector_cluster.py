"""Selector strategy families on data ingested by the real storage service."""

from __future__ import annotations

import os
import struct
from collections import Counter
from typing import Any

import pytest

from integrationtests.cluster_support import ClusterHandle

NUM_LABELS, PER_FILE, FILES = 4, 100, 4


@pytest.fixture(scope="session")
def stream(cluster: ClusterHandle) -> dict[str, Any]:
    """400 binary records in 4 files (one timestamp each), labels 0..3 round robin, ingested."""
    config = {"file_extension": ".rec", "record_size": 8, "label_size": 4, "byteorder": "little"}
    name, folder = cluster.new_dataset("selector_stream", "BinaryFileWrapper", config)
    for f in range(FILES):
        path = folder / f"{f}.rec"
        path.write_bytes(b"".join(struct.pack("<II", i % NUM_LABELS, f * PER_FILE + i) for i in range(PER_FILE)))
        os.utime(path, (1_000_000 + f, 1_000_000 + f))
    cluster.storage.update_dataset(name)
    keys, timestamps, labels = [], [], []
    for k, t, lab in cluster.storage.data_in_interval(name, 0, 2**62):
        keys += k
        timestamps += t
        labels += lab
    assert len(keys) == FILES * PER_FILE
    return {"keys": keys, "timestamps": timestamps, "labels": dict(zip(keys, labels, strict=True)), "ts": timestamps}


def run_two_triggers(cluster: ClusterHandle, stream: dict[str, Any], strategy: dict[str, Any]) -> list[list[int]]:
    """Register a pipeline, trigger after the first half and after the second; return both training sets."""
    config = {
        "pipeline": {"name": f"it-{strategy['name']}"},
        "training": {"dataloader_workers": 2, "seed": 7},
        "selection_strategy": {"maximum_keys_in_memory": 64, **strategy},
    }
    selector = cluster.selector
    pipeline_id = selector.register_pipeline(config)
    half = len(stream["keys"]) // 2
    sets = []
    for part in (slice(0, half), slice(half, None)):
        keys, ts = stream["keys"][part], stream["ts"][part]
        labels = [stream["labels"][k] for k in keys]
        trigger_id, num_samples, num_partitions = selector.inform_data_and_trigger(pipeline_id, keys, ts, labels)
        chosen: list[int] = []
        for partition in range(num_partitions):
            for worker in range(2):
                chosen += selector.get_sample_keys_and_weights(pipeline_id, trigger_id, worker, partition)[0]
        assert len(chosen) == num_samples == selector.number_of_samples(pipeline_id, trigger_id)
        sets.append(chosen)
    return sets


def test_new_data_windows(cluster: ClusterHandle, stream: dict[str, Any]) -> None:
    keys = stream["keys"]
    first, second = run_two_triggers(cluster, stream, {"name": "NewDataStrategy", "tail_triggers": 0})
    assert (first, second) == (keys[:200], keys[200:])
    _, everything = run_two_triggers(cluster, stream, {"name": "NewDataStrategy"})
    assert everything == keys
    _, limited = run_two_triggers(cluster, stream, {"name": "NewDataStrategy", "limit": 50})
    assert limited == keys[-50:]


def test_label_balanced_coreset(cluster: ClusterHandle, stream: dict[str, Any]) -> None:
    strategy = {
        "name": "CoresetStrategy",
        "tail_triggers": 0,
        "presampling_config": {"strategy": "LabelBalanced", "ratio": 50},
    }
    first, second = run_two_triggers(cluster, stream, strategy)
    for chosen, window in ((first, set(stream["keys"][:200])), (second, set(stream["keys"][200:]))):
        assert len(chosen) == 100 and len(set(chosen)) == 100 and set(chosen) <= window
        assert Counter(stream["labels"][k] for k in chosen) == {label: 25 for label in range(NUM_LABELS)}
    # same seed, same data: the same sets
    assert run_two_triggers(cluster, stream, strategy) == [first, second]


def test_freshness_and_memories(cluster: ClusterHandle, stream: dict[str, Any]) -> None:
    _, fresh = run_two_triggers(
        cluster, stream, {"name": "FreshnessSamplingStrategy", "unused_data_ratio": 50, "limit": 100}
    )
    assert len(fresh) == 100 and len(set(fresh)) == 100 and set(fresh) <= set(stream["keys"])
    _, gdumb = run_two_triggers(cluster, stream, {"name": "GDumbStrategy", "memory_size": 40})
    assert Counter(stream["labels"][k] for k in gdumb) == {label: 10 for label in range(NUM_LABELS)}
    _, reservoir = run_two_triggers(cluster, stream, {"name": "ReservoirStrategy", "memory_size": 50})
    assert len(set(reservoir)) == 50 and set(reservoir) <= set(stream["keys"])
