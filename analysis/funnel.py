"""Ordered stage funnels with conversion windows, modes and breakdowns.

A funnel is anchored at each customer's first event matching step 1. Events are ordered by
timestamp, then touchpoint, then channel (see :mod:`analysis.sequences`), so two events at the
same instant still have a definite order.

Modes
-----
ordered (default)
    Step k counts when the customer has a step-k event *after* the event that counted for
    step k-1 (the earliest such event counts, which is never worse for later steps).
strict
    Step k must be the very next event after step k-1: no other event in between.
any_order
    Step k counts when the customer has done steps 1..k at all, in any order (each step's
    first event counts); times are measured from when the set was complete.

Events of the same step name at the same instant count once (they are one event twice).

``window`` (a timedelta) limits every counted event to at most ``window`` after the step-1
event (inclusive: an event exactly at the boundary counts); in any_order mode, the span of the
steps' first events. The heavy work is a chain of joins over the lazy frame, one per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats

from analysis.frames import canonical
from analysis.schema import AnalysisError
from analysis.sequences import order_columns

Mode = Literal["ordered", "strict", "any_order"]
MODES: tuple[str, ...] = ("ordered", "strict", "any_order")
Steps = Sequence[str | Sequence[str]]
MIN_GROUP = 30
_EPOCH = datetime(1970, 1, 1)

COLUMNS = [
    "step_index", "step", "customers", "conversion_from_start", "conversion_from_previous",
    "median_seconds_from_previous",
]


def step_sets(steps: Steps) -> list[tuple[str, ...]]:
    """Each step as a tuple of names (a string is a one-name step)."""
    if isinstance(steps, str) or not steps:
        raise AnalysisError(
            "A funnel needs a list of steps, e.g. ['Visit', 'Add to cart', 'Purchase'].",
            "An item may itself be a list: any of those names counts for the step.",
        )
    out = []
    for step in steps:
        names = (step,) if isinstance(step, str) else tuple(str(s) for s in step)
        if not names:
            raise AnalysisError("A funnel step is an empty list.", "Give each step a name.")
        out.append(names)
    return out


def step_label(names: tuple[str, ...]) -> str:
    return " | ".join(names)


def funnel(
    events: Any,
    steps: Steps,
    *,
    window: timedelta | None = None,
    by: str | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> pd.DataFrame:
    """Customers reaching each step of a funnel.

    Parameters
    ----------
    events
        Events in canonical columns (pandas, Polars, DuckDB or PySpark), filters applied.
    steps
        Step names matched against ``step_col``; an item may be a list (any of them counts).
    window
        Maximum time from the step-1 event to each later step's event, or None.
    by
        A column to break the funnel down by; a customer's group is its value on their
        step-1 event.
    mode
        "ordered", "strict" or "any_order" (see the module docstring).
    step_col
        "touchpoint" (default) or "stage", or any text column.

    Returns
    -------
    DataFrame with step_index (1-based), step, customers, conversion_from_start (customers /
    step-1 customers), conversion_from_previous (customers / previous step's customers; 1.0
    at step 1), median_seconds_from_previous (NaN at step 1). With ``by``: the ``by`` column
    first, then per group also ci_low/ci_high (95% Wilson interval of conversion_from_start),
    p_value (chi-square test that conversion from the previous step is the same in every
    group; NaN at step 1 or when fewer than two groups have at least 30 customers) and note.
    """
    sets = step_sets(steps)
    per = customer_steps(events, sets, window=window, by=by, mode=mode, step_col=step_col)
    return _assemble(_summarise(per, len(sets)), sets, by)


def customer_steps(
    events: Any,
    steps: Steps,
    *,
    window: timedelta | None = None,
    by: str | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> nw.LazyFrame:
    """One row per customer who did step 1: customer_id, _group and _t0.._t{k-1}, the time of
    the event that counted for each step (null from the first step not reached)."""
    sets = step_sets(steps)
    if mode not in MODES:
        raise AnalysisError(f"Unknown funnel mode {mode!r}.", f"Use one of {', '.join(MODES)}.")
    if window is not None and (not isinstance(window, timedelta) or window < timedelta(0)):
        raise AnalysisError(
            f"window must be a non-negative datetime.timedelta, got {window!r}.",
            "For example window=datetime.timedelta(days=7), or None for no limit.",
        )
    lf = canonical(events, "events")
    names = lf.collect_schema().names()
    for column in (step_col, by):
        if column is not None and column not in names:
            raise AnalysisError(
                f"The events have no column {column!r}.", f"Pick one of {', '.join(names)}."
            )
    order = order_columns(names)
    keep = ["customer_id", *order] + ([by] if by and by not in order else [])
    group = nw.col(by).cast(nw.String).fill_null("(none)") if by else nw.lit("all")
    name = nw.col(step_col)
    if not lf.implementation.is_duckdb():
        # DuckDB compares an ENUM with text directly (and fast); Polars' Enum refuses names
        # outside its categories, so other engines compare text.
        name = name.cast(nw.String)
    prepared = lf.select(*keep, name.alias("_name"), group.alias("_group"))
    if by:
        prepared = prepared.with_columns(nw.lit(True).alias("_by"))
    if mode == "strict":
        # "Nothing in between" needs every event's position; the same name at the same
        # instant is one event (as in the other modes).
        prepared = prepared.unique(["customer_id", "timestamp", "_name"], keep="any")
        prepared = prepared.with_columns(
            nw.col("customer_id").cum_count().over("customer_id", order_by=order).alias("_pos")
        )
    else:
        # Only the steps' own events matter. Their order is timestamp, then name: one number
        # (microseconds since 1970 × names + the name's rank) orders them with no sort at all.
        # Events of the same name at the same instant share the number and count once.
        wanted = sorted({n for names in sets for n in names})
        prepared = prepared.filter(nw.col("_name").is_in(wanted))
        rank: Any = nw.lit(0)
        for i, name in enumerate(wanted):
            rank = nw.when(nw.col("_name") == name).then(nw.lit(i)).otherwise(rank)
        micros = (nw.col("timestamp") - nw.lit(_EPOCH)).dt.total_microseconds()
        prepared = prepared.with_columns((micros * len(wanted) + rank).alias("_pos"))
    runner = {"ordered": _ordered, "strict": _strict, "any_order": _any_order}[mode]
    return runner(prepared, sets, window)


def _ordered(lf: nw.LazyFrame, sets: list[tuple[str, ...]], window: timedelta | None):
    first = (
        lf.filter(nw.col("_name").is_in(list(sets[0])))
        .group_by("customer_id")
        .agg(nw.col("_pos").min().alias("_p"), nw.col("timestamp").min().alias("_t0"))
    )
    per = _with_group(first, lf)
    carried = ["customer_id", "_group", "_t0"]
    # Each step is one left join and one aggregation over the previous frame, which is used
    # once: the plan stays linear in the number of steps.
    for i, names in enumerate(sets[1:], start=1):
        candidates = lf.filter(nw.col("_name").is_in(list(names))).select(
            "customer_id", nw.col("_pos").alias("_q"), nw.col("timestamp").alias("_s")
        )
        ok = nw.col("_q") > nw.col("_p")
        if window is not None:
            ok = ok & (nw.col("_s") <= nw.col("_t0") + window)
        per = (
            per.join(candidates, on="customer_id", how="left")
            .group_by(*carried)
            .agg(nw.when(ok).then(nw.col("_q")).min().alias("_p"),
                 nw.when(ok).then(nw.col("_s")).min().alias(f"_t{i}"))
        )
        carried.append(f"_t{i}")
    return per.select("customer_id", "_group", *[f"_t{i}" for i in range(len(sets))])


def _with_group(first: nw.LazyFrame, lf: nw.LazyFrame) -> nw.LazyFrame:
    """Add each customer's group: the one on their step-1 event (key ``_p``)."""
    if "_by" not in lf.collect_schema().names():
        return first.with_columns(nw.lit("all").alias("_group"))
    at_first = lf.select("customer_id", nw.col("_pos").alias("_p"), "_group")
    # Events sharing the step-1 key could disagree on the group: take one, deterministically.
    return first.join(at_first, on=["customer_id", "_p"], how="inner").group_by(
        *first.collect_schema().names()).agg(nw.col("_group").min())


