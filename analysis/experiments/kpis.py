"""Per-customer KPIs: one row per customer, ready for A/B tests and difference-in-differences.

The counting happens in the engine (Narwhals over the lazy frame: DuckDB, Polars, PySpark or
pandas through DuckDB); only one row per customer reaches pandas and statsmodels. The same
score definitions (promoters 9–10, detractors 0–6, satisfied CSAT 4–5) are used by the Home
overview and feedback summary, through the constants in analysis.stats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical, seconds_between, to_lazy, to_pandas
from analysis.journeys import check_touchpoints
from analysis.schema import MissingColumnError, ParameterError, unknown_values_error
from analysis.stats import (
    DETRACTOR_MAX,
    PROMOTER_MIN,
    SATISFIED_MIN,
    Z95,
    check_period,
    nps_interval,
    period_key,
    period_start,
    wilson_interval,
)

DAY = 86_400.0


@dataclass(frozen=True)
class KPI:
    """How a KPI column of :func:`customer_kpis` reads.

    ``kind``: "rate" (0/1 per customer, shown as a percentage, differences in percentage
    points) or "mean" (a number per customer, averaged over the customers who have one).
    ``scale`` turns a stored value into its display unit (100 for rates); ``unit`` is the
    level's suffix, ``diff_unit`` the difference's.
    """

    key: str
    label: str
    kind: Literal["rate", "mean"]
    higher_is_better: bool
    scale: float
    unit: str
    diff_unit: str
    decimals: int
    source: Literal["events", "feedback"]
    description: str


def kpi_catalog(*, touchpoint: str | None = None, churn_days: int = 30) -> dict[str, KPI]:
    """Every KPI :func:`customer_kpis` can compute, by column name, with display labels."""
    reached = touchpoint or "the chosen touchpoint"
    return {k.key: k for k in (
        KPI("converted", "Conversion", "rate", True, 100, "%", " pp", 1, "events",
            "Share of customers with a conversion touchpoint."),
        KPI("revenue", "Revenue per customer", "mean", True, 1, "", "", 2, "events",
            "Sum of the revenue of a customer's events; customers without revenue count 0."),
        KPI("days_to_convert", "Time to convert", "mean", False, 1, " days", " days", 1,
            "events", "Days from a customer's first event to their first conversion "
            "(converted customers only)."),
        KPI("churned", f"Churn within {churn_days} days", "rate", False, 100, "%", " pp", 1,
            "events", f"Share of customers with a churn touchpoint within {churn_days} days of "
            f"their first event; customers observed for less than {churn_days} days who have "
            "not churned are left out (we cannot know yet)."),
        KPI("touched", f"Reached {reached}", "rate", True, 100, "%", " pp", 1, "events",
            f"Share of customers with at least one “{reached}” event."),
        KPI("nps", "NPS", "mean", True, 1, "", " pts", 1, "feedback",
            "Promoters (9–10) minus detractors (0–6), in points from −100 to 100; a customer "
            "counts as the mean of their answers (+100, 0 or −100 each)."),
        KPI("csat", "CSAT (mean score)", "mean", True, 1, " of 5", " pts", 2, "feedback",
            "Mean CSAT answer (1–5) of a customer, averaged over customers who answered."),
        KPI("csat_satisfied", "CSAT (share satisfied)", "mean", True, 100, "%", " pp", 1,
            "feedback", "Share of a customer's CSAT answers scoring 4 or 5, averaged over "
            "customers who answered (Home's CSAT)."),
        KPI("ces", "CES (ease, 1–7)", "mean", True, 1, " of 7", " pts", 2, "feedback",
            "Mean customer-effort answer over customers who answered, on the CES 2.0 scale: "
            "1–7 agreement that the company made it easy, so higher is easier."),
    )}


def customer_kpis(
    events: Any,
    feedback: Any = None,
    *,
    conversion: Sequence[str] = (),
    churn: Sequence[str] = (),
    churn_days: int = 30,
    touchpoint: str | None = None,
    attributes: Sequence[str] = (),
    period: str = "month",
    horizon_days: int | None = None,
) -> pd.DataFrame:
    """One row per customer with every KPI the inputs allow.

    Parameters
    ----------
    events : frame
        Canonical events (any supported engine), filters already applied.
    feedback : frame, optional
        Canonical feedback with ``customer_id``, ``score`` and ``scale``; answers of customers
        without events are left out (they are not in the population compared).
    conversion, churn : sequence of str
        Touchpoints that count as converting / churning. Without them the matching KPIs are
        not computed.
    churn_days : int
        Horizon of "churn within N days", counted from each customer's first event.
    touchpoint : str, optional
        A touchpoint whose reach is a KPI of its own (``touched``).
    attributes : sequence of str
        Event columns carried per customer (variant, region, segment…). A customer with more
        than one value gets None (e.g. exposed to both variants): tests leave them out and
        count them.
    period : {"month", "week"}
        Calendar period of ``first_seen`` written to ``period``.
    horizon_days : int, optional
        Count only each customer's first ``horizon_days`` days (from their first event) for
        conversion, time to convert, revenue and reach, so customers who started late are
        not compared with customers who had longer to act; customers first seen less than
        that before the data ends get NaN for these KPIs. Default: their whole journey.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``customer_id``: ``first_seen``, ``last_seen``, ``period`` (start of the
        period of the first event), the attributes, then the KPIs the inputs allow:
        ``converted`` (0/1), ``days_to_convert`` (first event → first conversion, NaN when not
        converted), ``revenue`` (sum; 0 without revenue), ``churned`` (0/1 within
        ``churn_days``; NaN when not churned and seen for less than ``churn_days`` before the
        data ends), ``touched`` (0/1), ``nps`` (mean of +100/0/−100 per answer), ``csat``,
        ``csat_satisfied`` (share of answers ≥ 4), ``ces`` (means; NaN without answers).
        With ``horizon_days``, converted, days_to_convert, revenue and touched are floats,
        NaN for customers not observed that long.
    """
    check_period(period)
    _check_days("churn_days", churn_days)
    if horizon_days is not None:
        _check_days("horizon_days", horizon_days)
    lf = canonical(events)
    schema = lf.collect_schema()
    names, text_ids = schema.names(), schema["customer_id"] == nw.String
    _check_attributes(names, attributes)
    conversion, churn = list(conversion), list(churn)
    named = [*conversion, *churn, *([touchpoint] if touchpoint else [])]
    if named:
        check_touchpoints(lf, list(dict.fromkeys(named)))
    if horizon_days:
        lf = lf.with_columns(nw.col("timestamp").min().over("customer_id").alias("_first"))
    table = _event_kpis(lf, names, conversion, churn, touchpoint, list(attributes), period,
                        horizon_days)
    table = _finish_events(table, conversion, churn, churn_days, list(attributes), period)
    if horizon_days:
        _censor(table, horizon_days)
    if feedback is not None:
        table = _with_feedback(table, feedback_kpis_per_customer(feedback))
    # The engine sorted the rows; text sorts there as in Python (by code point), other ids
    # (numbers made text here) do not.
    if text_ids or table["customer_id"].is_monotonic_increasing:
        return table  # already indexed 0…n−1: a reset would copy every column
    return table.sort_values("customer_id", ignore_index=True)


def _with_feedback(table: pd.DataFrame, per: pd.DataFrame) -> pd.DataFrame:
    """``table`` left-joined with the feedback KPIs on customer_id: a lookup of its ids in
    the (much smaller) feedback table, rather than a merge that hashes every customer."""
    if not per["customer_id"].is_unique:
        return table.merge(per, on="customer_id", how="left")
    found = per.set_index("customer_id").reindex(table["customer_id"].to_numpy())
    for col in found.columns:
        table[col] = found[col].to_numpy()
    return table


def _check_days(name: str, days: Any) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ParameterError(f"{name} must be a whole number of days ≥ 1, got {days!r}.",
                             f"Pass e.g. {name}=30.")


def _censor(table: pd.DataFrame, horizon_days: int) -> None:
    """NaN for the horizon KPIs of customers not observed for ``horizon_days`` yet."""
    unseen = (table["last_seen"].max() - table["first_seen"]) < timedelta(days=horizon_days)
    for col in ("converted", "days_to_convert", "revenue", "touched"):
        if col in table:
            table[col] = table[col].astype(float).where(~unseen)


def _check_attributes(names: list[str], attributes: Sequence[str]) -> None:
    missing = [a for a in attributes if a not in names]
    if missing:
        raise MissingColumnError(
            f"customer_kpis: no column {', '.join(map(repr, missing))} in the events.",
            f"Use attribute columns of the events: {', '.join(names)}.",
        )
    clash = [a for a in attributes if a in _RESERVED]
    if clash:
        raise ParameterError(f"Column {clash[0]!r} cannot be carried as an attribute: it is "
                             "a KPI or key column.", "Rename the column in the data.")


_RESERVED = ("customer_id", "first_seen", "last_seen", "period", "converted",
             "days_to_convert", "revenue", "churned", "touched", "nps", "csat",
             "csat_satisfied", "ces", "timestamp", "touchpoint")


def _event_kpis(lf: nw.LazyFrame, names: list[str], conversion: list[str], churn: list[str],
                touchpoint: str | None, attributes: list[str], period: str,
                horizon_days: int | None = None) -> pd.DataFrame:
    """The per-customer aggregation, in the engine."""
    tp = nw.col("touchpoint").cast(nw.String)
    ts = nw.col("timestamp")
    inside = (seconds_between(lf, "timestamp", "_first") <= horizon_days * DAY
              if horizon_days else nw.lit(value=True))
    marks = []
    aggs = [ts.min().alias("first_seen"), ts.max().alias("last_seen")]
    if conversion:
        marks.append(nw.when(tp.is_in(conversion) & inside).then(ts).alias("_conv_at"))
        aggs.append(nw.col("_conv_at").min().alias("_conv_at"))
    if churn:
        marks.append(nw.when(tp.is_in(churn)).then(ts).alias("_churn_at"))
        aggs.append(nw.col("_churn_at").min().alias("_churn_at"))
    if touchpoint:
        marks.append(((tp == touchpoint) & inside).cast(nw.Int8).alias("_touched"))
        aggs.append(nw.col("_touched").max().alias("touched"))
    if "revenue" in names and horizon_days:
        marks.append(nw.when(inside).then(nw.col("revenue").cast(nw.Float64)).alias("_rev"))
        aggs.append(nw.col("_rev").sum().alias("revenue"))
    elif "revenue" in names:
        aggs.append(nw.col("revenue").cast(nw.Float64).sum().alias("revenue"))
    for a in attributes:
        marks.append(nw.col(a).cast(nw.String).alias(f"_attr_{a}"))
        aggs += [nw.col(f"_attr_{a}").min().alias(f"_min_{a}"),
                 nw.col(f"_attr_{a}").max().alias(f"_max_{a}")]
    per = lf.with_columns(*marks) if marks else lf
    per = per.group_by("customer_id").agg(*aggs)
    extra = [period_key("first_seen", period, per).alias("period")]
    if conversion:
        extra.append((seconds_between(per, "_conv_at", "first_seen") / DAY)
                     .alias("days_to_convert"))
    if churn:
        extra.append((seconds_between(per, "_churn_at", "first_seen") / DAY)
                     .alias("_churn_days"))
    # The event times were only needed for the day counts: fewer columns to convert.
    raw = [c for c, used in (("_conv_at", conversion), ("_churn_at", churn)) if used]
    return to_pandas(per.with_columns(*extra).drop(*raw).sort("customer_id"))


def _finish_events(table: pd.DataFrame, conversion: list[str], churn: list[str],
                   churn_days: int, attributes: list[str], period: str) -> pd.DataFrame:
    """Flags and censoring in pandas, on one row per customer."""
    ids = table["customer_id"]
    period_col = (_naive(table["period"]) if period == "month"
                  else _naive(period_start(table["period"], period)))
    out = pd.DataFrame({
        "customer_id": ids if ids.dtype == object else ids.astype(str),
        "first_seen": _naive(table["first_seen"]), "last_seen": _naive(table["last_seen"]),
        "period": period_col}, copy=False)
    for a in attributes:
        low, high = table[f"_min_{a}"], table[f"_max_{a}"]
        out[a] = low.where(low == high).astype(object).where(lambda s: s.notna(), None)
    if conversion:
        out["converted"] = table["days_to_convert"].notna().astype(int)
        out["days_to_convert"] = table["days_to_convert"].astype(float)
    if "revenue" in table:
        out["revenue"] = table["revenue"].astype(float).fillna(0.0)
    if churn:
        out["churned"] = _churn_within(table, churn_days)
    if "touched" in table:
        out["touched"] = table["touched"].fillna(0).astype(int)
    return out


def _naive(times: pd.Series) -> pd.Series:
    """Times as tz-naive UTC (Spark returns them UTC-aware, the other engines naive)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return times.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(times):
        return times
    return pd.to_datetime(times, cache=False)


