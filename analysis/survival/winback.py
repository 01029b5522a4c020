"""Win-back: customers who churned and came back, how long they stayed away, where they
re-entered, what they did next and whether their second lifetime lasts longer.

Gaps between consecutive events come from one window over each customer's journey (the
ordering rule of :mod:`analysis.journeys`), computed in the engine that holds the events;
only one row per returning customer is collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import as_int, canonical, materialize, seconds_between
from analysis.journeys import MISSING_NODE, order_columns, ordered_window
from analysis.paths.sankey import check_max_steps, sankey_links
from analysis.results import Status
from analysis.schema import EVENT_SEQ, ParameterError
from analysis.survival.cohorts import observation_date
from analysis.survival.km import KMResult, kaplan_meier
from analysis.survival.lifetimes import (
    _as_datetime_column,
    _check_days,
    _check_touchpoints,
    _naive,
    customer_lifetimes,
)

FIRST_LIFETIME = "First lifetime"
AFTER_RETURN = "After return"
_DAY_SECONDS = 86_400.0
_STEP = "_step"


@dataclass(frozen=True)
class WinBackResult:
    """Customers who churned and came back (see :func:`win_back` for every column).

    ``returns``: one row per returning customer. ``entries``: where they came back.
    ``links``: their first steps after coming back, as Sankey links. ``survival``:
    Kaplan–Meier curves of "First lifetime" (everyone) against "After return" (returners'
    second lifetimes). ``churned``/``returned``: customers; ``return_share``: returned /
    churned; ``median_gap_days``: median time away.
    """

    returns: pd.DataFrame
    entries: pd.DataFrame
    links: pd.DataFrame
    survival: KMResult
    churned: int
    returned: int
    return_share: float
    median_gap_days: float
    as_of: pd.Timestamp | None
    status: Status = "ok"
    message: str = ""


def win_back(
    events: Any,
    *,
    inactivity_days: float,
    churn_touchpoints: Sequence[str] | None = None,
    as_of: Any = None,
    steps: int = 3,
) -> WinBackResult:
    """Customers who churned and came back, with their time away and second lifetime.

    A customer churns by inactivity at an event followed by more than ``inactivity_days``
    days without one (or, at the end of their journey, by more than that before ``as_of``),
    and comes back at the first event after the gap. With ``churn_touchpoints`` a churn
    touchpoint is a churn too, and the next event that is not itself a churn touchpoint is a
    return (a run such as "Cancel" then "Cancellation confirmed" is one churn, ending at its
    last event; the gap is measured from there). Only a customer's first churn-and-return is
    described. Events are in journey order (timestamp, then file order); events after
    ``as_of`` are ignored.

    Parameters
    ----------
    events : pandas, Polars, DuckDB or PySpark frame
        Events in canonical columns (customer_id, timestamp, touchpoint; channel optional).
    inactivity_days : float
        Days without an event after which a customer counts as churned.
    churn_touchpoints : sequence of str, optional
        Touchpoints that mean the customer left (cancel, close account…).
    as_of : date, datetime or str, optional
        The observation date; default the last event in the data.
    steps : int
        Number of steps (2 to 50) after the return shown in ``links``.

    Returns
    -------
    WinBackResult
        ``returns``, sorted by customer_id: customer_id; churned_at (the last event before
        the gap, or the churn touchpoint); returned_at (the first event after it); gap_days
        (returned_at − churned_at); reentry_touchpoint; reentry_channel (only when the
        events have a channel); first_duration_days (first event → churned_at);
        second_duration_days (returned_at → the next churn by the same rules, or ``as_of``
        when none); second_churned (bool; False = censored at ``as_of``).
        ``entries``: reentry_touchpoint (+ reentry_channel; missing shown as "(none)"),
        customers, share (of returned customers), median_gap_days; sorted by customers
        descending, then name. ``links``: step, source, target, customers, as
        :func:`analysis.paths.sankey_links` over the returners' events from the return on
        (step 1 is the re-entry event). ``survival``: :func:`kaplan_meier` by lifetime,
        groups "First lifetime" (every customer's :func:`customer_lifetimes` under the same
        rules; a gap in the middle of a journey does not end it there) and "After return";
        its ``logrank_p`` tests whether the two curves differ. ``churned``: customers who
        churned at least once by these rules; ``returned``; ``return_share`` (returned /
        churned, NaN when nobody churned); ``median_gap_days`` (NaN without returns).
        status "empty" without events or without returns, "degenerate" when nobody churned.

    Raises
    ------
    ParameterError
        ``inactivity_days`` not positive, ``steps`` out of range, or a bad ``as_of``.
    UnknownValueError
        A churn touchpoint the data does not have.
    """
    days = _check_days(inactivity_days)
    if days is None:
        raise ParameterError("win_back needs inactivity_days: how long a customer must be "
                             "away to count as gone.", "Pass for example inactivity_days=90.")
    steps = check_max_steps(steps)
    lf = canonical(events, "events")
    churn = _check_touchpoints(lf, churn_touchpoints)
    lifetimes = customer_lifetimes(lf, churn_touchpoints=churn, inactivity_days=days,
                                   as_of=as_of)
    has_channel = "channel" in lf.collect_schema().names()
    if lifetimes.empty:
        return _empty_result("No events to analyse: there are none on or before as_of.",
                             has_channel)
    cutoff = observation_date(lf, as_of)
    rows = _gaps(_as_datetime_column(lf), churn, days, cutoff)
    churned, returners = _returners(rows)
    returns = _returns(returners, rows, cutoff)
    links = _links(rows, returners, steps) if len(returns) else _no_links()
    return _result(returns, links, lifetimes, churned, cutoff)


def _gaps(lf: nw.LazyFrame, churn: list[str], days: float, cutoff: pd.Timestamp) -> nw.LazyFrame:
    """Every event up to ``cutoff`` with its step, the next event, and two flags:
    ``_churn_here`` (the customer churns at this event) and ``_return_next`` (the next
    event is a return)."""
    names = lf.collect_schema().names()
    keep = ["customer_id", *dict.fromkeys([*order_columns(names), "timestamp", "touchpoint"])]
    following = ["timestamp", "touchpoint", "_churn"]
    if "channel" in names:
        keep = list(dict.fromkeys([*keep, "channel"]))
        following.append("channel")
    is_churn = nw.col("touchpoint").cast(nw.String).is_in(churn or [""])
    lf = (lf.filter(nw.col("timestamp") <= nw.lit(cutoff.to_pydatetime()))
          .select(*keep, is_churn.fill_null(False).alias("_churn"))
          .with_columns(nw.col("customer_id").cast(nw.String)))
    lf = ordered_window(lf, order_columns(names), step=_STEP, following=following)
    gap = seconds_between(lf, "next_timestamp", "timestamp")
    has_next = ~nw.col("next_timestamp").is_null()
    long_gap = has_next & (gap > days * _DAY_SECONDS)
    quiet_end = ~has_next & (nw.col("timestamp")
                             < nw.lit((cutoff - pd.Timedelta(days=days)).to_pydatetime()))
    after_churn = has_next & nw.col("_churn") & ~nw.col("next__churn")
    return materialize(lf.with_columns(
        (nw.col("_churn") | long_gap | quiet_end).alias("_churn_here"),
        (long_gap | after_churn).alias("_return_next"),
    ))


def _returners(rows: nw.LazyFrame) -> tuple[int, nw.LazyFrame]:
    """How many customers churned at least once, and the returners: customer_id, start and
    ``_ret`` (the step of the event before their first return)."""
    per = rows.group_by("customer_id").agg(
        nw.col("timestamp").min().alias("start"),
        nw.col("_churn_here").cast(nw.Int64).max().alias("_churned"),
        nw.when(nw.col("_return_next")).then(nw.col(_STEP)).min().alias("_ret"),
    )
    per = materialize(per)
    churned = per.select(nw.col("_churned").sum()).collect().item()
    return as_int(churned), per.filter(~nw.col("_ret").is_null()).drop("_churned")


def _returns(returners: nw.LazyFrame, rows: nw.LazyFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """One row per returner, collected."""
    names = rows.collect_schema().names()
    at_churn = nw.col(_STEP) == nw.col("_ret")
    next_churn = (nw.col(_STEP) > nw.col("_ret")) & nw.col("_churn_here")

    def at_return(column: str, alias: str) -> nw.Expr:
        # One row per customer has step == _ret, so min() just picks its value.
        return nw.when(at_churn).then(nw.col(column)).min().alias(alias)

    raw = (
        rows.join(returners, on="customer_id", how="inner")
        .with_columns(nw.col("next_touchpoint").cast(nw.String),
                      *([nw.col("next_channel").cast(nw.String)]
                        if "next_channel" in names else []))
        .group_by("customer_id")
        .agg(nw.col("start").min(),
             at_return("timestamp", "churned_at"),
             at_return("next_timestamp", "returned_at"),
             at_return("next_touchpoint", "reentry_touchpoint"),
             *([at_return("next_channel", "reentry_channel")] if "next_channel" in names else []),
             nw.when(next_churn).then(nw.col("timestamp")).min().alias("second_end"))
        .collect()
        .to_pandas()
    )
    start, churned_at = _naive(raw["start"]), _naive(raw["churned_at"])
    returned_at, second_end = _naive(raw["returned_at"]), _naive(raw["second_end"])
    out = pd.DataFrame({
        "customer_id": raw["customer_id"].astype(str),
        "churned_at": churned_at,
        "returned_at": returned_at,
        "gap_days": _days(returned_at - churned_at),
        "reentry_touchpoint": raw["reentry_touchpoint"].astype(object),
    })
    if "reentry_channel" in raw:
        out["reentry_channel"] = raw["reentry_channel"].astype(object)
    out["first_duration_days"] = _days(churned_at - start)
    out["second_duration_days"] = _days(second_end.fillna(cutoff) - returned_at)
    out["second_churned"] = second_end.notna().astype(bool)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _days(delta: pd.Series) -> pd.Series:
    return (delta.dt.total_seconds() / _DAY_SECONDS).astype(float)


def _links(rows: nw.LazyFrame, returners: nw.LazyFrame, steps: int) -> pd.DataFrame:
    """Sankey links of the returners' events from the re-entry event on."""
    names = rows.collect_schema().names()
    original = [c for c in ("customer_id", "timestamp", "touchpoint", "channel", EVENT_SEQ)
                if c in names]
    after = (rows.join(returners.select("customer_id", "_ret"), on="customer_id", how="inner")
             .filter(nw.col(_STEP) > nw.col("_ret")).select(*original))
    return sankey_links(after, max_steps=steps)


