"""Incremental storage: chains of weight differences reconstruct bit-identical state dicts."""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modyn.common.database import Database
from modyn.model_storage.model_storage_manager import ModelDataLossError, ModelHeader, ModelStorageManager
from modyn.model_storage.strategies import StoragePolicy, WeightsDifference
from modyn.model_storage.strategies.byte_codecs import MIN_RUN, rle_decode, rle_encode, shuffle, unshuffle
from modyn.model_storage.strategies.difference_operators import DIFFERENCE_OPERATORS
from modyn.model_storage.strategies.state_dict import load_state_dict, save_state_dict, state_sha256


def _state(seed: int) -> OrderedDict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return OrderedDict(
        [
            ("layer.weight", torch.randn(64, 32, generator=generator)),
            ("layer.bias", torch.randn(64, generator=generator, dtype=torch.float64)),
            ("half", torch.randn(16, generator=generator).to(torch.float16)),
            ("bfloat", torch.randn(16, generator=generator).to(torch.bfloat16)),
            ("counter", torch.tensor(7, dtype=torch.int64)),
            ("mask", torch.tensor([True, False, True])),
            ("empty", torch.zeros(0, 4)),
        ]
    )


def _train_step(state: OrderedDict[str, torch.Tensor], step: int) -> OrderedDict[str, torch.Tensor]:
    """A small, deterministic update as a fine-tuning step would make (and one shape-changing entry)."""
    generator = torch.Generator().manual_seed(1000 + step)
    new = OrderedDict((name, tensor.clone()) for name, tensor in state.items())
    new["layer.weight"] += 1e-3 * torch.randn(64, 32, generator=generator)
    new["layer.bias"] -= 1e-4
    new["half"] = (new["half"].float() * 1.01).to(torch.float16)
    new["counter"] += 1
    new["mask"] = ~new["mask"]
    new[f"only_in_{step}"] = torch.arange(step + 1, dtype=torch.int32)
    return new


def _header(state_bytes: bytes, trigger: int, parent: int | None = None, pipeline: int = 1) -> ModelHeader:
    return ModelHeader(
        pipeline_id=pipeline,
        trigger_id=trigger,
        model_class_name="Dummy",
        model_config="{}",
        sha256=hashlib.sha256(state_bytes).hexdigest(),
        parent_model_id=parent,
        training_set_size=100 + trigger,
    )


@pytest.fixture
def manager(sqlite_db_config: dict[str, Any], tmp_path: Path) -> ModelStorageManager:
    return ModelStorageManager(Database(sqlite_db_config), tmp_path / "models", chunk_bytes=4096)


def _store_chain(manager: ModelStorageManager, length: int) -> tuple[list[int], list[OrderedDict[str, torch.Tensor]]]:
    states = [_state(0)]
    for step in range(1, length):
        states.append(_train_step(states[-1], step))
    ids: list[int] = []
    for trigger, state in enumerate(states):
        data = save_state_dict(state)
        ids.append(manager.store_model(_header(data, trigger, ids[-1] if ids else None), [data[:100], data[100:]]))
    return ids, states


@pytest.mark.parametrize("operator", ["sub", "xor"])
@pytest.mark.parametrize("rle", [False, True])
@pytest.mark.parametrize("zip_", [False, True])
def test_chain_reconstructs_bit_identical_state_dicts(
    manager: ModelStorageManager, operator: str, rle: bool, zip_: bool
) -> None:
    policy = {
        "full_model_strategy": {"name": "PyTorchFullModel"},
        "incremental_model_strategy": {
            "name": "WeightsDifference",
            "config": {"operator": operator, "rle": rle, "zip": zip_},
            "full_model_interval": 3,
        },
    }
    manager.set_pipeline(1, "p", policy)
    ids, states = _store_chain(manager, 7)
    infos = [manager.get_model_info(i) for i in ids]
    # full, diff, diff, full, diff, diff, full: a full model every 3 along the chain
    assert [info.chain_depth for info in infos] == [0, 1, 2, 0, 1, 2, 0]
    assert [info.base_model_id for info in infos] == [None, ids[0], ids[1], None, ids[3], ids[4], None]
    assert infos[1].encoding == {
        "strategy": "WeightsDifference",
        "operator": operator,
        "rle": rle,
        "zip": zip_,
        "base": ids[0],
    }
    for model_id, expected in zip(ids, states, strict=True):
        restored = manager.load_state(model_id)
        assert list(restored) == list(expected)
        for name, tensor in expected.items():
            assert restored[name].dtype == tensor.dtype and restored[name].shape == tensor.shape
            assert torch.equal(restored[name].reshape(-1).view(torch.uint8), tensor.reshape(-1).view(torch.uint8))
        served = load_state_dict(manager.read_model_bytes(model_id))
        assert state_sha256(served) == state_sha256(expected)
        assert manager.get_model_info(model_id).state_sha256 == state_sha256(expected)
    if zip_ or rle:
        assert infos[2].file_size_bytes < infos[2].size_bytes


def test_float_subtraction_would_not_be_exact_but_sub_on_bit_patterns_is() -> None:
    base = np.array([0.1, 1e8, -3.3], dtype=np.float32)
    new = np.array([0.30000001, 1.0, 7.7], dtype=np.float32)
    assert not np.array_equal((new - base) + base, new)  # why sub works on bit patterns
    op = DIFFERENCE_OPERATORS["sub"]
    diff = op.diff(base.view(np.uint8), new.view(np.uint8), 4)
    assert np.array_equal(op.apply(base.view(np.uint8), diff, 4).view(np.float32), new)


