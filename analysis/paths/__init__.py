"""Paths: Sankey links, top paths, transition and channel-switching matrices, comparisons.

>>> from analysis import paths
>>> paths.sankey_links(events, max_steps=5)          # doctest: +SKIP
"""

from analysis.paths.compare import TransitionComparison, compare_transitions, group_sizes
from analysis.paths.sankey import Sankey, sankey, sankey_links
from analysis.paths.top import PATH_SEPARATOR, TopPaths, common_paths, top_paths
from analysis.paths.transitions import (
    ChannelSwitching,
    Transitions,
    channel_switching,
    transition_matrix,
    transitions,
)

__all__ = [
    "PATH_SEPARATOR",
    "ChannelSwitching",
    "Sankey",
    "TopPaths",
    "TransitionComparison",
    "Transitions",
    "channel_switching",
    "common_paths",
    "compare_transitions",
    "group_sizes",
    "sankey",
    "sankey_links",
    "top_paths",
    "transition_matrix",
    "transitions",
]
