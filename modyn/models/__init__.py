"""The model zoo: plain torch modules, built by name from a pipeline's `model` section.

MODEL_REGISTRY maps each model id to "module:Class" so that config validation can check ids
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

MODEL_REGISTRY: dict[str, str] = {
    "Dummy": "modyn.models.dummy:Dummy",
    "MLP": "modyn.models.mlp:MLP",
    "SmallCNN": "modyn.models.small_cnn:SmallCNN",
    "ResNet18": "modyn.models.resnet:ResNet18",
    "ResNet50": "modyn.models.resnet:ResNet50",
    "DLRM": "modyn.models.dlrm:DLRM",
}


def build_model(model_id: str, config: dict[str, Any] | None = None) -> Any:
    """Instantiate model `model_id` with its config (keyword arguments)."""
    if model_id not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {model_id!r} (known: {', '.join(sorted(MODEL_REGISTRY))})")
    module_name, class_name = MODEL_REGISTRY[model_id].split(":")
    model_class = getattr(importlib.import_module(module_name), class_name)
    try:
        return model_class(**(config or {}))
    except TypeError as exc:
        raise ValueError(f"model.config: invalid config for {model_id}: {exc}") from exc
