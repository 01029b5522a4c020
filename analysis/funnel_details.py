"""Behind a funnel: time to convert, where drop-offs went, their feedback, the funnel over time.

All start from :func:`analysis.funnel.customer_steps` (one row per customer with the time of
each step), so the definitions match the funnel exactly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical, to_lazy
from analysis.funnel import Mode, Steps, customer_steps, step_label, step_sets
from analysis.schema import AnalysisError

LEFT = "(left: no later event)"
#: Upper bounds (seconds) and labels of the time-to-convert histogram.
TIME_BINS: tuple[tuple[float, str], ...] = (
    (60, "< 1 min"), (600, "1–10 min"), (3600, "10–60 min"), (6 * 3600, "1–6 h"),
    (86400, "6–24 h"), (3 * 86400, "1–3 days"), (7 * 86400, "3–7 days"),
    (28 * 86400, "1–4 weeks"), (float("inf"), "> 4 weeks"),
)


def _gap(i: int) -> nw.Expr:
    return (nw.col(f"_t{i}") - nw.col(f"_t{i - 1}")).dt.total_microseconds() / 1_000_000


def time_to_convert(
    events: Any,
    steps: Steps,
    *,
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How long each step takes, for the customers who make it.

    Returns
    -------
    (summary, histogram). summary: step_index, step, customers, p25_seconds,
    median_seconds, p75_seconds, p90_seconds (time from the previous step's event; step 1 is
    left out). histogram: step_index, step, bin (human label, in order), bin_order,
    customers.
    """
    sets = step_sets(steps)
    per = customer_steps(events, sets, window=window, mode=mode, step_col=step_col)
    aggs = []
    for i in range(1, len(sets)):
        hit = ~nw.col(f"_t{i}").is_null()
        aggs.append(hit.cast(nw.Int64).sum().alias(f"n{i}"))
        for q in (0.25, 0.5, 0.75, 0.9):
            aggs.append(nw.when(hit).then(_gap(i)).quantile(q, interpolation="linear")
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
            label = nw.when(_gap(i) < upper).then(nw.lit(order)).otherwise(label)
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
    return summary, histogram


def drop_off(
    events: Any,
    steps: Steps,
    step_index: int,
    *,
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
    limit: int = 15,
) -> pd.DataFrame:
    """Where customers went who reached step ``step_index`` but not the next one.

    Returns
    -------
    DataFrame with next_touchpoint (the touchpoint of their first event after the step-k
    event; "(left: no later event)" when there is none), customers, share (of those who
    dropped off), most common first. ``df.attrs``: dropped, continued (customer counts).
    """
    sets = step_sets(steps)
    if not 1 <= step_index < len(sets):
        raise AnalysisError(
            f"step_index must be between 1 and {len(sets) - 1}, got {step_index}.",
            "Drop-off is measured between a step and the next one.",
        )
    lf = canonical(events, "events")
    per = customer_steps(lf, sets, window=window, mode=mode, step_col=step_col)
    k = step_index - 1
    dropped = per.filter(~nw.col(f"_t{k}").is_null() & nw.col(f"_t{k + 1}").is_null()).select(
        "customer_id", nw.col(f"_t{k}").alias("_at")
    )
    counts = per.select(
        (~nw.col(f"_t{k}").is_null() & nw.col(f"_t{k + 1}").is_null()).cast(nw.Int64).sum()
        .alias("dropped"),
        (~nw.col(f"_t{k + 1}").is_null()).cast(nw.Int64).sum().alias("continued"),
    ).collect().to_pandas().iloc[0]
    later = lf.select("customer_id", "timestamp", nw.col("touchpoint").cast(nw.String)).join(
        dropped, on="customer_id", how="inner").filter(nw.col("timestamp") > nw.col("_at"))
    first_later = later.group_by("customer_id").agg(nw.col("timestamp").min().alias("_next"))
    nxt = (
        later.join(first_later, on="customer_id", how="inner")
        .filter(nw.col("timestamp") == nw.col("_next"))
        .group_by("customer_id").agg(nw.col("touchpoint").min().alias("next_touchpoint"))
    )
    table = (
        dropped.join(nxt, on="customer_id", how="left")
        .with_columns(nw.col("next_touchpoint").fill_null(LEFT))
        .group_by("next_touchpoint").agg(nw.len().alias("customers"))
        .collect().to_pandas()
    )
    n_dropped = int(counts["dropped"] or 0)
    table["customers"] = table["customers"].astype(int)
    table["share"] = table["customers"] / n_dropped if n_dropped else np.nan
    table = table.sort_values(["customers", "next_touchpoint"], ascending=[False, True])
    table = table.head(limit).reset_index(drop=True)
    table.attrs["dropped"] = n_dropped
    table.attrs["continued"] = int(counts["continued"] or 0)
    return table


def drop_off_feedback(
    events: Any,
    feedback: Any,
    steps: Steps,
    step_index: int,
    *,
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> pd.DataFrame:
    """What customers who dropped off after ``step_index`` said, next to those who continued.

    Feedback is grouped by its ``category`` when it has one, else by its touchpoint.

    Returns
    -------
    DataFrame with topic, dropped_mentions, dropped_share (of the dropped customers'
    feedback), continued_mentions, continued_share, dropped_mean_score,
    continued_mean_score; most mentioned by drop-offs first. Empty when feedback has no
    customer_id.
    """
    sets = step_sets(steps)
    k = step_index - 1
    lf = canonical(events, "events")
    fb = to_lazy(feedback)
    names = fb.collect_schema().names()
    columns = ["topic", "dropped_mentions", "dropped_share", "continued_mentions",
               "continued_share", "dropped_mean_score", "continued_mean_score"]
    if "customer_id" not in names:
        return pd.DataFrame(columns=columns)
    per = customer_steps(lf, sets, window=window, mode=mode, step_col=step_col)
    status = per.filter(~nw.col(f"_t{k}").is_null()).select(
        "customer_id",
        nw.when(nw.col(f"_t{k + 1}").is_null()).then(nw.lit("dropped"))
        .otherwise(nw.lit("continued")).alias("_status"),
    ).collect().to_pandas()
    topic_col = "category" if "category" in names else "touchpoint" if "touchpoint" in names \
        else None
    if topic_col is None:
        return pd.DataFrame(columns=columns)
    keep = ["customer_id", topic_col] + (["score"] if "score" in names else [])
    rows = fb.select(*keep).collect().to_pandas()
    rows["customer_id"] = rows["customer_id"].astype(str)
    status["customer_id"] = status["customer_id"].astype(str)
    rows = rows.merge(status, on="customer_id", how="inner")
    rows["topic"] = rows[topic_col].astype("string").fillna("(none)")
    if "score" not in rows:
        rows["score"] = np.nan
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
    return table[columns].reset_index(drop=True)


def funnel_over_time(
    events: Any,
    steps: Steps,
    *,
    period: Literal["week", "month"] = "month",
    window: timedelta | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> pd.DataFrame:
    """Conversion by cohort: customers grouped by the week or month of their step-1 event.

    Returns
    -------
    DataFrame with period (start date), step_index, step, customers,
    conversion_from_start (of the cohort's step-1 customers), ci_low, ci_high (95% Wilson).
    Recent cohorts have had less time to convert; use a window to compare like with like.
    """
    from analysis.funnel import wilson_interval

    if period not in ("week", "month"):
        raise AnalysisError(f"Unknown period {period!r}.", "Use 'week' or 'month'.")
    sets = step_sets(steps)
    per = customer_steps(events, sets, window=window, mode=mode, step_col=step_col)
    if period == "month":
        key = nw.col("_t0").dt.truncate("1mo")
    else:
        seconds = (nw.col("_t0") - nw.lit(pd.Timestamp("1969-12-29").to_pydatetime()))
        key = seconds.dt.total_seconds() // (7 * 86400)
    wide = (
        per.with_columns(key.alias("period"))
        .group_by("period")
        .agg(*[(~nw.col(f"_t{i}").is_null()).cast(nw.Int64).sum().alias(f"c{i}")
               for i in range(len(sets))])
        .collect().to_pandas()
    )
    if period == "week" and len(wide):
        wide["period"] = pd.Timestamp("1969-12-29") + pd.to_timedelta(wide["period"] * 7,
                                                                      unit="D")
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
