"""State dicts as bytes and back, and a canonical checksum of their contents.

`state_sha256` hashes every entry's name, dtype, shape and raw bytes in order: two state dicts with
the same value are bit-identical exactly when their `state_sha256` agree, whatever torch.save's
container bytes look like. Model storage records it on upload and checks it after reconstructing
an incrementally stored model.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

StateDict = "OrderedDict[str, torch.Tensor]"


class NotATensorStateDict(ValueError):
    """The bytes are not a torch.save'd flat mapping of names to dense tensors."""


def load_state_dict(data: bytes) -> OrderedDict[str, torch.Tensor]:
    """torch.load (weights only) a flat {name: dense tensor} mapping; NotATensorStateDict otherwise."""
    try:
        loaded: Any = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NotATensorStateDict(f"not loadable with torch.load(weights_only=True): {type(exc).__name__}") from exc
    if not isinstance(loaded, dict):
        raise NotATensorStateDict(f"a {type(loaded).__name__}, not a mapping of names to tensors")
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, value in loaded.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise NotATensorStateDict(f"entry {name!r} is a {type(value).__name__}, not a tensor")
        if value.layout != torch.strided or value.is_quantized:
            raise NotATensorStateDict(f"entry {name!r} is not a dense tensor")
        state[name] = value
    return state


def save_state_dict(state: OrderedDict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_from_name(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown tensor dtype {name!r}")
    return dtype


def tensor_bytes(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's raw bytes (native byte order, C order) as a uint8 array."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    if flat.numel() == 0:
        return np.zeros(0, dtype=np.uint8)
    return flat.view(torch.uint8).numpy().copy()


def tensor_from_bytes(data: np.ndarray | bytes, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(data, bytes) else data
    count = 1
    for dim in shape:
        count *= dim
    element_size = torch.empty(0, dtype=dtype).element_size()
    if raw.size != count * element_size:
        raise ValueError(f"{raw.size} bytes do not make a {dtype_name(dtype)} tensor of shape {shape}")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.from_numpy(raw.copy()).view(dtype).reshape(shape)


def state_sha256(state: OrderedDict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(f"{name}\0{dtype_name(tensor.dtype)}\0{list(tensor.shape)}\0".encode())
        digest.update(tensor_bytes(tensor).tobytes())
    return digest.hexdigest()