def _entries(returns: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("reentry_touchpoint", "reentry_channel") if c in returns]
    named = returns.assign(**{k: returns[k].fillna(MISSING_NODE).astype(str) for k in keys})
    out = (named.groupby(keys, as_index=False)
           .agg(customers=("customer_id", "size"), median_gap_days=("gap_days", "median")))
    out["share"] = out["customers"] / len(returns) if len(returns) else np.nan
    out = out.sort_values(["customers", *keys], ascending=[False, *[True] * len(keys)])
    out = out.astype({"customers": "int64", "median_gap_days": float, "share": float})
    return out[[*keys, "customers", "share", "median_gap_days"]].reset_index(drop=True)


def _survival(lifetimes: pd.DataFrame, returns: pd.DataFrame) -> KMResult:
    first = lifetimes[["duration_days", "churned"]].assign(lifetime=FIRST_LIFETIME)
    second = pd.DataFrame({"duration_days": returns["second_duration_days"],
                           "churned": returns["second_churned"], "lifetime": AFTER_RETURN})
    both = pd.concat([first, second], ignore_index=True).astype({"churned": bool})
    return kaplan_meier(both, by="lifetime")


def _result(returns: pd.DataFrame, links: pd.DataFrame, lifetimes: pd.DataFrame, churned: int,
            cutoff: pd.Timestamp) -> WinBackResult:
    returned = len(returns)
    share = returned / churned if churned else np.nan
    median_gap = float(returns["gap_days"].median()) if returned else np.nan
    status: Status = "ok"
    message = ""
    if churned == 0:
        status, message = "degenerate", (
            "No customer churned by these rules, so nobody could come back. Lower "
            "inactivity_days, add churn touchpoints or move as_of later.")
    elif returned == 0:
        status, message = "empty", "No customer came back after churning."
    return WinBackResult(returns, _entries(returns), links, _survival(lifetimes, returns),
                         churned, returned, share, median_gap, cutoff, status, message)


def _no_links() -> pd.DataFrame:
    return pd.DataFrame({"step": pd.Series(dtype="int64"), "source": pd.Series(dtype=str),
                         "target": pd.Series(dtype=str), "customers": pd.Series(dtype="int64")})


def _empty_result(message: str, has_channel: bool) -> WinBackResult:
    returns = pd.DataFrame({
        "customer_id": pd.Series(dtype=str),
        "churned_at": pd.Series(dtype="datetime64[us]"),
        "returned_at": pd.Series(dtype="datetime64[us]"),
        "gap_days": pd.Series(dtype=float),
        "reentry_touchpoint": pd.Series(dtype=object),
        "first_duration_days": pd.Series(dtype=float),
        "second_duration_days": pd.Series(dtype=float),
        "second_churned": pd.Series(dtype=bool),
    })
    if has_channel:
        returns.insert(5, "reentry_channel", pd.Series(dtype=object))
    survival = kaplan_meier(pd.DataFrame({"duration_days": [], "churned": [], "lifetime": []}),
                            by="lifetime")
    return WinBackResult(returns, _entries(returns), _no_links(), survival, 0, 0, np.nan, np.nan,
                         None, "empty", message)
