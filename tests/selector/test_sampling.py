"""The streaming stratified sampler and the balanced quotas (no database)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from modyn.selector.strategies.sampling import StratifiedSampler, fair_shares


def _sample(groups: np.ndarray, targets: dict[int, int], chunk: int, seed: int) -> np.ndarray:
    totals = dict(Counter(groups.tolist()))
    sampler = StratifiedSampler(targets, totals, np.random.default_rng(seed))
    masks = [sampler.select(groups[s : s + chunk]) for s in range(0, len(groups), chunk)]
    assert sampler.done
    return np.nonzero(np.concatenate(masks))[0]


def test_exact_counts_per_group_whatever_the_chunking() -> None:
    groups = np.array([0, 1, 2] * 30 + [1] * 10, dtype=np.int64)
    for chunk in (1, 7, 100):
        picked = _sample(groups, {0: 5, 1: 40, 2: 0}, chunk, seed=chunk)
        assert Counter(groups[picked].tolist()) == {0: 5, 1: 40}
        assert len(set(picked.tolist())) == len(picked)  # no repeats


def test_same_seed_same_sample_and_uniform_over_seeds() -> None:
    groups = np.zeros(20, dtype=np.int64)
    assert _sample(groups, {0: 5}, 3, 1).tolist() == _sample(groups, {0: 5}, 3, 1).tolist()
    hits = Counter(i for seed in range(2000) for i in _sample(groups, {0: 5}, 6, seed).tolist())
    # Every position is picked with probability 1/4: 500 of 2000 expected, binomial sd ~19.
    assert all(400 < hits[i] < 600 for i in range(20)), hits


def test_bad_targets_and_overlong_streams_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot pick 3 of 2 rows of group 0"):
        StratifiedSampler({0: 3}, {0: 2}, np.random.default_rng(0))
    sampler = StratifiedSampler({0: 1}, {0: 2}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="more rows streamed than counted"):
        sampler.select(np.zeros(3, dtype=np.int64))


def test_fair_shares() -> None:
    assert fair_shares({0: 100, 1: 100, 2: 100}, 10) == {0: 3, 1: 3, 2: 3}
    assert fair_shares({0: 1, 1: 100, 2: 100}, 10) == {0: 1, 1: 4, 2: 4}
    assert fair_shares({0: 1, 1: 100, 2: 100}, 10, force_column_balancing=True) == {0: 1, 1: 1, 2: 1}
    assert fair_shares({0: 1, 1: 100, 2: 100}, 10, force_required_target_size=True) == {0: 1, 1: 5, 2: 4}
    assert fair_shares({0: 2, 1: 3}, 100, force_required_target_size=True) == {0: 2, 1: 3}
    assert fair_shares({}, 5) == {} and fair_shares({0: 5}, 0) == {}
    with pytest.raises(ValueError, match="exclude each other"):
        fair_shares({0: 1}, 1, True, True)
