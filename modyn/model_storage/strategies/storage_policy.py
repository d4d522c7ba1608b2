"""A pipeline's storage policy: its `model_storage:` section, parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modyn.model_storage.strategies.pytorch_full_model import PyTorchFullModel
from modyn.model_storage.strategies.weights_difference import WeightsDifference


@dataclass
class StoragePolicy:
    full: PyTorchFullModel
    incremental: WeightsDifference | None = None
    full_model_interval: int = 1

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> StoragePolicy:
        """From the pipeline's `model_storage:` section; ValueError naming the bad key."""
        section = dict(section or {})
        unknown = sorted(set(section) - {"full_model_strategy", "incremental_model_strategy"})
        if unknown:
            raise ValueError(f"model_storage: unknown key(s) {', '.join(unknown)}")
        full_config = dict(section.get("full_model_strategy") or {})
        name = full_config.get("name", "PyTorchFullModel")
        if name != "PyTorchFullModel":
            raise ValueError(f"model_storage.full_model_strategy.name: unknown strategy {name!r}")
        full = PyTorchFullModel({k: v for k, v in full_config.items() if k != "config"} | full_config.get("config", {}))
        incremental_config = section.get("incremental_model_strategy")
        if not incremental_config:
            return cls(full=full)
        name = incremental_config.get("name", "WeightsDifference")
        if name != "WeightsDifference":
            raise ValueError(f"model_storage.incremental_model_strategy.name: unknown strategy {name!r}")
        unknown = sorted(set(incremental_config) - {"name", "config", "full_model_interval"})
        if unknown:
            raise ValueError(f"model_storage.incremental_model_strategy: unknown key(s) {', '.join(unknown)}")
        interval = incremental_config.get("full_model_interval", 5)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(
                "model_storage.incremental_model_strategy.full_model_interval: must be an integer >= 1, "
                f"got {interval!r}"
            )
        try:
            incremental = WeightsDifference(incremental_config.get("config") or {})
        except ValueError as exc:
            raise ValueError(f"model_storage.incremental_model_strategy.config: {exc}") from exc
        return cls(full=full, incremental=incremental, full_model_interval=interval)
