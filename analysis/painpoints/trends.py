"""Sentiment of each touchpoint over time: the share of negative comments and the survey KPIs
(NPS, CSAT, CES) per week or month, so a fix shows up period by period.

Periods follow :func:`analysis.stats.period_key`: weeks start on Monday (counted from
:data:`analysis.stats.WEEK_ORIGIN`), months on their first day.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.schema import SCALE_RANGES, MissingColumnError, unknown_values_error
from analysis.stats import (
    DETRACTOR_MAX,
    PROMOTER_MIN,
    SATISFIED_MIN,
    WEEK_ORIGIN,
    check_period,
    nps_interval,
    period_start,
    wilson_interval,
)

#: The columns :func:`touchpoint_sentiment` returns, in order.
TREND_COLUMNS = ("touchpoint", "period_start", "comments", "rated", "negative",
                 "negative_share", "neg_ci_low", "neg_ci_high", "nps_responses", "promoters",
                 "detractors", "nps", "nps_ci_low", "nps_ci_high", "csat_responses",
                 "satisfied", "csat", "csat_ci_low", "csat_ci_high", "ces_responses", "ces")
_REQUIRED = ("touchpoint", "timestamp", "sentiment")
_COUNTS = ("comments", "rated", "negative", "nps_responses", "promoters", "detractors",
           "csat_responses", "satisfied", "ces_responses", "_ces_sum")


def touchpoint_sentiment(comments: pd.DataFrame, *, period: str = "week",
                         touchpoints: Sequence[str] | None = None) -> pd.DataFrame:
    """Negative share, NPS, CSAT and CES of each touchpoint per period.

    Parameters
    ----------
    comments : DataFrame
        ``PainPoints.comments``: one row per feedback comment with ``touchpoint``,
        ``timestamp`` and ``sentiment`` ("positive", "neutral", "negative" or "unknown"), and
        optionally ``score`` with its ``scale`` ("nps", "csat", "ces"; case and spaces
        ignored). It is not modified. Time-zone-aware timestamps are read in UTC.
    period : {"week", "month"}
        Weeks start on Monday, months on their first day.
    touchpoints : sequence of str, optional
        Keep only these touchpoints, in this order (default: every touchpoint, sorted).

    Returns
    -------
    DataFrame
        One row per touchpoint × period from the first to the last period of any comment
        (periods without comments included, with zero counts and NaN measures), sorted by
        touchpoint and period. Columns:

        - ``touchpoint``; ``period_start`` (the period's first day, midnight);
        - ``comments``: comments in the period;
        - ``rated``: those with a known sentiment (not "unknown"); ``negative``: those negative;
        - ``negative_share``: negative / rated, with its 95% Wilson interval ``neg_ci_low``,
          ``neg_ci_high`` (NaN when rated is 0);
        - ``nps_responses``: NPS scores within 0–10; ``promoters`` (9–10) and ``detractors``
          (0–6) among them; ``nps``: 100 × (promoters − detractors) / nps_responses, in points,
          with Rocks' adjusted-Wald interval ``nps_ci_low``, ``nps_ci_high``;
        - ``csat_responses``: CSAT scores within 1–5; ``satisfied``: those of 4 or more;
          ``csat``: satisfied / csat_responses with its Wilson interval ``csat_ci_low``,
          ``csat_ci_high``;
        - ``ces_responses``: CES scores within 1–7; ``ces``: their mean.

        A measure is NaN in a period without its answers. Scores outside their scale's range
        or without a scale count in no KPI (they still count as comments). Comments without
        a timestamp belong to no period and are not counted: with them, the periods of a
        touchpoint add up to fewer comments than it has.

    Raises
    ------
    MissingColumnError
        When ``touchpoint``, ``timestamp`` or ``sentiment`` is missing.
    UnknownValueError
        When ``touchpoints`` names a touchpoint no comment has.
    ParameterError
        When ``period`` is not "week" or "month".
    """
    check_period(period)
    missing = [c for c in _REQUIRED if c not in comments.columns]
    if missing:
        raise MissingColumnError(
            f"touchpoint_sentiment needs the column(s) {', '.join(missing)}.",
            "Pass pain_points(...).comments unchanged.")
    rows = _indicators(comments, period)
    names = _touchpoints(comments, touchpoints)
    rows = rows[rows["touchpoint"].isin(names)]
    if rows.empty:
        return _empty()
    counts = rows.groupby(["touchpoint", "period_start"])[list(_COUNTS)].sum()
    periods = _period_range(rows["period_start"], period)
    grid = pd.MultiIndex.from_product([names, periods], names=["touchpoint", "period_start"])
    counts = counts.reindex(grid, fill_value=0).reset_index()
    return _measures(counts)[list(TREND_COLUMNS)]


def _indicators(comments: pd.DataFrame, period: str) -> pd.DataFrame:
    """One row per comment with a timestamp: its touchpoint, period and 0/1 counts."""
    stamps = pd.to_datetime(comments["timestamp"])
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    sentiment = comments["sentiment"].astype("string")
    score = (pd.to_numeric(comments["score"], errors="coerce") if "score" in comments
             else pd.Series(np.nan, index=comments.index))
    scale = (comments["scale"].astype("string").str.strip().str.lower() if "scale" in comments
             else pd.Series(pd.NA, index=comments.index, dtype="string"))
    on = {name: (scale == name).fillna(False) & score.between(*SCALE_RANGES[name])
          for name in ("nps", "csat", "ces")}
    out = pd.DataFrame({
        "touchpoint": comments["touchpoint"].astype(str).to_numpy(),
        "period_start": _period_starts(stamps, period).to_numpy(),
        "comments": 1,
        "rated": (sentiment.notna() & (sentiment != "unknown")).fillna(False).astype(int),
        "negative": (sentiment == "negative").fillna(False).astype(int),
        "nps_responses": on["nps"].astype(int),
        "promoters": (on["nps"] & (score >= PROMOTER_MIN)).astype(int),
        "detractors": (on["nps"] & (score <= DETRACTOR_MAX)).astype(int),
        "csat_responses": on["csat"].astype(int),
        "satisfied": (on["csat"] & (score >= SATISFIED_MIN)).astype(int),
        "ces_responses": on["ces"].astype(int),
        "_ces_sum": score.where(on["ces"], 0.0),
    }, index=comments.index)
    return out[stamps.notna().to_numpy()]


def _period_starts(stamps: pd.Series, period: str) -> pd.Series:
    """The start of each timestamp's period, as :func:`analysis.stats.period_start` gives it
    for the keys of :func:`analysis.stats.period_key`."""
    if period == "month":
        keys = stamps.dt.normalize() - pd.to_timedelta(stamps.dt.day - 1, unit="D")
    else:
        keys = (stamps - pd.Timestamp(WEEK_ORIGIN)) // pd.Timedelta(days=7)
    return period_start(keys, period).astype("datetime64[ns]")


def _period_range(starts: pd.Series, period: str) -> pd.DatetimeIndex:
    first, last = starts.min(), starts.max()
    freq = "MS" if period == "month" else "7D"
    return pd.date_range(first, last, freq=freq)


def _touchpoints(comments: pd.DataFrame, touchpoints: Sequence[str] | None) -> list[str]:
    present = sorted(set(comments["touchpoint"].astype(str)))
    if touchpoints is None:
        return present
    wanted = [str(t) for t in dict.fromkeys(touchpoints)]
    unknown = [t for t in wanted if t not in present]
    if unknown:
        raise unknown_values_error("touchpoint", unknown, present)
    return wanted


def _measures(counts: pd.DataFrame) -> pd.DataFrame:
    """Shares, KPIs and intervals from the counts of each touchpoint × period."""
    out = counts.copy()
    for col in _COUNTS[:-1]:
        out[col] = out[col].astype("int64")
    out["negative_share"] = _share(out["negative"], out["rated"])
    out["neg_ci_low"], out["neg_ci_high"] = wilson_interval(out["negative"], out["rated"])
    n = out["nps_responses"]
    out["nps"] = 100 * _share(out["promoters"] - out["detractors"], n)
    intervals = [nps_interval(p, d, k) for p, d, k in
                 zip(out["promoters"], out["detractors"], n, strict=True)]
    out["nps_ci_low"] = [low for low, _ in intervals]
    out["nps_ci_high"] = [high for _, high in intervals]
    out["csat"] = _share(out["satisfied"], out["csat_responses"])
    out["csat_ci_low"], out["csat_ci_high"] = wilson_interval(out["satisfied"],
                                                              out["csat_responses"])
    out["ces"] = _share(out["_ces_sum"], out["ces_responses"])
    return out


def _share(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (part / whole.where(whole > 0)).astype(float)


def _empty() -> pd.DataFrame:
    def dtype(column: str) -> str:
        if column in ("touchpoint", "period_start"):
            return "object" if column == "touchpoint" else "datetime64[ns]"
        return "int64" if column in _COUNTS else "float64"

    return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in TREND_COLUMNS})
