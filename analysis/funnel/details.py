"""Behind a funnel: time to convert, where drop-offs went, their feedback, the funnel over time.

All start from :func:`analysis.funnel.customer_steps` (one row per customer with the time of
each step), so the definitions match the funnel exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import as_int, canonical, materialize, seconds_between, to_lazy
from analysis.funnel.core import Mode, Steps, check_funnel, customer_steps, step_label, step_sets
from analysis.journeys import order_columns, ordered_window, uses_precomputed
from analysis.results import Status
from analysis.schema import ParameterError
from analysis.stats import Period, check_period, period_key, period_start, wilson_interval

LEFT = "(left: no later event)"
#: Upper bounds (seconds) and labels of the time-to-convert histogram.
TIME_BINS: tuple[tuple[float, str], ...] = (
    (60, "< 1 min"), (600, "1–10 min"), (3600, "10–60 min"), (6 * 3600, "1–6 h"),
    (86400, "6–24 h"), (3 * 86400, "1–3 days"), (7 * 86400, "3–7 days"),
    (28 * 86400, "1–4 weeks"), (float("inf"), "> 4 weeks"),
)


@dataclass(frozen=True)
class TimeToConvert:
    """How long each step takes. ``summary``: step_index, step, customers, p25_seconds,
    median_seconds, p75_seconds, p90_seconds (time from the previous step's event, for the
    customers who made the step; step 1 is left out). ``histogram``: step_index, step, bin
    (human label, in order), bin_order, customers."""

    summary: pd.DataFrame
    histogram: pd.DataFrame
    status: Status = "ok"
    message: str = ""


@dataclass(frozen=True)
class DropOff:
    """Where customers went who reached a step but not the next one.

    ``table``: next_touchpoint, customers, share (of ``dropped``). ``dropped``/``continued``:
    customers who stopped after the step / went on to the next.
    """

    table: pd.DataFrame
    dropped: int
    continued: int
    status: Status = "ok"
    message: str = ""


@dataclass(frozen=True)
class DropOffFeedback:
    """What drop-offs said after reaching the step, next to those who continued (``table``,
    see :func:`drop_off_feedback`)."""

    table: pd.DataFrame
    status: Status = "ok"
    message: str = ""


def _prepared(events: Any, steps: Steps, **options: Any) -> tuple[nw.LazyFrame, list]:
    """The canonical events and the step sets, with every parameter checked."""
    sets = step_sets(steps)
    lf = canonical(events, "events")
    check_funnel(lf, sets, by=None, **options)
    return lf, sets


def _gap(per: nw.LazyFrame, i: int) -> nw.Expr:
    return seconds_between(per, f"_t{i}", f"_t{i - 1}")


def time_to_convert(
    events: Any,
    steps: Steps,
    *,
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> TimeToConvert:
    """How long each step takes, for the customers who make it (see :class:`TimeToConvert`)."""
    lf, sets = _prepared(events, steps, window=window, mode=mode, step_col=step_col)
    # Read once for the summary and once per step for the histogram: computed once.
    per = materialize(customer_steps(lf, sets, window=window, mode=mode, step_col=step_col))
    return _time_to_convert(per, sets)


def time_to_convert_from_times(times: pd.DataFrame, steps: Steps) -> TimeToConvert:
    """:func:`time_to_convert` from :func:`analysis.funnel.step_times` computed with the
    same steps, window and mode (any ``by``: the groups are ignored)."""
    return _time_to_convert(to_lazy(times), step_sets(steps))


def _time_to_convert(per: nw.LazyFrame, sets: list[tuple[str, ...]]) -> TimeToConvert:
    aggs = []
    for i in range(1, len(sets)):
        hit = ~nw.col(f"_t{i}").is_null()
        aggs.append(hit.cast(nw.Int64).sum().alias(f"n{i}"))
        for q in (0.25, 0.5, 0.75, 0.9):
            aggs.append(nw.when(hit).then(_gap(per, i)).quantile(q, interpolation="linear")
                        .alias(f"q{i}_{int(q * 100)}"))
    row = per.select(*aggs).collect().to_pandas().iloc[0] if aggs else pd.Series(dtype=float)
    summary = pd.DataFrame(
        [
            {
                "step_index": i + 1, "step": step_label(sets[i]),
                "customers": int(row[f"n{i}"]) if pd.notna(row[f"n{i}"]) else 0,
                "p25_seconds": float(row[f"q{i}_25"]), "median_seconds": float(row[f"q{i}_50"]),
                "p75_seconds": float(row[f"q{i}_75"]), "p90_seconds": float(row[f"q{i}_90"]),
            }
            for i in range(1, len(sets))
        ],
        columns=["step_index", "step", "customers", "p25_seconds", "median_seconds",
                 "p75_seconds", "p90_seconds"],
    )
    bins = []
    for i in range(1, len(sets)):
        label: Any = nw.lit(len(TIME_BINS) - 1)
        for order, (upper, _) in reversed(list(enumerate(TIME_BINS[:-1]))):
            label = nw.when(_gap(per, i) < upper).then(nw.lit(order)).otherwise(label)
        counts = (
            per.filter(~nw.col(f"_t{i}").is_null())
            .select(label.alias("bin_order"))
            .group_by("bin_order").agg(nw.len().alias("customers"))
            .collect().to_pandas()
        )
        full = pd.DataFrame({"bin_order": range(len(TIME_BINS))}).merge(
            counts, on="bin_order", how="left").fillna({"customers": 0})
        full["step_index"] = i + 1
        full["step"] = step_label(sets[i])
        bins.append(full)
    histogram = pd.concat(bins, ignore_index=True) if bins else pd.DataFrame(
        columns=["step_index", "step", "bin", "bin_order", "customers"])
    if len(histogram):
        histogram["bin"] = [TIME_BINS[int(b)][1] for b in histogram["bin_order"]]
        histogram["customers"] = histogram["customers"].astype(int)
        histogram = histogram[["step_index", "step", "bin", "bin_order", "customers"]]
    reached = int(summary["customers"].sum())
    return TimeToConvert(summary, histogram, "ok" if reached else "empty",
                         "" if reached else "Nobody made a second step, so there is no time.")


def drop_off(
    events: Any,
    steps: Steps,
    step_index: int,
    *,
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
    limit: int = 15,
) -> DropOff:
    """Where customers went who reached step ``step_index`` but not the next one.

    "Where they went" is the touchpoint of their next event in journey order after the event
    that counted for the step (an event at the same instant, later in the file, counts).

    Returns
    -------
    DropOff
        ``table``: next_touchpoint ("(left: no later event)" when there is none), customers,
        share (of those who dropped off), most common first, at most ``limit`` rows.
    """
    lf, sets = _prepared(events, steps, window=window, mode=mode, step_col=step_col)
    k = _check_step_index(step_index, sets)
    # Read twice (the counts, the drop-offs' next events): computed once.
    per = materialize(customer_steps(lf, sets, window=window, mode=mode, step_col=step_col,
                                     full_positions=True))
    stopped = ~nw.col(f"_t{k}").is_null() & nw.col(f"_t{k + 1}").is_null()
    dropped = per.filter(stopped).select("customer_id", (nw.col(f"_f{k}") + 1).alias("_next"))
    counts = per.select(
        stopped.cast(nw.Int64).sum().alias("dropped"),
        (~nw.col(f"_t{k + 1}").is_null()).cast(nw.Int64).sum().alias("continued"),
    ).collect().to_pandas().iloc[0]
    order = order_columns(lf.collect_schema().names())
    events = lf.filter(~nw.col("touchpoint").is_null())
    touchpoint = nw.col("touchpoint").cast(nw.String).alias("next_touchpoint")
    if uses_precomputed(lf):
        numbered = events.select("customer_id", nw.col("_step").alias("_next"), touchpoint)
    else:
        numbered = ordered_window(
            events.select("customer_id", *order, touchpoint), order, step="_next",
        ).select("customer_id", "_next", "next_touchpoint")
    table = (
        dropped.join(numbered, on=["customer_id", "_next"], how="left")
        .with_columns(nw.col("next_touchpoint").fill_null(LEFT))
        .group_by("next_touchpoint").agg(nw.len().alias("customers"))
        .collect().to_pandas()
    )
    n_dropped, n_continued = as_int(counts["dropped"]), as_int(counts["continued"])
    table["customers"] = table["customers"].astype(int)
    table["share"] = table["customers"] / n_dropped if n_dropped else np.nan
    table = table.sort_values(["customers", "next_touchpoint"], ascending=[False, True])
    table = table.head(limit).reset_index(drop=True)
    status: Status = "ok" if n_dropped else ("empty" if not n_continued else "degenerate")
    message = "" if n_dropped else "Nobody stopped after this step."
    return DropOff(table, n_dropped, n_continued, status, message)


def _check_step_index(step_index: Any, sets: list) -> int:
    """The 0-based index of a valid 1-based drop-off step."""
    if (isinstance(step_index, bool) or not isinstance(step_index, int | np.integer)
            or not 1 <= step_index < len(sets)):
        raise ParameterError(
            f"step_index must be a whole number from 1 to {len(sets) - 1}, got {step_index!r}.",
            "Drop-off is measured between a step and the next one.",
        )
    return int(step_index) - 1


FEEDBACK_COLUMNS = [
    "topic", "dropped_mentions", "dropped_share", "continued_mentions", "continued_share",
    "dropped_mean_score", "continued_mean_score",
]


def drop_off_feedback(
    events: Any,
    feedback: Any,
    steps: Steps,
    step_index: int,
    *,
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> DropOffFeedback:
    """What customers who dropped off after ``step_index`` said, next to those who continued.

    Only feedback given at or after the moment the customer reached the step counts: what
    they said before it cannot explain why they stopped there. Feedback is grouped by its
    ``category`` when it has one, else by its touchpoint.

    Returns
    -------
    DropOffFeedback
        ``table``: topic, dropped_mentions, dropped_share (of the dropped customers' feedback),
        continued_mentions, continued_share, dropped_mean_score, continued_mean_score; most
        mentioned by drop-offs first. "degenerate" when feedback has no customer_id or no
        category or touchpoint to group by.
    """
    lf, sets = _prepared(events, steps, window=window, mode=mode, step_col=step_col)
    k = _check_step_index(step_index, sets)
    fb = canonical(feedback, "feedback")
    names = fb.collect_schema().names()
    topic_col = next((c for c in ("category", "touchpoint") if c in names), None)
    if "customer_id" not in names or topic_col is None:
        return DropOffFeedback(
            pd.DataFrame(columns=FEEDBACK_COLUMNS), "degenerate",
            "The feedback has no customer ids, so it cannot be matched to drop-offs."
            if "customer_id" not in names else "The feedback has no category or touchpoint.",
        )
    per = customer_steps(lf, sets, window=window, mode=mode, step_col=step_col)
    status = per.filter(~nw.col(f"_t{k}").is_null()).select(
        nw.col("customer_id").cast(nw.String), nw.col(f"_t{k}").alias("_reached"),
        nw.when(nw.col(f"_t{k + 1}").is_null()).then(nw.lit("dropped"))
        .otherwise(nw.lit("continued")).alias("_status"),
    ).collect().to_pandas()
    keep = ["customer_id", "timestamp", topic_col] + (["score"] if "score" in names else [])
    rows = fb.select(*keep).collect().to_pandas()
    rows["customer_id"] = rows["customer_id"].astype(str)
    rows = rows.merge(status, on="customer_id", how="inner")
    rows = rows[pd.to_datetime(rows["timestamp"]) >= pd.to_datetime(rows["_reached"])]
    rows["topic"] = rows[topic_col].astype("string").fillna("(none)")
    if "score" not in rows:
        rows["score"] = np.nan
    table = _feedback_table(rows)
    return DropOffFeedback(table, "ok" if len(table) else "empty",
                           "" if len(table) else "No feedback was given after this step.")


def _feedback_table(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=FEEDBACK_COLUMNS)
    out = rows.pivot_table(index="topic", columns="_status", values="customer_id",
                           aggfunc="count", fill_value=0)
    scores = rows.pivot_table(index="topic", columns="_status", values="score", aggfunc="mean")
    table = pd.DataFrame(index=out.index)
    for side in ("dropped", "continued"):
        mentions = out[side] if side in out else pd.Series(0, index=out.index)
        table[f"{side}_mentions"] = mentions.astype(int)
        total = mentions.sum()
        table[f"{side}_share"] = mentions / total if total else np.nan
        table[f"{side}_mean_score"] = scores.get(side, np.nan)
    table = table.reset_index().sort_values(["dropped_mentions", "topic"],
                                            ascending=[False, True])
    return table[FEEDBACK_COLUMNS].reset_index(drop=True)


def funnel_over_time(
    events: Any,
    steps: Steps,
    *,
    period: Period = "month",
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> pd.DataFrame:
    """Conversion by cohort: customers grouped by the week or month of their step-1 event.

    Returns
    -------
    DataFrame with period (start date; weeks start on Monday), step_index, step, customers,
    conversion_from_start (of the cohort's step-1 customers), ci_low, ci_high (95% Wilson).
    Recent cohorts have had less time to convert; use a window to compare like with like.
    """
    check_period(period)
    lf, sets = _prepared(events, steps, window=window, mode=mode, step_col=step_col)
    per = customer_steps(lf, sets, window=window, mode=mode, step_col=step_col)
    return _over_time(per, sets, period)


def funnel_over_time_from_times(times: pd.DataFrame, steps: Steps, *,
                                period: Period = "month") -> pd.DataFrame:
    """:func:`funnel_over_time` from :func:`analysis.funnel.step_times` computed with the
    same steps, window and mode (any ``by``: the groups are ignored)."""
    check_period(period)
    return _over_time(to_lazy(times), step_sets(steps), period)


def _over_time(per: nw.LazyFrame, sets: list[tuple[str, ...]], period: Period) -> pd.DataFrame:
    wide = (
        per.with_columns(period_key("_t0", period, per).alias("period"))
        .group_by("period")
        .agg(*[(~nw.col(f"_t{i}").is_null()).cast(nw.Int64).sum().alias(f"c{i}")
               for i in range(len(sets))])
        .collect().to_pandas()
    )
    if len(wide):
        wide["period"] = period_start(wide["period"], period)
    rows = []
    for record in wide.to_dict("records"):
        start = int(record["c0"])
        for i in range(len(sets)):
            rows.append({"period": pd.Timestamp(record["period"]), "step_index": i + 1,
                         "step": step_label(sets[i]), "customers": int(record[f"c{i}"]),
                         "_start": start})
    out = pd.DataFrame(rows, columns=["period", "step_index", "step", "customers", "_start"])
    out = out.sort_values(["period", "step_index"]).reset_index(drop=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["conversion_from_start"] = out["customers"] / out["_start"].replace(0, np.nan)
    out["ci_low"], out["ci_high"] = wilson_interval(out["customers"].to_numpy(),
                                                    out["_start"].to_numpy())
    return out.drop(columns="_start")
