"""How a model is laid out on disk: full models and incremental (difference) models.

A pipeline's `model_storage:` section picks the strategies:
  - `full_model_strategy` (`PyTorchFullModel`): the uploaded bytes, optionally zlib-compressed;
  - `incremental_model_strategy` (`WeightsDifference`, optional): each model stored as its difference
    to a base model (its parent), with a full model every `full_model_interval` models of a chain.
A new strategy is one file here plus one line in the registries below.
"""

from __future__ import annotations

from modyn.model_storage.strategies.difference_operators import DIFFERENCE_OPERATORS, DifferenceOperator
from modyn.model_storage.strategies.pytorch_full_model import PyTorchFullModel
from modyn.model_storage.strategies.storage_policy import StoragePolicy
from modyn.model_storage.strategies.weights_difference import WeightsDifference

FULL_MODEL_STRATEGIES = {"PyTorchFullModel": PyTorchFullModel}
INCREMENTAL_MODEL_STRATEGIES = {"WeightsDifference": WeightsDifference}

__all__ = [
    "DIFFERENCE_OPERATORS",
    "FULL_MODEL_STRATEGIES",
    "INCREMENTAL_MODEL_STRATEGIES",
    "DifferenceOperator",
    "PyTorchFullModel",
    "StoragePolicy",
    "WeightsDifference",
]
