"""What a feedback table holds (Home for a feedback table on its own): counts by category and
touchpoint, score distributions with NPS, CSAT and CES and their 95% intervals, volume over
time, a reproducible sample of comments. Each block is one aggregate in the engine; only
counts reach pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.frames import as_int, canonical
from analysis.results import OTHER, Estimate, Status
from analysis.schema import SCALE_RANGES, ParameterError, UnknownValueError, valid_values
from analysis.stats import (
    DETRACTOR_MAX,
    PROMOTER_MIN,
    SATISFIED_MIN,
    WEEK_ORIGIN,
    nps_interval,
    period_key,
    wilson_interval,
)

#: Label of feedback without a value in the column being counted.
MISSING = "(none)"
Period = Literal["auto", "day", "week"]
PERIODS: tuple[str, ...] = ("auto", "day", "week")
#: ``period="auto"`` counts per day when the feedback spans at most this long, else per week.
DAILY_SPAN = timedelta(days=42)
#: Canonical columns a feedback summary uses beyond the timestamp.
OPTIONAL = ("text", "score", "scale", "category", "touchpoint")
_SAMPLE_COLUMNS = ("timestamp", "touchpoint", "category", "score", "scale", "text")


@dataclass(frozen=True)
class FeedbackSummary:
    """A feedback table after filters, block by block.

    Attributes
    ----------
    feedback
        Rows (feedback items) after filters.
    first, last
        Earliest and latest timestamp (None without rows).
    texts
        Rows with a non-empty comment.
    categories
        category, feedback, share: the ``top_n`` most frequent categories, then "Other" (the
        rest summed) and "(none)" (rows without a category). ``share`` = feedback / all
        feedback rows. Empty when the table has no category column.
    n_categories
        Distinct categories (rows without one not counted).
    touchpoints, n_touchpoints
        The same for touchpoint.
    scores
        scale, score, responses, share: one row per score point of each scale present (NPS
        0–10, CSAT 1–5, CES 1–7; points nobody gave have 0 responses). ``share`` = responses /
        the scale's responses.
    nps
        % promoters (9–10) − % detractors (0–6), in points (−100 to +100), with the
        adjusted-Wald 95% interval of Rocks (2016); None without NPS answers.
    csat
        Share of CSAT answers scoring 4 or 5, with its Wilson 95% interval.
    ces
        Mean CES answer (1–7) with its Student-t 95% interval (NaN below two answers).
    unscaled_scores
        Scores without a scale: counted, not summarised.
    volume
        period_start, [category], feedback: feedback per day or week (``period``), zero
        where none; split by category (missing ones as "(none)") when there are at most
        ``split_max`` categories.
    period
        "day" or "week" (weeks start on Monday).
    missing
        Optional canonical columns the table does not have (text, score, scale, category,
        touchpoint).
    status, message
        "empty" when no row passes the filters, "degenerate" when no row has a score or a
        comment, else "ok" (message "").
    """

    feedback: int
    first: datetime | None
    last: datetime | None
    texts: int
    categories: pd.DataFrame
    n_categories: int
    touchpoints: pd.DataFrame
    n_touchpoints: int
    scores: pd.DataFrame
    nps: Estimate | None
    csat: Estimate | None
    ces: Estimate | None
    unscaled_scores: int
    volume: pd.DataFrame
    period: Literal["day", "week"]
    missing: tuple[str, ...]
    status: Status
    message: str


def feedback_summary(
    feedback: Any,
    *,
    top_n: int = 10,
    period: Period = "auto",
    split_max: int = 6,
) -> FeedbackSummary:
    """Summarise a feedback table (filters already applied).

    Parameters
    ----------
    feedback
        Feedback in canonical columns (pandas, Polars, DuckDB, PySpark or Narwhals).
    top_n
        Categories and touchpoints shown by name; the rest are summed as "Other" (a single
        leftover value is shown by name rather than as "Other").
    period
        "day", "week", or "auto": days when the feedback spans at most six weeks.
    split_max
        The volume is split by category when there are at most this many categories.
    """
    _check_int("top_n", top_n, 1)
    _check_int("split_max", split_max, 0)
    if period not in PERIODS:
        raise ParameterError(f"Unknown period {period!r}.", f"Use one of {', '.join(PERIODS)}.")
    lf = canonical(feedback, "feedback")
    names = lf.collect_schema().names()
    totals = _totals(lf, names)
    rows = totals["feedback"]
    categories, n_categories = _counts(lf, names, "category", rows, top_n)
    touchpoints, n_touchpoints = _counts(lf, names, "touchpoint", rows, top_n)
    scores, unscaled = _scores(lf, names)
    chosen = _period(period, totals["first"], totals["last"])
    split = "category" if 0 < n_categories <= split_max else None
    status, message = _status(rows, scores.empty and not unscaled, totals["texts"])
    return FeedbackSummary(
        **totals,
        categories=categories, n_categories=n_categories,
        touchpoints=touchpoints, n_touchpoints=n_touchpoints,
        scores=scores, nps=_nps(scores), csat=_csat(scores), ces=_ces(scores),
        unscaled_scores=unscaled,
        volume=_volume(lf, chosen, split, totals["first"], totals["last"]),
        period=chosen,
        missing=tuple(c for c in OPTIONAL if c not in names),
        status=status, message=message,
    )


def comment_sample(
    feedback: Any, *, n: int = 20, category: str | None = None, random_state: int = 0
) -> pd.DataFrame:
    """A reproducible random sample of ``n`` comments (fewer when there are fewer).

    Rows with a non-empty text are numbered in a fixed order (timestamp, text, then the other
    columns) and ``n`` positions drawn without replacement with ``random_state``: the same
    data and seed give the same comments on any engine. ``category`` keeps one category
    ("(none)": rows without a category).

    Returns
    -------
    DataFrame with the columns timestamp, touchpoint, category, score, scale, text that the
    table has, sorted by timestamp.
    """
    _check_int("n", n, 1)
    lf = canonical(feedback, "feedback")
    names = lf.collect_schema().names()
    shown = [c for c in _SAMPLE_COLUMNS if c in names]
    if "text" not in names:
        return pd.DataFrame(columns=shown)
    rows = lf.filter(~nw.col("text").is_null() & (nw.col("text").str.len_chars() > 0))
    if category is not None:
        rows = rows.filter(_category_is(rows, names, category))
    total = as_int(rows.select(nw.len()).collect().item())
    if total == 0:
        return pd.DataFrame(columns=shown)
    rng = np.random.default_rng(random_state)
    picked = np.sort(rng.choice(total, size=min(n, total), replace=False)).tolist()
    order = [c for c in ("timestamp", "text", "customer_id", *OPTIONAL) if c in names]
    return (
        rows.with_row_index("_row", order_by=list(dict.fromkeys(order)))
        .filter(nw.col("_row").is_in(picked))
        .select("_row", *shown)
        .collect()
        .to_pandas()
        .sort_values("_row")
        .drop(columns="_row")
        .reset_index(drop=True)
    )


# --------------------------------------------------------------------------- blocks


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ParameterError(f"{name} must be a whole number ≥ {low}, got {value!r}.",
                             f"Pass e.g. {name}={max(low, 10)}.")


def _category_is(rows: nw.LazyFrame, names: list[str], category: str) -> nw.Expr:
    if "category" not in names:
        raise ParameterError(
            "This feedback has no category column, so comments cannot be picked by category.",
            "Pass category=None.",
        )
    if category == MISSING:
        return nw.col("category").is_null()
    valid = (
        rows.select(nw.col("category").cast(nw.String)).unique().collect().to_pandas()
        ["category"].dropna().tolist()
    )
    if category not in valid:
        raise UnknownValueError(
            f"Unknown category {category!r}; the data has: {valid_values([*valid, MISSING])}.",
            f"Pass a category as it is written in the data, {MISSING!r} for feedback without "
            "one, or None for all.")
    return nw.col("category").cast(nw.String) == category


def _totals(lf: nw.LazyFrame, names: list[str]) -> dict[str, Any]:
    exprs = [
        nw.len().alias("feedback"),
        nw.col("timestamp").min().alias("first"),
        nw.col("timestamp").max().alias("last"),
    ]
    if "text" in names:
        has_text = ~nw.col("text").is_null() & (nw.col("text").str.len_chars() > 0)
        exprs.append(has_text.cast(nw.Int64).sum().alias("texts"))
    row = lf.select(*exprs).collect().to_pandas().iloc[0]
    return {"feedback": as_int(row["feedback"]), "first": _ts(row["first"]),
            "last": _ts(row["last"]), "texts": as_int(row["texts"]) if "texts" in row else 0}


def _counts(
    lf: nw.LazyFrame, names: list[str], column: str, total: int, top_n: int
) -> tuple[pd.DataFrame, int]:
    """Feedback per value of ``column``: the top ``top_n``, "Other", then "(none)"."""
    if column not in names or total == 0:
        return pd.DataFrame({column: pd.Series(dtype="string"), "feedback": pd.Series(
            dtype="int64"), "share": pd.Series(dtype="float64")}), 0
    counts = (lf.select(nw.col(column).cast(nw.String)).group_by(column)
              .agg(nw.len().alias("feedback")).collect().to_pandas())
    present = counts[counts[column].notna()].sort_values(
        ["feedback", column], ascending=[False, True]
    )
    keep = present if len(present) <= top_n + 1 else present.head(top_n)
    rows = [keep]
    folded = int(present["feedback"].sum() - keep["feedback"].sum())
    if folded:
        rows.append(pd.DataFrame({column: [OTHER], "feedback": [folded]}))
    missing = int(counts.loc[counts[column].isna(), "feedback"].sum())
    if missing:
        rows.append(pd.DataFrame({column: [MISSING], "feedback": [missing]}))
    out = pd.concat(rows, ignore_index=True)
    out[column] = out[column].astype("string")
    out["feedback"] = out["feedback"].astype("int64")
    out["share"] = out["feedback"] / total
    return out, len(present)


def _scores(lf: nw.LazyFrame, names: list[str]) -> tuple[pd.DataFrame, int]:
    """Responses per score point of each scale present, and the count of unscaled scores."""
    columns = {"scale": pd.Series(dtype="string"), "score": pd.Series(dtype="float64"),
               "responses": pd.Series(dtype="int64"), "share": pd.Series(dtype="float64")}
    if "score" not in names:
        return pd.DataFrame(columns), 0
    scored = lf.filter(~nw.col("score").is_null())
    if "scale" not in names:
        return pd.DataFrame(columns), as_int(scored.select(nw.len()).collect().item())
    counts = (
        scored.select(nw.col("scale").cast(nw.String), nw.col("score").cast(nw.Float64))
        .group_by("scale", "score")
        .agg(nw.len().alias("responses"))
        .collect()
        .to_pandas()
    )
    unscaled = int(counts.loc[counts["scale"].isna(), "responses"].sum())
    parts = []
    for scale, (low, high) in SCALE_RANGES.items():
        given = counts[counts["scale"] == scale].set_index("score")["responses"]
        if given.empty:
            continue
        points = np.union1d(np.arange(low, high + 1, dtype=float), given.index.to_numpy(float))
        part = given.reindex(points, fill_value=0).rename_axis("score").reset_index()
        part.insert(0, "scale", scale)
        part["share"] = part["responses"] / part["responses"].sum()
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns), unscaled
    out = pd.concat(parts, ignore_index=True)
    out["scale"] = out["scale"].astype("string")
    out["responses"] = out["responses"].astype("int64")
    return out, unscaled


def _scale(scores: pd.DataFrame, scale: str) -> tuple[np.ndarray, np.ndarray, int]:
    part = scores[scores["scale"] == scale]
    weights = part["responses"].to_numpy(dtype=float)
    return part["score"].to_numpy(dtype=float), weights, int(weights.sum())


def _nps(scores: pd.DataFrame) -> Estimate | None:
    points, weights, n = _scale(scores, "nps")
    if n == 0:
        return None
    promoters = weights[points >= PROMOTER_MIN].sum()
    detractors = weights[points <= DETRACTOR_MAX].sum()
    low, high = nps_interval(promoters, detractors, n)
    return Estimate(100 * (promoters - detractors) / n, low, high, n)


def _csat(scores: pd.DataFrame) -> Estimate | None:
    points, weights, n = _scale(scores, "csat")
    if n == 0:
        return None
    satisfied = weights[points >= SATISFIED_MIN].sum()
    (low,), (high,) = wilson_interval([satisfied], [n])
    return Estimate(satisfied / n, float(low), float(high), n)


def _ces(scores: pd.DataFrame) -> Estimate | None:
    points, weights, n = _scale(scores, "ces")
    if n == 0:
        return None
    mean = float((points * weights).sum() / n)
    if n < 2:
        return Estimate(mean, np.nan, np.nan, n)
    sd = float(np.sqrt((weights * (points - mean) ** 2).sum() / (n - 1)))
    half = float(sps.t.ppf(0.975, n - 1)) * sd / np.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def _period(period: str, first: datetime | None, last: datetime | None) -> Literal["day", "week"]:
    if period == "auto":
        return "day" if first is not None and last - first <= DAILY_SPAN else "week"
    return "day" if period == "day" else "week"


def _volume(
    lf: nw.LazyFrame, period: str, split: str | None, first: datetime | None,
    last: datetime | None,
) -> pd.DataFrame:
    """Feedback per day or week (and per category when ``split``), zero-filled."""
    keys = ["period_start"] + ([split] if split else [])
    if first is None or last is None:
        return pd.DataFrame({k: [] for k in keys} | {"feedback": pd.Series(dtype="int64")})
    step = 7 if period == "week" else 1
    # Days are counted like weeks (stats.period_key): whole periods since WEEK_ORIGIN.
    key = (period_key("timestamp", "week", lf) if step == 7
           else (nw.col("timestamp") - nw.lit(WEEK_ORIGIN)).dt.total_seconds() // 86_400)
    frame = lf.with_columns(key.alias("period_start"))
    if split:
        frame = frame.with_columns(nw.col(split).cast(nw.String).fill_null(MISSING))
    counts = frame.group_by(keys).agg(nw.len().alias("feedback")).collect().to_pandas()
    counts["period_start"] = pd.Timestamp(WEEK_ORIGIN) + pd.to_timedelta(
        counts["period_start"].astype(float) * step, unit="D")
    starts = pd.date_range(counts["period_start"].min(), counts["period_start"].max(),
                           freq=f"{step}D")
    index = (pd.MultiIndex.from_product([starts, sorted(counts[split].unique())], names=keys)
             if split else pd.Index(starts, name="period_start"))
    out = counts.set_index(keys)["feedback"].reindex(index, fill_value=0).reset_index()
    out["feedback"] = out["feedback"].astype("int64")
    return out


def _status(rows: int, no_scores: bool, texts: int) -> tuple[Status, str]:
    if rows == 0:
        return "empty", ("No feedback matches the filters: widen the date range or clear the "
                         "filters.")
    if no_scores and texts == 0:
        return "degenerate", ("No feedback left after the filters has a score or a comment: "
                              "only counts can be shown.")
    return "ok", ""


def _ts(value: Any) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
