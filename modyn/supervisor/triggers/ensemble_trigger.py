"""EnsembleTrigger: combine several triggers with a vote.

Parameters (pipeline YAML, `trigger:`):
- `subtriggers`: a list of trigger configs (any trigger, ensembles included).
- `policy`: `{id: MajorityVote}` (more than half of the sub-triggers fired since the last ensemble
  trigger) or `{id: AtLeastN, n: N}` (at least N of them did).

Each sub-trigger runs on the whole stream; the ensemble walks their fire points in order, remembers which
sub-triggers fired since its own last trigger, and fires where the policy holds (then forgets). As in
Modyn's EnsembleTrigger. Model-based sub-triggers judge a batch with the model current at its start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from modyn.supervisor.triggers.abstract_trigger import Trigger, fire_points
from modyn.supervisor.triggers.context import TrainingOutcome, TriggerContext


def majority_vote(fired: list[bool], _config: dict[str, Any]) -> bool:
    """MajorityVote: more than half of the sub-triggers fired."""
    return sum(fired) * 2 > len(fired)


def at_least_n(fired: list[bool], config: dict[str, Any]) -> bool:
    """AtLeastN: at least `n` sub-triggers fired."""
    return sum(fired) >= int(config["n"])


ENSEMBLE_POLICIES: dict[str, Callable[[list[bool], dict[str, Any]], bool]] = {
    "MajorityVote": majority_vote,
    "AtLeastN": at_least_n,
}


class EnsembleTrigger(Trigger):
    def __init__(self, config: dict[str, Any], path: str = "trigger") -> None:
        super().__init__(config, path)
        from modyn.supervisor.triggers import build_trigger  # the registry imports this module

        subconfigs = config.get("subtriggers") or []
        if len(subconfigs) < 2:
            raise ValueError(f"{path}.subtriggers: give at least two triggers")
        self.subtriggers = [build_trigger(c, f"{path}.subtriggers[{i}]") for i, c in enumerate(subconfigs)]
        self.policy_config = dict(config.get("policy") or {"id": "MajorityVote"})
        policy_id = self.policy_config.get("id")
        if policy_id not in ENSEMBLE_POLICIES:
            raise ValueError(f"{path}.policy.id: unknown policy {policy_id!r} (known: {', '.join(ENSEMBLE_POLICIES)})")
        if policy_id == "AtLeastN":
            n = self.policy_config.get("n")
            if not isinstance(n, int) or not 1 <= n <= len(self.subtriggers):
                raise ValueError(f"{path}.policy.n: must be an integer from 1 to {len(self.subtriggers)}")
        self.policy = ENSEMBLE_POLICIES[str(policy_id)]
        self.uses_model = any(t.uses_model for t in self.subtriggers)  # type: ignore[misc]
        self._fired = [False] * len(self.subtriggers)

    def bind(self, context: TriggerContext) -> None:
        super().bind(context)
        for trigger in self.subtriggers:
            trigger.bind(context)

    def inform_new_model(self, outcome: TrainingOutcome) -> None:
        for trigger in self.subtriggers:
            trigger.inform_new_model(outcome)

    def inform(self, keys: Sequence[int], timestamps: Sequence[int], labels: Sequence[int] | None = None) -> list[int]:
        self.last_fire_info = []
        events: list[tuple[int, int]] = []  # (index, sub-trigger)
        for number, trigger in enumerate(self.subtriggers):
            events += [(index, number) for index in fire_points(trigger, keys, timestamps, labels)]
        events.sort()
        indices: list[int] = []
        for position, (index, number) in enumerate(events):
            self._fired[number] = True
            at_last_event_of_index = position + 1 == len(events) or events[position + 1][0] != index
            if at_last_event_of_index and self.policy(self._fired, self.policy_config):
                indices.append(index)
                self.last_fire_info.append(
                    {"reason": "ensemble vote", "fired": [i for i, f in enumerate(self._fired) if f]}
                )
                self._fired = [False] * len(self.subtriggers)
        return indices
