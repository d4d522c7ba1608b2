"""Helpers for the trainer server tests: a tiny BinaryFileWrapper dataset, pipeline configs and a
handle on the real services that conftest.py starts."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.config import validate_pipeline_config

DATASET = "tiny_binary"
NUM_FEATURES = 8
NUM_CLASSES = 3
NUM_FILES = 4
RECORDS_PER_FILE = 50
NUM_RECORDS = NUM_FILES * RECORDS_PER_FILE
LABEL_SIZE = 4
RECORD_SIZE = LABEL_SIZE + 4 * NUM_FEATURES

# Record r carries the features r, r+0.25, ..., so a parsed sample names its record.
BYTES_PARSER = """
import numpy as np
import torch
def bytes_parser_function(data: bytes):
    return torch.from_numpy(np.frombuffer(data, dtype="<f4").copy())
"""


# For training: features scaled to [0, 1.25] so that plain SGD is well behaved.
SCALED_BYTES_PARSER = f"""
import numpy as np
import torch
def bytes_parser_function(data: bytes):
    return torch.from_numpy(np.frombuffer(data, dtype="<f4").copy()) / {NUM_RECORDS}
"""


def record_features(record_id: int) -> list[float]:
    return [record_id + 0.25 * j for j in range(NUM_FEATURES)]


def record_label(record_id: int) -> int:
    # Contiguous ranges of records per class: learnable from the (scaled) first feature.
    return record_id * NUM_CLASSES // NUM_RECORDS


def write_dataset(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(NUM_FILES):
        path = folder / f"part_{f}.bin"
        with open(path, "wb") as out:
            for r in range(f * RECORDS_PER_FILE, (f + 1) * RECORDS_PER_FILE):
                out.write(record_label(r).to_bytes(LABEL_SIZE, "little"))
                out.write(struct.pack(f"<{NUM_FEATURES}f", *record_features(r)))
        stamp = 1_000_000 + 100 * f  # distinct, increasing file times
        os.utime(path, (stamp, stamp))


def pipeline_config(**training: Any) -> dict[str, Any]:
    """A valid pipeline config over the tiny dataset; keyword arguments override `training` keys."""
    config = {
        "pipeline": {"name": "trainer-test"},
        "model": {"id": "Dummy", "config": {"input_dim": NUM_FEATURES, "num_classes": NUM_CLASSES}},
        "training": {
            "device": "cpu",
            "dataloader_workers": 0,
            "num_prefetched_partitions": 1,
            "batch_size": 16,
            "shuffle": True,
            "epochs_per_trigger": 1,
            "seed": 7,
            "optimizers": [
                {"name": "default", "algorithm": "SGD", "param_groups": [{"module": "model", "config": {"lr": 0.01}}]}
            ],
            "optimization_criterion": {"name": "CrossEntropyLoss"},
        },
        "data": {"dataset_id": DATASET, "bytes_parser_function": BYTES_PARSER},
        "trigger": {"id": "DataAmountTrigger", "num_samples": NUM_RECORDS},
        # 64 keys per partition: the 200 samples come in 4 partitions.
        "selection_strategy": {"name": "NewDataStrategy", "maximum_keys_in_memory": 64, "tail_triggers": 0},
    }
    config["training"].update(training)
    return validate_pipeline_config(config)


@dataclass
class Services:
    system_config: dict[str, Any]
    storage: StorageClient
    selector: SelectorClient
    model_storage: ModelStorageClient
    metadata_processor: MetadataProcessorClient
    key_of_record: dict[int, int]  # record id -> storage key

    def record_of_key(self) -> dict[int, int]:
        return {key: record for record, key in self.key_of_record.items()}

    def new_trigger(self, config: dict[str, Any]) -> tuple[int, int, int]:
        """Register a pipeline for `config`, inform every sample, trigger: (pipeline, trigger, partitions)."""
        pipeline_id = self.selector.register_pipeline(config)
        keys, timestamps, labels = [], [], []
        for chunk_keys, chunk_ts, chunk_labels in self.storage.new_data_since(DATASET, -1):
            keys += chunk_keys
            timestamps += chunk_ts
            labels += chunk_labels
        trigger_id, num_samples, num_partitions = self.selector.inform_data_and_trigger(
            pipeline_id, keys, timestamps, labels
        )
        assert num_samples == NUM_RECORDS
        return pipeline_id, trigger_id, num_partitions
