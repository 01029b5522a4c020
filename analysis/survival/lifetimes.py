"""Customer lifetimes from an event log: when each customer started, when they churned or
were last observed, and whether the lifetime ended in churn (censoring respected).

The per-customer work runs as Narwhals expressions over the lazy frame, so it runs in the
engine that holds the events (DuckDB, Polars, PySpark); only one row per customer is
collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.definitions import present_touchpoints
from analysis.frames import canonical, materialize, require_columns, to_lazy
from analysis.schema import ParameterError, unknown_values_error

LIFETIME_COLUMNS = ["customer_id", "start", "end", "duration_days", "churned"]
_DAY_SECONDS = 86_400.0
_NAT = np.iinfo(np.int64).min  # NaT as int64


def customer_lifetimes(
    events: Any,
    *,
    churn_touchpoints: Sequence[str] | None = None,
    inactivity_days: float | None = None,
    as_of: Any = None,
) -> pd.DataFrame:
    """One lifetime per customer, ready for survival analysis.

    A customer churned when they had one of ``churn_touchpoints`` (the lifetime ends at its
    first occurrence) or, with ``inactivity_days``, when their last event came more than that
    many days before ``as_of`` (the lifetime ends at the last event). Both rules may be given;
    the first one to apply wins. Everyone else is censored at ``as_of``: still a customer as
    far as the data can tell. Events after ``as_of`` are ignored, as if the data ended there.

    A customers table with ready ``duration`` (days) and ``churned`` columns is accepted too
    (and no event log needed); its ``start``/``end`` are then missing (NaT).

    Parameters
    ----------
    events : pandas, Polars, DuckDB or PySpark frame
        Events in canonical columns (customer_id, timestamp, touchpoint), or a customers
        table with customer_id, duration and churned.
    churn_touchpoints : sequence of str, optional
        Touchpoints that mean the customer left (cancel, close account…).
    inactivity_days : float, optional
        Churn after more than this many days without an event before ``as_of``.
    as_of : date, datetime or str, optional
        The observation date; default the last event in the data.

    Returns
    -------
    pandas.DataFrame
        customer_id; start (first event); end (churn time, or ``as_of`` when censored);
        duration_days (end − start in days, fractional); churned (bool; False = censored).
        One row per customer with an event on or before ``as_of``, sorted by customer_id.

    Raises
    ------
    UnknownValueError
        A churn touchpoint the data does not have.
    ParameterError
        ``inactivity_days`` not positive, or ``as_of`` before the first event.
    """
    names = to_lazy(events).collect_schema().names()
    if "timestamp" not in names and {"duration", "churned"} <= set(names):
        return _from_customers(events)
    lf = _as_datetime_column(canonical(events, "events"))
    days = _check_days(inactivity_days)
    churn = _churn_list(churn_touchpoints)
    if as_of is None and _categories(lf, churn):  # nothing to check in a pass of its own
        return _to_last_event(lf, churn, days)
    first, last, found = _scan(lf, churn)
    if found is not None and not all(found):
        known = present_touchpoints(lf)
        raise unknown_values_error("churn touchpoint", [t for t in churn if t not in known],
                                   known)
    if first is None or pd.isna(first):
        return _empty()
    cutoff = _check_as_of(as_of, first, last)
    per_customer = _per_customer(lf, churn, cutoff)
    return _assign_ends(per_customer, days, cutoff)


def _check_days(inactivity_days: Any) -> float | None:
    if inactivity_days is None:
        return None
    ok = isinstance(inactivity_days, int | float | np.integer | np.floating)
    if isinstance(inactivity_days, bool) or not ok or not inactivity_days > 0:
        raise ParameterError(
            f"inactivity_days must be a positive number of days, not {inactivity_days!r}.",
            "Pass for example inactivity_days=90, or None to use churn touchpoints only.",
        )
    return float(inactivity_days)


def _check_touchpoints(lf: nw.LazyFrame, given: Sequence[str] | None) -> list[str]:
    """The churn touchpoints as a list; raise for one the data does not have."""
    churn = _churn_list(given)
    if churn:
        present = present_touchpoints(lf)
        unknown = [t for t in churn if t not in set(present)]
        if unknown:
            raise unknown_values_error("churn touchpoint", unknown, present)
    return churn


def _churn_list(given: Sequence[str] | None) -> list[str]:
    if given is None:
        return []
    return [given] if isinstance(given, str) else [str(t) for t in given]


def lifetimes_from_first(events: Any, start_at: Sequence[str], *,
                         churn_touchpoints: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`customer_lifetimes` of ``from_first(events, start_at)`` (every event when
    ``start_at`` is empty), computed from the starts alone when the events allow it
    (:func:`lifetimes_from_starts`): what the scorecard and the pain-point matrix need."""
    from analysis.survival.population import population, start_keys

    if not start_at:
        return customer_lifetimes(events, churn_touchpoints=churn_touchpoints)
    keyed, starts, columns = start_keys(events, start_at)
    starts = materialize(starts)  # read twice below when the shortcut does not apply
    quick = lifetimes_from_starts(keyed, starts, churn_touchpoints=churn_touchpoints)
    return quick if quick is not None else customer_lifetimes(
        population(keyed, starts, columns), churn_touchpoints=churn_touchpoints)