def _strict(lf: nw.LazyFrame, sets: list[tuple[str, ...]], window: timedelta | None):
    anchor = (
        lf.filter(nw.col("_name").is_in(list(sets[0])))
        .group_by("customer_id")
        .agg(nw.col("_pos").min().alias("_p1"), nw.col("timestamp").min().alias("_first_t"))
    )
    k = len(sets)
    rows = lf.join(anchor, on="customer_id", how="inner").filter(
        (nw.col("_pos") >= nw.col("_p1")) & (nw.col("_pos") < nw.col("_p1") + k)
    )
    offset = nw.col("_pos") - nw.col("_p1")
    matches = nw.lit(False)
    for i, names in enumerate(sets):
        matches = matches | ((offset == i) & nw.col("_name").is_in(list(names)))
    if window is not None:
        matches = matches & (nw.col("timestamp") <= nw.col("_first_t") + window)
    rows = rows.with_columns(offset.alias("_offset"), matches.alias("_ok"))
    # The group is the step-1 event's; steps reached = offsets before the first miss.
    per = rows.group_by("customer_id").agg(
        nw.when(nw.col("_offset") == 0).then(nw.col("_group")).max().alias("_group"),
        nw.when(~nw.col("_ok")).then(nw.col("_offset")).min().alias("_miss"),
        nw.len().alias("_n"),
        *[nw.when(nw.col("_offset") == i).then(nw.col("timestamp")).max().alias(f"_t{i}")
          for i in range(k)],
    ).with_columns(
        nw.when(nw.col("_miss").is_null()).then(nw.col("_n")).otherwise(nw.col("_miss"))
        .alias("_reached")
    )
    return per.select(
        "customer_id", "_group",
        *[nw.when(nw.col("_reached") > i).then(nw.col(f"_t{i}")).alias(f"_t{i}")
          for i in range(k)],
    )