def _churn_within(table: pd.DataFrame, churn_days: int) -> pd.Series:
    """1 when the first churn event is within ``churn_days`` of the first event, 0 when it is
    not and the customer was observed that long, NaN when we cannot know yet."""
    data_end = table["last_seen"].max()
    days = table["_churn_days"].astype(float)
    churned = days.notna() & (days <= churn_days)
    observed = (data_end - table["first_seen"]) >= timedelta(days=churn_days)
    return pd.Series(np.where(churned, 1.0, np.where(observed, 0.0, np.nan)), index=table.index)


def feedback_kpis_per_customer(feedback: Any) -> pd.DataFrame:
    """Per customer: ``nps`` (mean of +100/0/−100), ``csat``, ``csat_satisfied``, ``ces``.

    Needs ``customer_id``, ``score`` and ``scale``; answers without a customer or a score are
    left out. A scale nobody answered gives an all-NaN column.
    """
    fb = to_lazy(feedback)
    names = fb.collect_schema().names()
    missing = [c for c in ("customer_id", "score", "scale") if c not in names]
    if missing:
        raise MissingColumnError(
            f"Feedback KPIs per customer need the column(s) {', '.join(missing)}.",
            "Map the feedback's customer id, score and scale columns when importing it.",
        )
    score, scale = nw.col("score").cast(nw.Float64), nw.col("scale").cast(nw.String)
    per = (
        fb.filter(~nw.col("customer_id").is_null() & ~nw.col("score").is_null())
        .with_columns(
            nw.when(scale == "nps").then(
                (score >= PROMOTER_MIN).cast(nw.Float64) * 100
                - (score <= DETRACTOR_MAX).cast(nw.Float64) * 100).alias("_nps"),
            nw.when(scale == "csat").then(score).alias("_csat"),
            nw.when(scale == "csat").then((score >= SATISFIED_MIN).cast(nw.Float64))
            .alias("_sat"),
            nw.when(scale == "ces").then(score).alias("_ces"),
        )
        .group_by("customer_id")
        .agg(nw.col("_nps").mean().alias("nps"), nw.col("_csat").mean().alias("csat"),
             nw.col("_sat").mean().alias("csat_satisfied"), nw.col("_ces").mean().alias("ces"))
        .collect()
        .to_pandas()
    )
    per["customer_id"] = per["customer_id"].astype(str)
    for col in ("nps", "csat", "csat_satisfied", "ces"):
        per[col] = per[col].astype(float)
    return per


