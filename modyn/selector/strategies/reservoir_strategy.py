"""ReservoirStrategy: a replay memory that is a uniform sample of every key seen so far."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from modyn.selector.strategies.abstract_selection_strategy import TrainingSet, TriggerContext
from modyn.selector.strategies.fixed_memory_strategy import FixedMemoryStrategy


class ReservoirStrategy(FixedMemoryStrategy):
    """Reservoir sampling (Vitter's Algorithm R, "Random Sampling with a Reservoir", ACM TOMS 1985) as
    the replay memory of continual learning (Chaudhry et al., "On Tiny Episodic Memories in
    Continual Learning", 2019; Rolnick et al., "Experience Replay for Continual Learning", NeurIPS
    2019): after n keys, the memory of `memory_size` keys is a uniform random sample of all n.

    Parameters (besides `name`, `maximum_keys_in_memory` and `seed`):
        memory_size: required, > 0: the number of keys the memory holds.

    Keys enter in (timestamp, key) order per trigger: the i-th key seen (1-based) fills slot i-1
    while i <= memory_size, afterwards it replaces slot j, j uniform in [0, i), if j < memory_size.
    The training set of a trigger is the memory after the keys informed since the previous trigger
    went through it, ordered by (timestamp, key). The memory and the count of keys seen are the
    trigger's stored state (held in RAM while a trigger is computed: memory_size x 16 bytes).
    """

    name = "ReservoirStrategy"

    def trigger(self, ctx: TriggerContext) -> Iterator[TrainingSet]:
        previous = ctx.load_state(ctx.trigger_id - 1) if ctx.trigger_id > 0 else None
        size = self.memory_size
        keys = np.zeros(size, dtype=np.int64)
        timestamps = np.zeros(size, dtype=np.int64)
        seen = 0
        if previous is not None:
            seen = int(previous["seen"][0])
            held = len(previous["keys"])
            keys[:held], timestamps[:held] = previous["keys"], previous["timestamps"]
        for chunk in ctx.stream(ctx.trigger_id, ctx.trigger_id, ("key", "timestamp")):
            new_keys, new_ts = chunk["key"], chunk["timestamp"]
            start = 0
            if seen < size:  # the reservoir is filling up
                start = min(size - seen, len(new_keys))
                keys[seen : seen + start], timestamps[seen : seen + start] = new_keys[:start], new_ts[:start]
            # The i-th key (1-based) replaces slot j ~ U[0, i) when j < size; of several keys of this
            # chunk landing on one slot, the last one wins, as if they were processed one by one.
            ordinals = np.arange(seen + start + 1, seen + len(new_keys) + 1, dtype=np.int64)
            targets = ctx.rng.integers(0, ordinals)
            accepted = np.nonzero(targets < size)[0]
            if len(accepted):
                slots = targets[accepted]
                last_first, first_index = np.unique(slots[::-1], return_index=True)
                winners = accepted[::-1][first_index] + start
                keys[last_first], timestamps[last_first] = new_keys[winners], new_ts[winners]
            seen += len(new_keys)
        held = min(seen, size)
        order = np.lexsort((keys[:held], timestamps[:held]))
        ctx.save_state({"keys": keys[order], "timestamps": timestamps[order], "seen": np.array([seen])})
        yield TrainingSet(np.ascontiguousarray(keys[order]))