def lifetimes_from_starts(keyed: nw.LazyFrame, starts: nw.LazyFrame, *,
                          churn_touchpoints: Sequence[str] | None = None,
                          inactivity_days: float | None = None) -> pd.DataFrame | None:
    """:func:`customer_lifetimes` of :func:`~analysis.survival.population.population`
    (as_of: the last event) without reading the population: each customer's start and last
    event time come with ``starts`` (see ``start_keys``); only churn events are read. None
    when the starts have no last time, the touchpoints are no ENUM or the times no datetimes
    (then compute from the population)."""
    from analysis.survival.population import START_KEY

    schema = keyed.collect_schema()
    if "_last" not in starts.collect_schema().names() or not isinstance(
            schema["timestamp"], nw.Datetime):
        return None
    days = _check_days(inactivity_days)
    churn = _churn_list(churn_touchpoints)
    if not _categories(keyed, churn):
        return None
    # Null ids and start times join no event, so they start no lifetime.
    firsts = starts.filter(~nw.col("customer_id").is_null()
                           & ~nw.col("_lifetime_start").is_null())
    churned = (keyed.filter(nw.col("touchpoint").cast(nw.String).is_in(churn or [""])
                            & ~nw.col("timestamp").is_null())
               .join(firsts.select("customer_id", "_start"), on="customer_id", how="inner")
               .filter(nw.col(START_KEY) >= nw.col("_start"))
               .group_by("customer_id").agg(nw.col("timestamp").min().alias("churn_at"))
               .select(nw.col("customer_id").cast(nw.String), "churn_at"))
    per = (firsts.select(nw.col("customer_id").cast(nw.String),
                         nw.col("_lifetime_start").alias("start"), nw.col("_last").alias("last"))
           .join(churned, on="customer_id", how="left")
           .sort("customer_id", nulls_last=True))
    if per.implementation is nw.Implementation.DUCKDB:
        per = per.collect(backend="pandas").to_native()
    else:
        per = per.collect().to_pandas()
    if per.empty:
        return _empty()
    return _assign_ends(per, days, _utc_naive(per["last"].max()))


def _categories(lf: nw.LazyFrame, churn: list[str]) -> bool:
    """Whether the touchpoint column is an ENUM, whose categories are the dataset's
    touchpoints; raise for a churn touchpoint not among them."""
    categories = getattr(lf.collect_schema()["touchpoint"], "categories", None)
    if churn and categories:
        known = set(map(str, categories))
        unknown = [t for t in churn if t not in known]
        if unknown:
            raise unknown_values_error("churn touchpoint", unknown, sorted(known))
    return bool(categories)