def _any_order(lf: nw.LazyFrame, sets: list[tuple[str, ...]], window: timedelta | None):
    first = (
        lf.filter(nw.col("_name").is_in(list(sets[0])))
        .group_by("customer_id")
        .agg(nw.col("_pos").min().alias("_p"))
    )
    groups = _with_group(first, lf).select("customer_id", "_group")
    firsts = lf.group_by("customer_id").agg(
        *[nw.when(nw.col("_name").is_in(list(names))).then(nw.col("timestamp")).min()
          .alias(f"_f{i}") for i, names in enumerate(sets)]
    )
    # Customers who never did step 1 have no group: they do not enter the funnel.
    per = firsts.join(groups, on="customer_id", how="inner")
    completed = []
    for i in range(len(sets)):
        cols = [nw.col(f"_f{j}") for j in range(i + 1)]
        done = nw.max_horizontal(*cols)
        ok = ~nw.any_horizontal(*[c.is_null() for c in cols], ignore_nulls=False)
        if window is not None:
            ok = ok & (done <= nw.min_horizontal(*cols) + window)
        completed.append(nw.when(ok).then(done).alias(f"_t{i}"))
    return per.select("customer_id", "_group", *completed)


def _summarise(per: nw.LazyFrame, k: int) -> pd.DataFrame:
    """Per group: customers reaching each step (time not null) and the median time from the
    previous step."""
    aggs = []
    for i in range(k):
        hit = ~nw.col(f"_t{i}").is_null()
        aggs.append(hit.cast(nw.Int64).sum().alias(f"c{i}"))
        if i:
            gap = (nw.col(f"_t{i}") - nw.col(f"_t{i - 1}")).dt.total_microseconds() / 1_000_000
            aggs.append(nw.when(hit).then(gap).median().alias(f"m{i}"))
    wide = per.group_by("_group").agg(*aggs).collect().to_pandas()
    rows = []
    for record in wide.to_dict("records"):
        for i in range(k):
            rows.append({
                "_group": str(record["_group"]), "step_index": i + 1,
                "customers": 0 if pd.isna(record[f"c{i}"]) else int(record[f"c{i}"]),
                "median_seconds_from_previous": float(record[f"m{i}"]) if i and pd.notna(
                    record[f"m{i}"]) else np.nan,
            })
    return pd.DataFrame(rows, columns=["_group", "step_index", "customers",
                                       "median_seconds_from_previous"])


