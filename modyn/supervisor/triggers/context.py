"""What model-based triggers may use: the current model and a way to run it on new samples.

`TriggerContext` is the interface. `ServiceTriggerContext` (modyn.supervisor.triggers.inference) implements
it over storage and model storage; `ArrayTriggerContext` implements it over in-memory arrays (offline
analysis of a stream, and the tests of the trigger policies).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainingOutcome:
    """What a trigger's training produced; handed to every trigger after the training."""

    model_id: int
    num_samples: int  # size of the trigger training set
    duration_s: float  # wall-clock duration of the training


class TriggerContext(ABC):
    """Data and model access for triggers. `latest_model_id` is the model trained at the latest trigger."""

    def __init__(self) -> None:
        self.latest_model_id: int | None = None

    @abstractmethod
    def raw_features(self, keys: Sequence[int]) -> np.ndarray:
        """(len(keys), d) float array: each sample's parsed input, flattened."""

    @abstractmethod
    def embeddings(self, keys: Sequence[int]) -> np.ndarray:
        """(len(keys), d) float array: each sample's embedding under the latest model."""

    @abstractmethod
    def predictions(self, keys: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(predicted class, true label) per sample under the latest model, both int arrays."""

    def errors(self, keys: Sequence[int]) -> np.ndarray:
        """1.0 where the latest model misclassifies the sample, else 0.0."""
        predicted, labels = self.predictions(keys)
        return (predicted != labels).astype(np.float64)

    def features(self, keys: Sequence[int], kind: str) -> np.ndarray:
        if kind == "raw":
            return self.raw_features(keys)
        if kind == "embedding":
            return self.embeddings(keys)
        raise ValueError(f"unknown feature kind {kind!r} (raw, embedding)")


ModelFunction = Callable[[np.ndarray], np.ndarray]


class ArrayTriggerContext(TriggerContext):
    """Samples are rows of in-memory arrays: key k is row k of `features` with label `labels[k]`.

    `models` maps a model id to a function from raw features to class scores (n, classes); `embed`
    (optional) maps a model id to a function from raw features to embeddings (default: the scores).
    """

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray | None = None,
        models: dict[int, ModelFunction] | None = None,
        embed: dict[int, ModelFunction] | None = None,
    ) -> None:
        super().__init__()
        self._features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        self._labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.models = models or {}
        self.embed = embed or {}
        self.calls = 0  # model evaluations asked for (to check that triggers batch their work)

    def _model(self, table: dict[int, ModelFunction]) -> ModelFunction:
        if self.latest_model_id is None:
            raise RuntimeError("no model has been trained yet")
        if self.latest_model_id in table:
            return table[self.latest_model_id]
        if self.latest_model_id in self.models:
            return self.models[self.latest_model_id]
        raise KeyError(f"unknown model {self.latest_model_id}")

    def raw_features(self, keys: Sequence[int]) -> np.ndarray:
        return self._features[np.asarray(keys, dtype=np.int64)]

    def embeddings(self, keys: Sequence[int]) -> np.ndarray:
        self.calls += 1
        return np.asarray(self._model(self.embed)(self.raw_features(keys)), dtype=np.float64)

    def predictions(self, keys: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        if self._labels is None:
            raise RuntimeError("this context has no labels")
        self.calls += 1
        scores = np.asarray(self._model(self.models)(self.raw_features(keys)))
        return scores.argmax(axis=1).astype(np.int64), self._labels[np.asarray(keys, dtype=np.int64)]
