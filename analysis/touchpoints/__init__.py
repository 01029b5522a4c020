"""Touchpoints: which touchpoints make or break the journey (scorecard), conversion attribution
by heuristic, Markov and Shapley models, where converters finish (online or offline), and the
journey map drawn from data.

>>> from analysis import touchpoints
>>> touchpoints.attribution(events, conversion=["Purchase"], model="markov")  # doctest: +SKIP
>>> touchpoints.scorecard(events, feedback, conversion=["Purchase"])  # doctest: +SKIP
"""

from analysis.touchpoints.attribution import (
    BY,
    MODELS,
    NO_TOUCH,
    attribution,
    compare_models,
    markov_removal_credit,
)
from analysis.touchpoints.completion import (
    KINDS,
    Completion,
    default_channel_kinds,
    online_offline,
)
from analysis.touchpoints.journey_map import JourneyMap, journey_map
from analysis.touchpoints.scorecard import Scorecard, scorecard, touchpoint_scorecard

__all__ = [
    "BY", "KINDS", "MODELS", "NO_TOUCH", "Completion", "JourneyMap", "Scorecard", "attribution",
    "compare_models", "default_channel_kinds", "journey_map", "markov_removal_credit",
    "online_offline", "scorecard", "touchpoint_scorecard",
]
