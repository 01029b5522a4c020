"""Experiments: A/B and A/B/n tests (z-test, Welch, CUPED, SRM, corrections, power) and
difference-in-differences with an event-study pre-trend check.

>>> from analysis import experiments
>>> experiments.ab_test(units, variant="variant", metrics=["converted"])      # doctest: +SKIP
>>> experiments.diff_in_diff(panel, outcome="converted", treated="treated",
...                          post="post")                                     # doctest: +SKIP
"""

from analysis.experiments.abtest import ABResult, ab_test
from analysis.experiments.compare import (
    Effects,
    ab_effects,
    before_after_effects,
    did_effects,
    with_correction,
)
from analysis.experiments.did import DiDResult, customer_periods, diff_in_diff
from analysis.experiments.event_study import EventStudyResult, event_study
from analysis.experiments.kpis import (
    KPI,
    customer_kpis,
    feedback_kpis_per_customer,
    kpi_catalog,
    kpi_summary,
)

__all__ = [
    "KPI",
    "ABResult",
    "DiDResult",
    "Effects",
    "EventStudyResult",
    "ab_effects",
    "ab_test",
    "before_after_effects",
    "customer_kpis",
    "customer_periods",
    "did_effects",
    "diff_in_diff",
    "event_study",
    "feedback_kpis_per_customer",
    "kpi_catalog",
    "kpi_summary",
    "with_correction",
]
