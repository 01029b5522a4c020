"""Experiments: A/B and A/B/n tests (z-test, Welch, CUPED, SRM, corrections, power) and
difference-in-differences with an event-study pre-trend check.

>>> from analysis import experiments
>>> experiments.ab_test(units, variant="variant", metrics=["converted"])      # doctest: +SKIP
>>> experiments.diff_in_diff(panel, outcome="converted", treated="treated",
...                          post="post")                                     # doctest: +SKIP
"""

from analysis.experiments.abtest import ABResult, ab_test
from analysis.experiments.did import DiDResult, customer_periods, diff_in_diff
from analysis.experiments.event_study import EventStudyResult, event_study

__all__ = [
    "ABResult",
    "DiDResult",
    "EventStudyResult",
    "ab_test",
    "customer_periods",
    "diff_in_diff",
    "event_study",
]