def test_rle_round_trips_and_compresses_runs() -> None:
    rng = np.random.default_rng(0)
    cases = [
        np.zeros(0, np.uint8),
        np.zeros(1, np.uint8),
        np.zeros(10_000, np.uint8),
        rng.integers(0, 256, 5000, dtype=np.uint8),
        np.concatenate(
            [rng.integers(0, 256, 100, dtype=np.uint8), np.zeros(MIN_RUN, np.uint8), [5], np.ones(3, np.uint8)]
        ).astype(np.uint8),
    ]
    for data in cases:
        encoded = rle_encode(data)
        assert np.array_equal(rle_decode(encoded), data)
    assert len(rle_encode(np.zeros(10_000, np.uint8))) < 64
    random = rng.integers(0, 256, 5000, dtype=np.uint8)
    assert len(rle_encode(random)) <= 5000 + 64
    with pytest.raises(ValueError, match="header announces"):
        rle_decode(rle_encode(random)[:-1])
    data = np.arange(40, dtype=np.uint8)
    assert np.array_equal(unshuffle(shuffle(data, 4), 4), data)
    assert shuffle(data, 4)[:10].tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]


def test_identical_model_is_stored_in_a_few_bytes() -> None:
    state = _state(3)
    encoded = WeightsDifference({"operator": "xor", "rle": True, "zip": False}).encode(state, state)
    header_bytes = len(json.dumps([list(state)]))  # the JSON header dominates
    assert len(encoded) < header_bytes + 1000
    assert state_sha256(WeightsDifference.decode(encoded, state)) == state_sha256(state)


def test_full_model_zip_serves_the_uploaded_bytes(manager: ModelStorageManager) -> None:
    manager.set_pipeline(1, "p", {"full_model_strategy": {"name": "PyTorchFullModel", "zip": True}})
    data = save_state_dict(OrderedDict([("w", torch.zeros(10_000))]))
    model_id = manager.store_model(_header(data, 0), [data])
    info = manager.get_model_info(model_id)
    assert info.storage == "full+zip" and info.file_path == f"{model_id}.pt.z"
    assert info.file_size_bytes < len(data) // 10
    assert manager.read_model_bytes(model_id) == data
    assert info.served_sha256 == info.sha256 == hashlib.sha256(data).hexdigest()


def test_policy_without_incremental_strategy_stores_every_model_in_full(manager: ModelStorageManager) -> None:
    ids, states = _store_chain(manager, 3)
    assert [manager.get_model_info(i).storage for i in ids] == ["full", "full", "full"]
    assert manager.read_model_bytes(ids[1]) == save_state_dict(states[1])


def test_upload_that_is_not_a_state_dict_is_stored_in_full(manager: ModelStorageManager) -> None:
    manager.set_pipeline(1, "p", {"incremental_model_strategy": {"name": "WeightsDifference"}})
    first = save_state_dict(_state(0))
    first_id = manager.store_model(_header(first, 0), [first])
    buffer = io.BytesIO()
    torch.save({"model": _state(0), "epoch": 3}, buffer)  # a checkpoint, not a flat state dict
    second = buffer.getvalue()
    second_id = manager.store_model(_header(second, 1, first_id), [second])
    assert manager.get_model_info(second_id).storage == "full"
    assert manager.read_model_bytes(second_id) == second


def test_model_of_another_class_is_not_a_base(manager: ModelStorageManager) -> None:
    manager.set_pipeline(1, "p", {"incremental_model_strategy": {"name": "WeightsDifference"}})
    first = save_state_dict(_state(0))
    first_id = manager.store_model(_header(first, 0), [first])
    second = save_state_dict(_train_step(_state(0), 1))
    header = ModelHeader(1, 1, "MLP", "{}", hashlib.sha256(second).hexdigest(), parent_model_id=first_id)
    assert manager.get_model_info(manager.store_model(header, [second])).storage == "full"


def test_corrupt_difference_file_is_data_loss(manager: ModelStorageManager) -> None:
    manager.set_pipeline(
        1, "p", {"incremental_model_strategy": {"name": "WeightsDifference", "config": {"zip": False}}}
    )
    ids, _ = _store_chain(manager, 2)
    path = manager.models_directory / manager.get_model_info(ids[1]).file_path
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelDataLossError, match=f"model {ids[1]}"):
        manager.read_model_bytes(ids[1])


def test_bad_policies_are_rejected_naming_the_key() -> None:
    with pytest.raises(ValueError, match="full_model_interval: must be an integer >= 1"):
        StoragePolicy.from_config(
            {"incremental_model_strategy": {"name": "WeightsDifference", "full_model_interval": 0}}
        )
    with pytest.raises(ValueError, match="operator must be one of sub, xor"):
        StoragePolicy.from_config(
            {"incremental_model_strategy": {"name": "WeightsDifference", "config": {"operator": "add"}}}
        )
    with pytest.raises(ValueError, match="unknown strategy 'Zstd'"):
        StoragePolicy.from_config({"full_model_strategy": {"name": "Zstd"}})
