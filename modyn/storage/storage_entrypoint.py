"""`modyn-storage SYSTEM_YAML`: the storage service's process."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from modyn.common.database import Database
from modyn.common.service_main import ServiceParts, run_service
from modyn.storage.servicer import add_storage_servicer
from modyn.storage.storage_manager import StorageError, StorageManager

logger = logging.getLogger(__name__)


def build(config: dict[str, Any]) -> ServiceParts:
    """Create tables, register the config's datasets, scan each once, start the watchers."""
    section = config["storage"]
    db = Database(section["database"])
    manager = StorageManager(
        db,
        keys_per_message=section["keys_per_message"],
        max_message_bytes=section["max_message_bytes"],
        insertion_batch_size=section["insertion_batch_size"],
        allowed_base_paths=section.get("allowed_base_paths"),
        hash_partitions=section["hash_partitions"],
        ingestion_threads=section["ingestion_threads"] or None,
        insertion_threads=section["insertion_threads"],
        filesystem_options={"S3FilesystemWrapper": section.get("s3", {})},
    )
    if section.get("allowed_base_paths") is None:
        logger.warning(
            "storage.allowed_base_paths is not set: RegisterNewDataset accepts any base_path this process can read"
        )
    for dataset in section["datasets"]:
        manager.register_dataset(
            name=dataset["name"],
            base_path=dataset["base_path"],
            file_wrapper_type=dataset["file_wrapper_type"],
            file_wrapper_config=dataset["file_wrapper_config"],
            description=dataset["description"],
            version=str(dataset["version"]),
            filesystem_wrapper_type=dataset["filesystem_wrapper_type"],
            file_watcher_interval=dataset["file_watcher_interval"],
            unlogged=dataset["unlogged"],
        )
    for name in manager.dataset_names():
        try:
            result = manager.update_dataset(name)
        except StorageError as exc:
            # One unreadable dataset (e.g. registered earlier over RPC, its folder since removed) must
            # not keep the others from being served; its watcher keeps trying.
            logger.error("start-up scan failed: %s", exc)
            continue
        logger.info(
            "dataset '%s': %d sample(s) after the start-up scan (%d new file(s), %d skipped)",
            name,
            manager.get_dataset_size(name),
            result.num_new_files,
            len(result.skipped_files),
        )
    manager.start_watchers()
    return ServiceParts(add_servicers=add_storage_servicer(manager), on_shutdown=[manager.stop_watchers, db.dispose])


def main(argv: Sequence[str] | None = None) -> int:
    return run_service("storage", "storage", build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