def available_kpis(units: pd.DataFrame, catalog: dict[str, KPI]) -> list[str]:
    """The catalog's KPIs that ``units`` has a value for in at least one row."""
    return [k for k in catalog if k in units and units[k].notna().any()]


# --------------------------------------------------------------------------- summaries


def kpi_summary(units: pd.DataFrame, kpis: Sequence[str], *, by: Sequence[str] = (),
                catalog: dict[str, KPI] | None = None) -> pd.DataFrame:
    """Each KPI's value with a 95% interval, per group of ``by`` (in display units).

    Rates: Wilson interval. NPS: Rocks' adjusted-Wald multinomial interval when every
    customer gave one answer, otherwise (and for other means) mean ± 1.96 standard errors
    over customers (the multinomial variance of −100/0/+100 values).

    Returns
    -------
    pandas.DataFrame
        ``by`` columns, ``kpi``, ``units`` (customers with a value), ``value``, ``ci_low``,
        ``ci_high`` — value and interval multiplied by the KPI's ``scale``.
    """
    catalog = catalog or kpi_catalog()
    unknown = [k for k in kpis if k not in units]
    if unknown:
        raise unknown_values_error("KPI", unknown, [k for k in catalog if k in units])
    by = list(by)
    rows = []
    # Only the columns used: grouping copies each group's rows of every column it holds.
    units = units[list(dict.fromkeys([*by, *kpis]))]
    groups = units.groupby(by, dropna=True, observed=True, sort=True) if by else [((), units)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        for kpi in kpis:
            info = catalog.get(kpi)
            values = part[kpi].dropna().to_numpy(dtype=float)
            rows.append({**dict(zip(by, key, strict=True)), "kpi": kpi, "units": len(values),
                         **_estimate(values, info)})
    return pd.DataFrame(rows, columns=[*by, "kpi", "units", "value", "ci_low", "ci_high"])


def _estimate(values: np.ndarray, info: KPI | None) -> dict[str, float]:
    n = len(values)
    scale = info.scale if info else 1.0
    if n == 0:
        return {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    mean = float(values.mean())
    if info is not None and info.kind == "rate":
        low, high = wilson_interval([values.sum()], [n])
        return {"value": mean * scale, "ci_low": float(low[0]) * scale,
                "ci_high": float(high[0]) * scale}
    if info is not None and info.key == "nps" and np.isin(values, (-100.0, 0.0, 100.0)).all():
        low, high = nps_interval(float((values == 100).sum()), float((values == -100).sum()), n)
        return {"value": mean, "ci_low": low, "ci_high": high}
    half = Z95 * float(values.std(ddof=1)) / np.sqrt(n) if n > 1 else np.nan
    return {"value": mean * scale, "ci_low": (mean - half) * scale,
            "ci_high": (mean + half) * scale}


def split_at(units: pd.DataFrame, when: datetime) -> pd.Series:
    """True for customers whose first event is on or after ``when`` (after the change)."""
    return units["first_seen"] >= pd.Timestamp(when)