def _to_last_event(lf: nw.LazyFrame, churn: list[str], days: float | None) -> pd.DataFrame:
    """The lifetimes up to the last event in one pass: the first and last events of the data
    are the extremes of the customers' own (no :func:`_scan` first)."""
    per_customer = _per_customer(lf, churn, None)
    first = _utc_naive(per_customer["start"].min()) if len(per_customer) else None
    if first is None:
        return _empty()
    return _assign_ends(per_customer, days, _utc_naive(per_customer["last"].max()))


def _scan(lf: nw.LazyFrame, churn: list[str]) -> tuple[Any, Any, list[bool] | None]:
    """First and last event (UTC, tz-naive) and whether each churn touchpoint occurs, in one
    pass over the events. The check is free (``None``) for an ENUM touchpoint column, whose
    categories are the dataset's touchpoints."""
    checks = [] if _categories(lf, churn) else churn
    touchpoint = nw.col("touchpoint").cast(nw.String)
    row = lf.select(
        nw.col("timestamp").min().alias("first"),
        nw.col("timestamp").max().alias("last"),
        *[(touchpoint == t).any().alias(f"_found_{i}") for i, t in enumerate(checks)],
    ).collect().row(0)
    found = [bool(v) for v in row[2:]] if checks else None
    return _utc_naive(row[0]), _utc_naive(row[1]), found


def _utc_naive(value: Any) -> pd.Timestamp | None:
    """A scalar timestamp as a tz-naive UTC ``pd.Timestamp`` (Spark and TIMESTAMPTZ columns
    give aware ones), so it compares with the naive ``as_of`` and the naive results."""
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _as_datetime_column(lf: nw.LazyFrame) -> nw.LazyFrame:
    """Date-only timestamps become midnight datetimes, so arithmetic is the same for both."""
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        return lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    return lf


def _check_as_of(as_of: Any, first: pd.Timestamp, last: pd.Timestamp) -> pd.Timestamp:
    if as_of is None:
        return last
    dated = isinstance(as_of, str | date | datetime | np.datetime64)
    try:
        value = pd.Timestamp(as_of) if dated else None
    except ValueError:
        value = None
    if value is None or pd.isna(value):
        raise ParameterError(
            f"as_of must be a date, a datetime or an ISO date string, not {as_of!r}.",
            "Pass for example as_of='2024-06-30', or None for the last event in the data.",
        )
    if value.tzinfo is not None:
        value = value.tz_convert("UTC").tz_localize(None)
    if value < first:
        raise ParameterError(
            f"as_of {value} is before the first event ({first}); nobody was a customer yet.",
            f"Pass a date between {first.date()} and {last.date()}, or None.",
        )
    return value


def _per_customer(lf: nw.LazyFrame, churn: list[str],
                  cutoff: pd.Timestamp | None) -> pd.DataFrame:
    """customer_id, start, last, churn_at (first churn touchpoint or null), sorted by
    customer_id in the engine and collected; events after ``cutoff`` (or without a time,
    with no cutoff) are left out."""
    is_churn = nw.col("touchpoint").cast(nw.String).is_in(churn or [""])
    per = (
        lf.filter(~nw.col("timestamp").is_null() if cutoff is None
                  else nw.col("timestamp") <= _literal(lf, cutoff))
        .select(
            nw.col("customer_id").cast(nw.String),
            "timestamp",
            nw.when(is_churn).then(nw.col("timestamp")).alias("_churn_at"),
        )
        .group_by("customer_id")
        .agg(
            nw.col("timestamp").min().alias("start"),
            nw.col("timestamp").max().alias("last"),
            nw.col("_churn_at").min().alias("churn_at"),
        )
        .sort("customer_id", nulls_last=True)
    )
    if per.implementation is nw.Implementation.DUCKDB:
        return per.collect(backend="pandas").to_native()  # DuckDB's own, fastest conversion
    return per.collect().to_pandas()


