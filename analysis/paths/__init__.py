"""Paths: Sankey links, top paths, transition and channel-switching matrices, comparisons.

>>> from analysis import paths
>>> paths.sankey_links(events, max_steps=5)          # doctest: +SKIP
"""

from analysis.paths.compare import TransitionComparison, compare_transitions, group_sizes
from analysis.paths.sankey import (
    Sankey,
    SankeySteps,
    fold_sankey,
    sankey,
    sankey_links,
    sankey_steps,
)
from analysis.paths.top import (
    PATH_SEPARATOR,
    PathCounts,
    TopPaths,
    common_paths,
    path_counts,
    paths_from_counts,
    top_paths,
)
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
    "PathCounts",
    "Sankey",
    "SankeySteps",
    "TopPaths",
    "TransitionComparison",
    "Transitions",
    "channel_switching",
    "common_paths",
    "compare_transitions",
    "fold_sankey",
    "group_sizes",
    "path_counts",
    "paths_from_counts",
    "sankey",
    "sankey_links",
    "sankey_steps",
    "top_paths",
    "transition_matrix",
    "transitions",
]
