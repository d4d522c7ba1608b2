"""`TriggerBalanced` presampling: equally many keys of every trigger in the window."""

from __future__ import annotations

from modyn.selector.strategies.presampling.abstract_presampling import AbstractBalancedPresampling


class TriggerBalancedPresampling(AbstractBalancedPresampling):
    """Keeps `ratio` percent of the window, balanced across the triggers the keys were informed in,
    so that a burst of data in one period does not crowd out the others (Modyn's trigger-balanced
    presampling; Böther et al., SIGMOD 2025)."""

    name = "TriggerBalanced"
    column = "trigger_id"