def _literal(lf: nw.LazyFrame, stamp: pd.Timestamp) -> nw.Expr:
    """``stamp`` (naive UTC) as a literal comparable with the timestamp column: aware in UTC
    when the column is, so no engine reads it in its session time zone."""
    if getattr(lf.collect_schema()["timestamp"], "time_zone", None) is not None:
        return nw.lit(stamp.tz_localize("UTC").to_pydatetime())
    return nw.lit(stamp.to_pydatetime())


def _assign_ends(per: pd.DataFrame, days: float | None, cutoff: pd.Timestamp) -> pd.DataFrame:
    """End and churn flag per customer: churn touchpoint first, then inactivity, else
    censored at ``cutoff``. Plain numpy on microseconds since the epoch."""
    if per.empty:
        return _empty()
    start, last, churn_at = (_micros(per[c]) for c in ("start", "last", "churn_at"))
    cut = _micros(pd.Series([cutoff]))[0]
    by_touchpoint = churn_at != _NAT
    quiet = np.zeros(len(per), dtype=bool)
    if days is not None:
        quiet = last < cut - round(days * _DAY_SECONDS * 1e6)
    end = np.where(by_touchpoint, churn_at, np.where(quiet, last, cut))
    ids = per["customer_id"]
    # Engines give text ids sorted with nulls last: one look at the end finds a null.
    if not pd.api.types.is_object_dtype(ids) or pd.isna(ids.iloc[-1]):
        ids = ids.astype(str)
    return pd.DataFrame({
        "customer_id": ids.to_numpy(dtype=object),
        "start": start.view("datetime64[us]"),
        "end": end.view("datetime64[us]"),
        "duration_days": (end - start) / 1_000_000 / _DAY_SECONDS,
        "churned": by_touchpoint | quiet,
    })


def _naive(values: pd.Series) -> pd.Series:
    """Timestamps as tz-naive UTC ``datetime64[us]``."""
    out = pd.to_datetime(values)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[us]")


def _micros(values: pd.Series) -> np.ndarray:
    """Microseconds since the epoch (UTC) as int64; NaT becomes ``_NAT``."""
    if values.dtype.kind != "M":  # e.g. a column of nulls collected as objects
        values = pd.to_datetime(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[us]").view("int64")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": pd.Series(dtype=str),
        "start": pd.Series(dtype="datetime64[us]"),
        "end": pd.Series(dtype="datetime64[us]"),
        "duration_days": pd.Series(dtype=float),
        "churned": pd.Series(dtype=bool),
    })


def _from_customers(customers: Any) -> pd.DataFrame:
    """Lifetimes from a customers table with ready ``duration`` (days) and ``churned``."""
    lf = to_lazy(customers)
    require_columns(lf, ("customer_id", "duration", "churned"), "A customers table")
    raw = lf.select("customer_id", "duration", "churned").collect().to_pandas()
    duration = pd.to_numeric(raw["duration"], errors="coerce")
    bad = duration.isna() | (duration < 0)
    if bad.any():
        raise ParameterError(
            f"{int(bad.sum())} customer(s) have a missing, non-numeric or negative duration "
            f"(for example customer {raw.loc[bad, 'customer_id'].iloc[0]!r}).",
            "Give every customer a duration in days ≥ 0, or drop those rows first.",
        )
    out = pd.DataFrame({
        "customer_id": raw["customer_id"].astype(str),
        "start": pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]"),
        "end": pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]"),
        "duration_days": duration.astype(float),
        "churned": _as_bool(raw["churned"]),
    })
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}


def _as_bool(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    text = values.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise ParameterError(
            f"The churned column holds {values[bad].iloc[0]!r}, which is not true/false.",
            "Use true/false, 1/0 or yes/no for churned.",
        )
    return text.isin(_TRUE)
