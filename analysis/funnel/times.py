"""Each customer's progress through a funnel as a small table, computed once and aggregated
by the funnel, time to convert and the funnel over time alike (a view changing only how it
aggregates does not follow every customer through the steps again)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from analysis.frames import canonical
from analysis.funnel.core import Mode, Steps, check_funnel, step_sets
from analysis.funnel.walk import step_events, step_times_from_events


def step_times(
    events: Any,
    steps: Steps,
    *,
    window: timedelta | None = None,
    by: str | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> pd.DataFrame:
    """When each customer reached each step of a funnel.

    Parameters are those of :func:`analysis.funnel.funnel`.

    Returns
    -------
    DataFrame with one row per customer who did step 1: ``_group`` (their ``by`` value on
    their step-1 event, "(none)" when missing; "all" without ``by``) and ``_t0`` ..
    ``_t{k-1}``, the time of the event that counted for each step (NaT from the first step
    not reached). Customer ids are left out: the aggregates do not need them, and the table
    stays small enough to keep. Feed it to :func:`funnel_from_times`,
    :func:`time_to_convert_from_times` or :func:`funnel_over_time_from_times`. It is
    :func:`analysis.funnel.step_times_from_events` of :func:`analysis.funnel.step_events`:
    keep those to change the mode or window without reading the events again.

    Raises
    ------
    ParameterError
        An unknown step name, mode or window (see :func:`analysis.funnel.funnel`).
    """
    lf = canonical(events, "events")
    check_funnel(lf, step_sets(steps), window=window, by=by, mode=mode, step_col=step_col)
    table = step_events(lf, steps, by=by, step_col=step_col)
    return step_times_from_events(table, steps, window=window, mode=mode)