def _assemble(counts: pd.DataFrame, sets: list[tuple[str, ...]], by: str | None):
    if counts.empty:
        groups = ["all"] if by is None else []
        counts = pd.DataFrame(
            [{"_group": g, "step_index": i + 1, "customers": 0,
              "median_seconds_from_previous": np.nan}
             for g in groups for i in range(len(sets))],
            columns=["_group", "step_index", "customers", "median_seconds_from_previous"],
        )
    table = counts.sort_values(["_group", "step_index"]).reset_index(drop=True)
    table["customers"] = table["customers"].astype(int)
    table["step"] = [step_label(sets[i - 1]) for i in table["step_index"]]
    start = table.groupby("_group")["customers"].transform("first")
    previous = table.groupby("_group")["customers"].shift(1).fillna(table["customers"])
    with np.errstate(divide="ignore", invalid="ignore"):
        table["conversion_from_start"] = np.where(start > 0, table["customers"] / start, np.nan)
        table["conversion_from_previous"] = np.where(
            previous > 0, table["customers"] / previous, np.nan
        )
    if by is None:
        return table[COLUMNS].reset_index(drop=True)
    table = table.rename(columns={"_group": by})
    table = _breakdown_stats(table, by)
    return table[[by, *COLUMNS, "ci_low", "ci_high", "p_value", "note"]].reset_index(drop=True)


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = 1.959963984540054):
    """95% Wilson score interval for binomial proportions (NaN where n is 0)."""
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(n > 0, centre - half, np.nan)
    high = np.where(n > 0, centre + half, np.nan)
    return low, high


def _breakdown_stats(table: pd.DataFrame, by: str) -> pd.DataFrame:
    start = table.groupby(by)["customers"].transform("first").to_numpy()
    table["ci_low"], table["ci_high"] = wilson_interval(table["customers"].to_numpy(), start)
    table["p_value"] = np.nan
    table["note"] = ""
    sizes = table[table["step_index"] == 1].set_index(by)["customers"]
    small = set(sizes[sizes < MIN_GROUP].index)
    table.loc[table[by].isin(small), "note"] = f"fewer than {MIN_GROUP} customers: not tested"
    testable = [g for g in sizes.index if g not in small]
    for step in sorted(table["step_index"].unique())[1:]:
        rows = table[(table["step_index"] == step) & table[by].isin(testable)]
        prev = table[(table["step_index"] == step - 1) & table[by].isin(testable)]
        if len(rows) < 2:
            continue
        reached = rows["customers"].to_numpy()
        lost = prev["customers"].to_numpy() - reached
        contingency = np.vstack([reached, lost])
        if (contingency.sum(axis=1) == 0).any() or (contingency.sum(axis=0) == 0).any():
            continue
        p = stats.chi2_contingency(contingency, correction=False)[1]
        table.loc[rows.index, "p_value"] = float(p)
    return table
