"""Helpers shared by the selector tests (a uniquely named module: test folders have no __init__.py)."""

from __future__ import annotations

from modyn.selector.selector_manager import SelectorManager


def full_training_set(manager: SelectorManager, pipeline_id: int, trigger_id: int) -> list[int]:
    """Every key of a trigger training set, partition by partition, worker by worker."""
    info = manager.get_trigger(pipeline_id, trigger_id)
    num_workers = manager.get_pipeline(pipeline_id).num_workers
    keys: list[int] = []
    for partition_id in range(info.num_partitions):
        for worker_id in range(num_workers):
            share, _ = manager.get_sample_keys_and_weights(pipeline_id, trigger_id, worker_id, partition_id)
            keys.extend(share.tolist())
    return keys
