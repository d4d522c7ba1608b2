"""Exact, seeded, streaming sampling without replacement, and balanced per-group quotas.

`StratifiedSampler` picks exactly `targets[g]` of the `totals[g]` rows of each group g uniformly at
random while the rows stream past in chunks, keeping their order and holding nothing but the
counts: for each chunk and group, the number of picks that fall into the chunk is drawn from the
hypergeometric distribution (c of the remaining R rows are in the chunk, `need` picks remain), then
that many of the chunk's c rows are chosen uniformly. Every subset of the right size is equally
likely (sequential sampling, cf. Vitter, "Faster methods for random sampling", CACM 1984).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class StratifiedSampler:
    def __init__(self, targets: dict[int, int], totals: dict[int, int], rng: np.random.Generator) -> None:
        for group, target in targets.items():
            if not 0 <= target <= totals.get(group, 0):
                raise ValueError(f"cannot pick {target} of {totals.get(group, 0)} rows of group {group}")
        self._need = {g: t for g, t in targets.items() if t > 0}
        self._remaining = dict(totals)
        self._rng = rng

    @property
    def done(self) -> bool:
        return not self._need

    def select(self, groups: NDArray[np.int64]) -> NDArray[np.bool_]:
        """The rows of this chunk (given by their group) to pick."""
        mask = np.zeros(len(groups), dtype=bool)
        if len(groups) == 0:
            return mask
        order = np.argsort(groups, kind="stable")
        values, starts, counts = np.unique(groups[order], return_index=True, return_counts=True)
        for group, start, count in zip(values.tolist(), starts.tolist(), counts.tolist(), strict=True):
            remaining = self._remaining.get(group, 0)
            if count > remaining:
                raise ValueError(f"group {group}: more rows streamed than counted ({count} > {remaining})")
            self._remaining[group] = remaining - count
            need = self._need.get(group, 0)
            if need == 0:
                continue
            if need >= remaining:
                picked = count
            else:
                picked = int(self._rng.hypergeometric(count, remaining - count, need))
            if picked:
                rows = order[start : start + count]
                chosen = rows if picked == count else rows[self._rng.choice(count, picked, replace=False)]
                mask[chosen] = True
            if need - picked:
                self._need[group] = need - picked
            else:
                del self._need[group]
        return mask


def select_all(totals: dict[int, int]) -> dict[int, int]:
    return dict(totals)


def fair_shares(
    totals: dict[int, int],
    target: int,
    force_column_balancing: bool = False,
    force_required_target_size: bool = False,
) -> dict[int, int]:
    """How many of each group's rows to pick for a set of `target` rows balanced across groups.

    Default: water-filling. Every group gets the same fair share s, except groups with fewer than s
    rows, which give all of theirs; s is the largest integer with sum(min(s, size)) <= target (so
    the total can fall short of `target` by less than the number of groups).
    force_column_balancing: every group gets exactly the same number, min(target // #groups,
    smallest group size), even if the set ends up smaller than `target`.
    force_required_target_size: water-filling, then the remainder goes one by one to the groups with
    rows left (in ascending group order), so that exactly min(target, all rows) are picked.
    """
    if force_column_balancing and force_required_target_size:
        raise ValueError("force_column_balancing and force_required_target_size exclude each other")
    groups = sorted(g for g, n in totals.items() if n > 0)
    if not groups or target <= 0:
        return {}
    if force_column_balancing:
        share = min(target // len(groups), min(totals[g] for g in groups))
        return {g: share for g in groups}
    shares: dict[int, int] = {}
    budget, left = target, len(groups)
    for group in sorted(groups, key=lambda g: (totals[g], g)):
        share = min(totals[group], budget // left)
        shares[group] = share
        budget -= share
        left -= 1
    # The loop gives later (bigger) groups the rounding leftovers; keep the common share instead, so
    # that groups are equal up to their sizes: s = the largest share given to a group not exhausted.
    open_groups = [g for g in groups if shares[g] < totals[g]]
    if open_groups:
        level = min(shares[g] for g in open_groups)
        shares = {g: min(totals[g], level) for g in groups}
    if force_required_target_size:
        budget = min(target, sum(totals.values())) - sum(shares.values())
        while budget > 0:
            for group in groups:
                if budget and shares[group] < totals[group]:
                    shares[group] += 1
                    budget -= 1
    return shares
