"""Each customer's progress through a funnel as a small table, computed once and aggregated
by the funnel, time to convert and the funnel over time alike (a view changing only how it
aggregates does not follow every customer through the steps again)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from analysis.frames import canonical, to_pandas
from analysis.funnel.core import Mode, Steps, check_funnel, customer_steps, step_sets


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
    :func:`time_to_convert_from_times` or :func:`funnel_over_time_from_times`.

    Raises
    ------
    ParameterError
        An unknown step name, mode or window (see :func:`analysis.funnel.funnel`).
    """
    sets = step_sets(steps)
    lf = canonical(events, "events")
    check_funnel(lf, sets, window=window, by=by, mode=mode, step_col=step_col)
    per = customer_steps(lf, sets, window=window, by=by, mode=mode, step_col=step_col)
    times = to_pandas(per.drop("customer_id"))
    # Few distinct groups over up to millions of rows: a category keeps the table small.
    return times.astype({"_group": "category"})
