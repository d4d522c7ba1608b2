"""`LabelBalanced` presampling: equally many keys of every label."""

from __future__ import annotations

from modyn.selector.strategies.presampling.abstract_presampling import AbstractBalancedPresampling


class LabelBalancedPresampling(AbstractBalancedPresampling):
    """Keeps `ratio` percent of the window, balanced across labels (keys informed without a label
    form one group of their own): class-balanced sampling against class imbalance in a stream (cf.
    Chrysakis & Moens, "Online Continual Learning from Imbalanced Data", ICML 2020)."""

    name = "LabelBalanced"
    column = "label"
