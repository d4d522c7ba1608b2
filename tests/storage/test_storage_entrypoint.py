"""`modyn-storage SYSTEM_YAML` as a real process: start-up scan, health, clean exit on SIGTERM."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from storage_test_helpers import SINGLE_CONFIG, write_single

from modyn.common.grpc_utils import SHORT_DEADLINE_S, make_channel, wait_for_health
from modyn.common.testing import free_port
from modyn.generated import storage_pb2 as pb
from modyn.generated.storage_pb2_grpc import StorageStub


def storage_command() -> list[str]:
    script = Path(sys.executable).parent / "modyn-storage"
    if script.exists():
        return [str(script)]
    found = shutil.which("modyn-storage")
    return [found] if found else [sys.executable, "-m", "modyn.storage.storage_entrypoint"]


def system_config(db_config: dict[str, Any], port: int, base_path: Path) -> dict[str, Any]:
    others = {
        name: {"hostname": "127.0.0.1", "port": free_port()}
        for name in ("selector", "trainer_server", "metadata_processor", "model_storage", "evaluator")
    }
    return {
        "storage": {
            "hostname": "127.0.0.1",
            "port": port,
            "database": db_config,
            "datasets": [
                {
                    "name": "imgs",
                    "base_path": str(base_path),
                    "file_wrapper_type": "SingleSampleFileWrapper",
                    "file_wrapper_config": SINGLE_CONFIG,
                    "file_watcher_interval": 0.2,
                }
            ],
        },
        "metadata_database": {"drivername": "sqlite", "database": str(base_path.parent / "metadata.db")},
        **others,
    }


def test_storage_process_serves_and_stops_cleanly(db_config: dict[str, Any], port: int, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(4):
        write_single(data, f"s{i}", f"sample {i}".encode(), i, 1000 + i)
    config_path = tmp_path / "system.yaml"
    config_path.write_text(yaml.safe_dump(system_config(db_config, port, data)))
    log = (tmp_path / "storage.log").open("w")
    process = subprocess.Popen([*storage_command(), str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for_health("127.0.0.1", port, timeout_s=60), (tmp_path / "storage.log").read_text()
        with make_channel("127.0.0.1", port) as channel:
            stub = StorageStub(channel)
            # The start-up scan has ingested the config's dataset before the server answered.
            size = stub.GetDatasetSize(pb.GetDatasetSizeRequest(dataset_id="imgs"), timeout=SHORT_DEADLINE_S)
            assert size.num_keys == 4
            keys = [
                k
                for m in stub.GetNewDataSince(
                    pb.GetNewDataSinceRequest(dataset_id="imgs", timestamp=0), timeout=SHORT_DEADLINE_S
                )
                for k in m.keys
            ]
            got = list(stub.Get(pb.GetRequest(dataset_id="imgs", keys=keys), timeout=SHORT_DEADLINE_S))
            assert [s for m in got for s in m.samples] == [f"sample {i}".encode() for i in range(4)]
            # The watcher picks up a file that appears later.
            write_single(data, "late", b"late", 9, 2000)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and size.num_keys < 5:
                time.sleep(0.05)
                size = stub.GetDatasetSize(pb.GetDatasetSizeRequest(dataset_id="imgs"), timeout=SHORT_DEADLINE_S)
            assert size.num_keys == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, (tmp_path / "storage.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_storage_process_rejects_invalid_config(tmp_path: Path) -> None:
    config_path = tmp_path / "system.yaml"
    config_path.write_text(yaml.safe_dump({"storage": {"port": "not a port"}}))
    result = subprocess.run([*storage_command(), str(config_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "storage.port" in result.stderr


def test_storage_process_fails_on_missing_base_path(
    sqlite_db_config: dict[str, Any], port: int, tmp_path: Path
) -> None:
    config_path = tmp_path / "system.yaml"
    config_path.write_text(yaml.safe_dump(system_config(sqlite_db_config, port, tmp_path / "missing")))
    result = subprocess.run([*storage_command(), str(config_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "imgs" in result.stderr


def test_storage_config_keys(tmp_path: Path) -> None:
    from modyn.config import ConfigError, load_system_config

    config = system_config({"drivername": "sqlite", "database": "s.db"}, 50051, tmp_path / "data")
    config["storage"].update(
        {
            "allowed_base_paths": [str(tmp_path), "s3://bucket/prefix"],
            "hash_partitions": 4,
            "s3": {"endpoint_url": "http://127.0.0.1:9000", "anon": True},
        }
    )
    config["storage"]["datasets"].append(
        {
            "name": "remote",
            "base_path": "s3://bucket/prefix/remote",
            "filesystem_wrapper_type": "S3FilesystemWrapper",
            "file_wrapper_type": "BinaryFileWrapper",
            "file_wrapper_config": {"file_extension": ".bin", "record_size": 8, "label_size": 2},
            "unlogged": True,
        }
    )
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_system_config(str(path))["storage"]
    assert loaded["datasets"][1]["base_path"] == "s3://bucket/prefix/remote"  # not resolved as a local path
    assert (loaded["datasets"][0]["unlogged"], loaded["datasets"][1]["unlogged"]) == (False, True)
    assert (loaded["insertion_threads"], loaded["ingestion_threads"], loaded["hash_partitions"]) == (2, 0, 4)

    config["storage"]["allowed_base_paths"] = ["relative/root", ""]
    config["storage"]["s3"] = {"colour": "red"}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as info:
        load_system_config(str(path))
    assert "storage.allowed_base_paths[1]: must not be empty" in str(info.value) and "storage.s3" in str(info.value)
    config["storage"]["allowed_base_paths"] = ["relative/root"]
    del config["storage"]["s3"]
    path.write_text(yaml.safe_dump(config))
    # a relative root is resolved against the YAML's folder, like every other path in the config
    assert load_system_config(str(path))["storage"]["allowed_base_paths"] == [str(tmp_path / "relative" / "root")]
