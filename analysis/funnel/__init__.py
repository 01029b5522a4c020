"""Funnels: modes and windows, breakdowns, time to convert, drop-off, cohorts.

>>> from analysis import funnel
>>> funnel.funnel(events, ["Visit", "Cart", "Purchase"])          # doctest: +SKIP
"""

from analysis.funnel.core import MODES, Mode, Steps, customer_steps, step_label, step_sets
from analysis.funnel.defaults import MIN_SHARE, default_steps
from analysis.funnel.details import (
    LEFT,
    TIME_BINS,
    DropOff,
    DropOffFeedback,
    TimeToConvert,
    drop_off,
    drop_off_feedback,
    funnel_over_time,
    funnel_over_time_from_times,
    time_to_convert,
    time_to_convert_from_times,
)
from analysis.funnel.table import COLUMNS, MIN_GROUP, funnel, funnel_from_times
from analysis.funnel.times import step_times
from analysis.funnel.walk import step_events, step_times_from_events

__all__ = [
    "COLUMNS",
    "LEFT",
    "MIN_GROUP",
    "MIN_SHARE",
    "MODES",
    "TIME_BINS",
    "DropOff",
    "DropOffFeedback",
    "Mode",
    "Steps",
    "TimeToConvert",
    "customer_steps",
    "default_steps",
    "drop_off",
    "drop_off_feedback",
    "funnel",
    "funnel_from_times",
    "funnel_over_time",
    "funnel_over_time_from_times",
    "step_events",
    "step_label",
    "step_sets",
    "step_times",
    "step_times_from_events",
    "time_to_convert",
    "time_to_convert_from_times",
]
