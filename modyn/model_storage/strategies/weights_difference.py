"""WeightsDifference: a model stored as the difference of its weights to a base model.

Config (`model_storage.incremental_model_strategy`):
  - `config.operator`: `xor` (default) or `sub` (see difference_operators: both exact on bit patterns);
  - `config.rle` (bool, default true): run-length encode each tensor's (byte-shuffled) difference;
  - `config.zip` (bool, default true): zlib-compress each tensor's payload;
  - `full_model_interval` (int >= 1, default 5, applied by model storage): along a chain of models,
    every `full_model_interval`-th one is stored in full, so reconstructing a model replays at most
    `full_model_interval - 1` differences.

Inspired by the incremental storage of Modyn (Böther et al., "Modyn: Data-Centric Machine Learning
Pipeline Orchestration", SIGMOD 2025) and the weight-delta compression of "Delta-DNN" (Hu et al., 2020).

A tensor that the base lacks, or has with another dtype or shape, is stored in full. The file:
`MODYNWD1`, the header length (u64, little-endian), a JSON header (operator, rle, zip, and per tensor:
name, dtype, shape, mode `diff`|`full`, payload length), then the payloads in header order.
"""

from __future__ import annotations

import json
import struct
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from modyn.model_storage.strategies import byte_codecs
from modyn.model_storage.strategies.difference_operators import DIFFERENCE_OPERATORS
from modyn.model_storage.strategies.state_dict import dtype_from_name, dtype_name, tensor_bytes, tensor_from_bytes

MAGIC = b"MODYNWD1"
_LENGTH = struct.Struct("<Q")


class WeightsDifference:
    name = "WeightsDifference"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        unknown = sorted(set(config) - {"operator", "rle", "zip"})
        if unknown:
            raise ValueError(
                f"WeightsDifference: unknown config key(s) {', '.join(unknown)} (allowed: operator, rle, zip)"
            )
        self.operator = config.get("operator", "xor")
        if self.operator not in DIFFERENCE_OPERATORS:
            raise ValueError(
                f"WeightsDifference: operator must be one of {', '.join(DIFFERENCE_OPERATORS)}, got {self.operator!r}"
            )
        self.rle = bool(config.get("rle", True))
        self.zip = bool(config.get("zip", True))

    def encoding(self, base_model_id: int) -> dict[str, Any]:
        return {
            "strategy": self.name,
            "operator": self.operator,
            "rle": self.rle,
            "zip": self.zip,
            "base": base_model_id,
        }

    def encode(self, state: OrderedDict[str, torch.Tensor], base: OrderedDict[str, torch.Tensor]) -> bytes:
        operator = DIFFERENCE_OPERATORS[self.operator]
        entries: list[dict[str, Any]] = []
        payloads: list[bytes] = []
        for name, tensor in state.items():
            raw = tensor_bytes(tensor)
            element_size = tensor.element_size()
            base_tensor = base.get(name)
            comparable = (
                base_tensor is not None and base_tensor.dtype == tensor.dtype and base_tensor.shape == tensor.shape
            )
            if comparable:
                assert base_tensor is not None
                data = byte_codecs.shuffle(operator.diff(tensor_bytes(base_tensor), raw, element_size), element_size)
                mode = "diff"
            else:
                data, mode = raw, "full"
            payload = byte_codecs.rle_encode(data) if self.rle else data.tobytes()
            if self.zip:
                payload = byte_codecs.zip_bytes(payload)
            entries.append(
                {
                    "name": name,
                    "dtype": dtype_name(tensor.dtype),
                    "shape": list(tensor.shape),
                    "mode": mode,
                    "length": len(payload),
                }
            )
            payloads.append(payload)
        header = json.dumps({"operator": self.operator, "rle": self.rle, "zip": self.zip, "tensors": entries}).encode()
        return MAGIC + _LENGTH.pack(len(header)) + header + b"".join(payloads)

    @staticmethod
    def decode(data: bytes, base: OrderedDict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        """The state dict from a stored difference and its base (the settings come from the file itself)."""
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _LENGTH.size:
            raise ValueError("not a WeightsDifference file (bad magic)")
        (header_length,) = _LENGTH.unpack_from(data, len(MAGIC))
        offset = len(MAGIC) + _LENGTH.size
        header = json.loads(data[offset : offset + header_length])
        offset += header_length
        operator = DIFFERENCE_OPERATORS[header["operator"]]
        state: OrderedDict[str, torch.Tensor] = OrderedDict()
        for entry in header["tensors"]:
            payload = data[offset : offset + entry["length"]]
            if len(payload) != entry["length"]:
                raise ValueError(f"tensor {entry['name']!r}: the file ends early")
            offset += entry["length"]
            if header["zip"]:
                payload = byte_codecs.unzip_bytes(payload)
            raw = byte_codecs.rle_decode(payload) if header["rle"] else np.frombuffer(payload, dtype=np.uint8)
            dtype = dtype_from_name(entry["dtype"])
            element_size = torch.empty(0, dtype=dtype).element_size()
            if entry["mode"] == "diff":
                base_tensor = base.get(entry["name"])
                if base_tensor is None or base_tensor.dtype != dtype or list(base_tensor.shape) != entry["shape"]:
                    raise ValueError(f"tensor {entry['name']!r}: the base model lacks a matching tensor")
                raw = operator.apply(tensor_bytes(base_tensor), byte_codecs.unshuffle(raw, element_size), element_size)
            state[entry["name"]] = tensor_from_bytes(np.ascontiguousarray(raw), dtype, entry["shape"])
        if offset != len(data):
            raise ValueError(f"{len(data) - offset} trailing bytes after the last tensor")
        return state
