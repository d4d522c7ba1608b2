"""GDumbStrategy: a class-balanced memory of fixed size, filled greedily."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from modyn.selector.strategies.abstract_selection_strategy import TrainingSet, TriggerContext
from modyn.selector.strategies.fixed_memory_strategy import FixedMemoryStrategy


class GDumbStrategy(FixedMemoryStrategy):
    """GDumb's greedy class-balanced sampler (Prabhu, Torr & Dokania, "GDumb: A Simple Approach that
    Questions Our Progress in Continual Learning", ECCV 2020): a memory of `memory_size` keys; each
    new key (in (timestamp, key) order) is stored while the memory has room; once it is full, a key
    of label y is stored only if y holds fewer than memory_size / (number of labels seen) keys, in
    place of a random key of the label that holds the most (ties: the smallest label). Keys without
    a label count as one label of their own.

    Parameters (besides `name`, `maximum_keys_in_memory` and `seed`):
        memory_size: required, > 0: the number of keys the memory holds.

    The training set of a trigger is the memory after the keys informed since the previous trigger
    went through it, ordered by (timestamp, key). The memory is part of the trigger's stored state
    (the selector holds it in RAM while a trigger is computed: memory_size x 24 bytes); new keys
    are read in chunks of maximum_keys_in_memory.
    """

    name = "GDumbStrategy"

    def trigger(self, ctx: TriggerContext) -> Iterator[TrainingSet]:
        previous = ctx.load_state(ctx.trigger_id - 1) if ctx.trigger_id > 0 else None
        size = self.memory_size
        keys = np.zeros(size, dtype=np.int64)
        timestamps = np.zeros(size, dtype=np.int64)
        labels = np.zeros(size, dtype=np.int64)
        filled = 0
        if previous is not None:
            filled = len(previous["keys"])
            keys[:filled], timestamps[:filled], labels[:filled] = (
                previous["keys"],
                previous["timestamps"],
                previous["labels"],
            )
        # slots of each label, to evict from in O(1)
        slots: dict[int, list[int]] = {}
        for slot, label in enumerate(labels[:filled].tolist()):
            slots.setdefault(label, []).append(slot)
        rng = ctx.rng
        for chunk in ctx.stream(ctx.trigger_id, ctx.trigger_id, ("key", "timestamp", "label")):
            new_keys, new_ts, new_labels = chunk["key"], chunk["timestamp"], chunk["label"]
            start = 0
            if filled < size:  # room left: store in bulk
                start = min(size - filled, len(new_keys))
                keys[filled : filled + start] = new_keys[:start]
                timestamps[filled : filled + start] = new_ts[:start]
                labels[filled : filled + start] = new_labels[:start]
                for offset, label in enumerate(new_labels[:start].tolist()):
                    slots.setdefault(label, []).append(filled + offset)
                filled += start
            for i in range(start, len(new_keys)):
                label = int(new_labels[i])
                held = slots.get(label)
                num_labels = len(slots) + (0 if held else 1)
                if held is not None and len(held) >= size / num_labels:
                    continue
                biggest = max(slots, key=lambda y: (len(slots[y]), -y))
                victims = slots[biggest]
                index = int(rng.integers(len(victims)))
                slot = victims[index]
                victims[index] = victims[-1]
                victims.pop()
                if not victims:
                    del slots[biggest]
                keys[slot], timestamps[slot], labels[slot] = new_keys[i], new_ts[i], label
                slots.setdefault(label, []).append(slot)
        order = np.lexsort((keys[:filled], timestamps[:filled]))
        ctx.save_state({"keys": keys[order], "timestamps": timestamps[order], "labels": labels[order]})
        yield TrainingSet(np.ascontiguousarray(keys[order]))
