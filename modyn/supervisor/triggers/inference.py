"""ServiceTriggerContext: the TriggerContext of a running pipeline, over storage and model storage.

Samples are fetched from storage by key and parsed with the pipeline's bytes parser (and its
deterministic transformations: the random augmentations are left out); the latest model is fetched
from model storage once per model id, built with modyn.models.build_model and run in this process
(`device` of the pipeline's training section, CPU by default) in batches.

Embeddings are the input of the model's last linear layer (its penultimate representation), captured
with a forward hook; a model without a linear layer gives its flattened output.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modyn.common.clients.model_storage_client import ModelStorageClient
from modyn.common.clients.storage_client import StorageClient
from modyn.common.user_functions import compile_user_function
from modyn.supervisor.triggers.context import TriggerContext

BATCH_SIZE = 256


def _deterministic(specs: Sequence[Any]) -> list[Any]:
    return [spec for spec in specs if "Random" not in json.dumps(spec)]


def _size(value: Any) -> int:
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "numel"):
        return int(value.element_size() * value.numel())
    return 64


class ServiceTriggerContext(TriggerContext):
    def __init__(
        self,
        storage: StorageClient,
        model_storage: ModelStorageClient,
        pipeline_config: dict[str, Any],
        device: str = "cpu",
        cache_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        super().__init__()
        from modyn.common.data import build_bytes_parser, build_transform

        data = pipeline_config["data"]
        self.storage = storage
        self.model_storage = model_storage
        self.dataset_id: str = data["dataset_id"]
        self.device = device
        self._parse: Callable[[bytes], Any] = build_bytes_parser(data["bytes_parser_function"])
        self._transform = build_transform(_deterministic(data.get("transformations") or []))
        self._label_transform = compile_user_function(
            data.get("label_transformer_function", ""), "label_transformer_function"
        )
        self._model: Any = None
        self._model_id: int | None = None
        # key -> (parsed input, label): a drift trigger's reference window is judged again and again
        self._cache: dict[int, tuple[Any, int]] = {}
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0

    # ---- samples ----

    def _samples(self, keys: Sequence[int]) -> tuple[list[Any], np.ndarray]:
        wanted = [int(k) for k in keys]
        missing = [k for k in dict.fromkeys(wanted) if k not in self._cache]
        if missing:
            if self._cached_bytes > self._cache_bytes:
                self._cache.clear()
                self._cached_bytes = 0
            for chunk_keys, samples, labels in self.storage.get_samples(self.dataset_id, missing):
                for key, data, label in zip(chunk_keys, samples, labels, strict=True):
                    value = self._parse(data)
                    if self._transform is not None:
                        value = self._transform(value)
                    if self._label_transform is not None:
                        label = int(self._label_transform(label))
                    self._cache[int(key)] = (value, int(label))
                    self._cached_bytes += _size(value)
        lost = [k for k in wanted if k not in self._cache]
        if lost:
            raise KeyError(f"storage did not return {len(lost)} sample(s) of {self.dataset_id}, e.g. key {lost[0]}")
        return [self._cache[k][0] for k in wanted], np.asarray([self._cache[k][1] for k in wanted], dtype=np.int64)

    def raw_features(self, keys: Sequence[int]) -> np.ndarray:
        import torch

        inputs, _ = self._samples(keys)
        rows = [torch.as_tensor(x, dtype=torch.float32).reshape(-1).numpy() for x in inputs]
        return np.stack(rows).astype(np.float64) if rows else np.zeros((0, 0))

    # ---- the model ----

    def _load_model(self) -> Any:
        import torch

        from modyn.models import build_model

        if self.latest_model_id is None:
            raise RuntimeError("no model has been trained yet")
        if self._model_id == self.latest_model_id:
            return self._model
        with tempfile.TemporaryDirectory(prefix="modyn_trigger_model_") as folder:
            path = Path(folder) / "model.pt"
            info = self.model_storage.fetch_model_file(self.latest_model_id, path)
            model = build_model(info.model_class_name, info.model_config)
            state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and set(state) == {"model"}:
            state = state["model"]
        model.load_state_dict(state)
        model.to(self.device)
        model.eval()
        self._model, self._model_id = model, self.latest_model_id
        return model

    def _run(self, keys: Sequence[int], want_embeddings: bool) -> tuple[np.ndarray, np.ndarray]:
        import torch

        model = self._load_model()
        inputs, labels = self._samples(keys)
        captured: list[Any] = []
        hook = None
        if want_embeddings:
            linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
            if linear:
                hook = linear[-1].register_forward_hook(lambda _m, args, _out: captured.append(args[0].detach()))
        outputs = []
        try:
            with torch.no_grad():
                for start in range(0, len(inputs), BATCH_SIZE):
                    batch = torch.stack([torch.as_tensor(x) for x in inputs[start : start + BATCH_SIZE]])
                    out = model(batch.to(self.device))
                    if want_embeddings and hook is None:
                        captured.append(out.detach())
                    outputs.append(out.detach())
        finally:
            if hook is not None:
                hook.remove()
        chosen = captured if want_embeddings else outputs
        if not chosen:
            return np.zeros((0, 0)), labels
        result = torch.cat([c.reshape(c.shape[0], -1).float().cpu() for c in chosen]).numpy().astype(np.float64)
        return result, labels

    def embeddings(self, keys: Sequence[int]) -> np.ndarray:
        return self._run(keys, want_embeddings=True)[0]

    def predictions(self, keys: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        scores, labels = self._run(keys, want_embeddings=False)
        if scores.size == 0:
            return np.zeros(0, dtype=np.int64), labels
        return scores.argmax(axis=1).astype(np.int64), labels
