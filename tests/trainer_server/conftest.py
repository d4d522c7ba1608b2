"""Real storage, selector, model storage and metadata processor services, started in-process on free
ports over a tiny BinaryFileWrapper dataset, for the OnlineDataset and training-job tests."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import pytest
from trainer_test_helpers import DATASET, LABEL_SIZE, NUM_RECORDS, RECORD_SIZE, Services, write_dataset

from modyn.common.clients.metadata_processor_client import MetadataProcessorClient
from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.selector_client import SelectorClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.grpc_utils import GrpcServer
from modyn.common.testing import free_port
from modyn.config import validate_system_config


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    from modyn.metadata_processor.metadata_processor_entrypoint import build as build_metadata_processor
    from modyn.model_storage.model_storage_entrypoint import build as build_model_storage
    from modyn.selector.selector_entrypoint import build as build_selector
    from modyn.storage.storage_entrypoint import build as build_storage

    root = tmp_path_factory.mktemp("trainer_services")
    write_dataset(root / "data")
    raw = {
        "storage": {
            "port": free_port(),
            "database": {"drivername": "sqlite", "database": str(root / "storage.db")},
            "datasets": [
                {
                    "name": DATASET,
                    "base_path": str(root / "data"),
                    "file_wrapper_type": "BinaryFileWrapper",
                    "file_wrapper_config": {
                        "file_extension": ".bin",
                        "record_size": RECORD_SIZE,
                        "label_size": LABEL_SIZE,
                        "byteorder": "little",
                    },
                    "file_watcher_interval": 3600,
                }
            ],
        },
        "metadata_database": {"drivername": "sqlite", "database": str(root / "metadata.db")},
        "selector": {"port": free_port()},
        "trainer_server": {"port": free_port(), "scratch_directory": str(root / "scratch")},
        "metadata_processor": {"port": free_port()},
        "model_storage": {"port": free_port(), "models_directory": str(root / "models")},
        "evaluator": {"port": free_port()},
    }
    config = validate_system_config(raw, root)
    servers = []
    shutdown_hooks = []
    for name, section, build in [
        ("storage", "storage", build_storage),
        ("selector", "selector", build_selector),
        ("model_storage", "model_storage", build_model_storage),
        ("metadata_processor", "metadata_processor", build_metadata_processor),
    ]:
        parts = build(config)
        server = GrpcServer(name, "127.0.0.1", config[section]["port"], parts.add_servicers)
        server.start()
        servers.append(server)
        shutdown_hooks += parts.on_shutdown

    def client(cls: type, section: str) -> Any:
        return cls("127.0.0.1", config[section]["port"])

    storage = client(StorageClient, "storage")
    keys = [k for chunk, _, _ in storage.new_data_since(DATASET, -1) for k in chunk]
    assert len(keys) == NUM_RECORDS, "storage did not ingest the test dataset"
    key_of_record: dict[int, int] = {}
    for got_keys, samples, _labels in storage.get_samples(DATASET, keys):
        for key, sample in zip(got_keys, samples, strict=True):
            key_of_record[int(struct.unpack("<f", sample[:4])[0])] = key
    services = Services(
        system_config=config,
        storage=storage,
        selector=client(SelectorClient, "selector"),
        model_storage=client(ModelStorageClient, "model_storage"),
        metadata_processor=client(MetadataProcessorClient, "metadata_processor"),
        key_of_record=key_of_record,
    )
    yield services
    for c in (services.storage, services.selector, services.model_storage, services.metadata_processor):
        c.close()
    for server in servers:
        server.stop(grace_s=1.0)
    for hook in shutdown_hooks:
        hook()
