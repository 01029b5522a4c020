"""Cohort retention: customers grouped by the month they started, followed month by month.

The familiar retention triangle counts a customer as active until they churn, whether or not
they could have been observed that long (censoring-blind); beside it sits the Kaplan–Meier
survival of the same cohort at the same offset, which respects censoring. The per-customer
work is :func:`customer_lifetimes` (lazy, in the engine holding the events); only the binning
of one row per customer runs in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical
from analysis.results import Status
from analysis.schema import ParameterError
from analysis.survival.km import product_limit, survival_at
from analysis.survival.lifetimes import _check_as_of, customer_lifetimes

#: Days in an average calendar month (365.25 / 12): a "month" after a customer's start.
MONTH_DAYS = 30.4375
COHORT_COLUMNS = ["cohort", "cohort_start", "months_since", "customers", "active",
                  "share_active", "not_observable", "km_survival"]


@dataclass(frozen=True)
class CohortResult:
    """The cohort retention table and the observation date it was computed at.

    ``table``: cohort, cohort_start, months_since, customers, active, share_active,
    not_observable, km_survival (see :func:`cohort_retention`). ``as_of``: the observation
    date (the last event when none was given; None without data).
    """

    table: pd.DataFrame
    as_of: pd.Timestamp | None
    status: Status = "ok"
    message: str = ""


def cohort_retention(
    events: Any,
    *,
    churn_touchpoints: Sequence[str] | None = None,
    inactivity_days: float | None = None,
    as_of: Any = None,
    max_months: int = 12,
) -> CohortResult:
    """Retention by monthly start cohort, censoring-blind and Kaplan–Meier side by side.

    Customers are grouped by the calendar month of their first event. A month after a
    customer's start is 30.4375 days (365.25 / 12), counted from the customer's own start, so
    month 1 of a customer who started on the 20th ends near the 20th of the next month. Churn
    follows :func:`customer_lifetimes` (same ``churn_touchpoints``, ``inactivity_days`` and
    ``as_of``): a customer has churned by offset ``t`` when their lifetime ended in churn at
    or before ``t`` (so a churn at the very start already counts at month 0).

    ``share_active`` is the familiar, censoring-blind view: a customer who has not churned
    counts as active at every offset, even one after ``as_of`` that nobody could see yet. It
    is NaN where the whole cohort is unobservable (the usual triangle), but it still mixes
    observed and unobserved customers in the cells along the triangle's edge.
    ``km_survival`` is the Kaplan–Meier estimate for the same cell: it treats customers not
    yet observable as censored rather than retained, so it is never above ``share_active``
    (Efron's redistribution to the right only moves censored customers' weight onto later
    churns). Use it for the edge cells and for comparing cohorts of different ages.

    Parameters
    ----------
    events : pandas, Polars, DuckDB or PySpark frame
        Events in canonical columns (customer_id, timestamp, touchpoint), filters applied.
    churn_touchpoints : sequence of str, optional
        Touchpoints that mean the customer left; see :func:`customer_lifetimes`.
    inactivity_days : float, optional
        Churn after more than this many days without an event before ``as_of``.
    as_of : date, datetime or str, optional
        The observation date; default the last event in the data.
    max_months : int
        The last offset reported: months_since runs 0, 1, …, ``max_months``.

    Returns
    -------
    CohortResult
        ``table`` in long form, one row per cohort × months_since, sorted by cohort_start
        then months_since: cohort ("2025-01"); cohort_start (midnight of the month's first
        day); months_since; customers (the cohort's size, the denominator of
        share_active); active (customers not churned by start + months_since months);
        share_active (active / customers; NaN when not_observable == customers);
        not_observable (customers whose start + months_since months is after ``as_of``);
        km_survival (Kaplan–Meier survival of the cohort at that offset; NaN past the
        cohort's longest observed lifetime unless the curve already reached 0).
        status "empty" without events, "degenerate" when no customer churned.

    Raises
    ------
    ParameterError
        ``max_months`` not a positive whole number; bad ``inactivity_days`` or ``as_of``.
    UnknownValueError
        A churn touchpoint the data does not have.
    MissingColumnError
        The events lack customer_id, timestamp or touchpoint.
    """
    months = _check_months(max_months)
    lf = canonical(events, "events")
    lifetimes = customer_lifetimes(lf, churn_touchpoints=churn_touchpoints,
                                   inactivity_days=inactivity_days, as_of=as_of)
    if lifetimes.empty:
        return CohortResult(_empty_table(), None, "empty",
                            "No customers to follow: there are no events on or before as_of.")
    cutoff = observation_date(lf, as_of)
    table = _table(lifetimes, cutoff, months)
    if not lifetimes["churned"].any():
        return CohortResult(table, cutoff, "degenerate", (
            "No customer churned, so every cohort stays at 100%. Check the churn definition "
            "(touchpoints, inactivity days, as-of date)."))
    return CohortResult(table, cutoff, "ok", "")


def observation_date(lf: nw.LazyFrame, as_of: Any) -> pd.Timestamp:
    """``as_of`` as customer_lifetimes reads it: the last event when None."""
    first, last = lf.select(
        nw.col("timestamp").min().alias("first"), nw.col("timestamp").max().alias("last")
    ).collect().row(0)
    return _check_as_of(as_of, pd.Timestamp(first), pd.Timestamp(last))


def _check_months(max_months: Any) -> int:
    if (isinstance(max_months, bool) or not isinstance(max_months, int | np.integer)
            or max_months < 1):
        raise ParameterError(
            f"max_months must be a positive whole number, not {max_months!r}.",
            "Pass for example max_months=12 for a year of monthly columns.",
        )
    return int(max_months)


def _table(lifetimes: pd.DataFrame, cutoff: pd.Timestamp, months: int) -> pd.DataFrame:
    """The long cohort table from one row per customer."""
    start = lifetimes["start"]
    period = start.dt.to_period("M")
    horizons = np.arange(months + 1) * MONTH_DAYS
    observable_days = ((cutoff - start).dt.total_seconds() / 86_400.0).to_numpy()
    duration = lifetimes["duration_days"].to_numpy()
    churned = lifetimes["churned"].to_numpy(bool)
    parts = []
    for label in sorted(period.unique()):
        rows = (period == label).to_numpy()
        n = int(rows.sum())
        churned_by = (churned[rows, None] & (duration[rows, None] <= horizons)).sum(axis=0)
        hidden = (observable_days[rows, None] < horizons).sum(axis=0)
        active = n - churned_by
        parts.append(pd.DataFrame({
            "cohort": label.strftime("%Y-%m"),
            "cohort_start": label.start_time,
            "months_since": np.arange(months + 1),
            "customers": n,
            "active": active,
            "share_active": np.where(hidden < n, active / n, np.nan),
            "not_observable": hidden,
            "km_survival": _km_at(duration[rows], churned[rows], horizons),
        }))
    table = pd.concat(parts, ignore_index=True)
    return table.astype({"months_since": "int64", "customers": "int64", "active": "int64",
                         "not_observable": "int64", "share_active": float,
                         "km_survival": float, "cohort_start": "datetime64[us]"})


def _km_at(duration: np.ndarray, churned: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """Kaplan–Meier survival of one cohort at each horizon (km.py's product limit)."""
    times, index = np.unique(duration, return_inverse=True)
    events = np.bincount(index, weights=churned.astype(float), minlength=len(times))
    removed = np.bincount(index, minlength=len(times)).astype(float)
    at_risk = removed[::-1].cumsum()[::-1]
    survival = product_limit(events, at_risk)[0]
    return np.array([survival_at(times, survival, h) for h in horizons])


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({
        "cohort": pd.Series(dtype=str),
        "cohort_start": pd.Series(dtype="datetime64[us]"),
        "months_since": pd.Series(dtype="int64"),
        "customers": pd.Series(dtype="int64"),
        "active": pd.Series(dtype="int64"),
        "share_active": pd.Series(dtype=float),
        "not_observable": pd.Series(dtype="int64"),
        "km_survival": pd.Series(dtype=float),
    })
