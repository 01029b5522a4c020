"""Following each customer through a funnel's steps: the three modes and the window.

A funnel is anchored at each customer's first event matching step 1. Events are in journey
order (:mod:`analysis.journeys`: timestamp, then file order), so two events at the same instant
still have a definite order, the one the export had, and each is its own event.

Modes
-----
ordered (default)
    Step k counts when the customer has a step-k event *after* the event that counted for
    step k-1 (the earliest such event counts, which is never worse for later steps).
strict
    Step k must be the very next event after step k-1: no other event in between (events
    without a touchpoint are not events of the journey, as everywhere else).
any_order
    Step k counts when the customer has done steps 1..k at all, in any order, each step with
    an event of its own: ``["A", "A"]`` needs two A events. Times are measured from when the
    set was complete. Steps may repeat, but two different steps may not share a name (which
    event would count for which step is then ambiguous).

``window`` (a timedelta) limits every counted event to at most ``window`` after the step-1
event (inclusive: an event exactly at the boundary counts); in any_order mode, the span of the
steps' events. The heavy work is a chain of joins over the lazy frame, one per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

import narwhals as nw

from analysis.frames import materialize
from analysis.journeys import (
    check_touchpoints,
    order_columns,
    ordered_window,
    uses_precomputed,
    with_order_key,
)
from analysis.schema import MissingColumnError, ParameterError, unknown_values_error

Mode = Literal["ordered", "strict", "any_order"]
MODES: tuple[str, ...] = ("ordered", "strict", "any_order")
Steps = Sequence[str | Sequence[str]]


def step_sets(steps: Steps) -> list[tuple[str, ...]]:
    """Each step as a tuple of names (a string is a one-name step)."""
    if isinstance(steps, str) or not steps:
        raise ParameterError(
            "A funnel needs a list of steps, e.g. ['Visit', 'Add to cart', 'Purchase'].",
            "An item may itself be a list: any of those names counts for the step.",
        )
    out = []
    for step in steps:
        names = (step,) if isinstance(step, str) else tuple(str(s) for s in step)
        if not names:
            raise ParameterError("A funnel step is an empty list.", "Give each step a name.")
        out.append(names)
    return out


def step_label(names: tuple[str, ...]) -> str:
    return " | ".join(names)


def check_funnel(
    lf: nw.LazyFrame,
    sets: list[tuple[str, ...]],
    *,
    window: Any,
    by: str | None,
    mode: str,
    step_col: str,
) -> None:
    """Validate a funnel's parameters against the data (raises :class:`ParameterError`)."""
    check_options(sets, window=window, mode=mode)
    names = lf.collect_schema().names()
    for column in (step_col, by):
        if column is not None and column not in names:
            raise MissingColumnError(
                f"The events have no column {column!r}.", f"Pick one of {', '.join(names)}."
            )
    wanted = sorted({n for s in sets for n in s})
    if step_col == "touchpoint":
        check_touchpoints(lf, wanted, "funnel step")
    else:
        values = lf.select(nw.col(step_col).cast(nw.String)).unique().collect().to_pandas()
        known = set(values[step_col].dropna())
        if set(wanted) - known:
            raise unknown_values_error(f"{step_col} step", sorted(set(wanted) - known), known)


def check_options(sets: list[tuple[str, ...]], *, window: Any, mode: str) -> None:
    """Validate the mode and window, which do not depend on the data."""
    if mode not in MODES:
        raise ParameterError(f"Unknown funnel mode {mode!r}.", f"Use one of {', '.join(MODES)}.")
    if window is not None and (not isinstance(window, timedelta) or window < timedelta(0)):
        raise ParameterError(
            f"window must be a non-negative datetime.timedelta, got {window!r}.",
            "For example window=datetime.timedelta(days=7), or None for no limit.",
        )
    if mode == "any_order":
        distinct = list(dict.fromkeys(sets))
        for i, a in enumerate(distinct):
            for b in distinct[i + 1:]:
                if set(a) & set(b):
                    raise ParameterError(
                        f"In an any-order funnel, the steps {step_label(a)!r} and "
                        f"{step_label(b)!r} share {', '.join(sorted(set(a) & set(b)))}, so "
                        "one event could count for either.",
                        "Repeat a step exactly, make the steps disjoint, or use mode='ordered'.",
                    )


def customer_steps(
    lf: nw.LazyFrame,
    sets: list[tuple[str, ...]],
    *,
    window: timedelta | None = None,
    by: str | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
    full_positions: bool = False,
) -> nw.LazyFrame:
    """One row per customer who did step 1: customer_id, _group and _t0.._t{k-1}, the time of
    the event that counted for each step (null from the first step not reached).

    ``lf`` is a canonical events frame and the parameters are checked (:func:`check_funnel`).
    With ``full_positions``, also _f0.._f{k-1}: the position of each counted event among all
    the customer's events (1-based, journey order), so the event after it can be found.
    """
    prepared = step_rows(lf, sets, by=by, step_col=step_col,
                         full_positions=full_positions or mode == "strict")
    order = order_columns(lf.collect_schema().names())
    step = ["_step"] if "_step" in prepared.collect_schema().names() else []
    if mode != "strict":
        # Ordered and any-order modes compare and take minima of _pos: an order key will do.
        prepared = (prepared.with_columns(nw.col("_step").alias("_pos")) if step
                    else with_order_key(prepared, order, "_pos"))
    else:
        prepared = prepared.with_columns(nw.col("_full").alias("_pos"))
    runner = {"ordered": _ordered, "strict": _strict, "any_order": _any_order}[mode]
    # Each mode reads the prepared events several times (once per step): computed once, with
    # only the columns the modes read.
    needed = ("customer_id", "timestamp", "_name", "_group", "_pos", "_full")
    prepared = prepared.select(*[c for c in prepared.collect_schema().names() if c in needed])
    per = runner(materialize(prepared), sets, window)
    keep = [f"_t{i}" for i in range(len(sets))]
    if full_positions:
        keep += [f"_f{i}" for i in range(len(sets))]
    group = "_group" if "_group" in per.collect_schema().names() else nw.lit("all").alias("_group")
    return per.select("customer_id", group, *keep)


def step_rows(
    lf: nw.LazyFrame,
    sets: list[tuple[str, ...]],
    *,
    by: str | None,
    step_col: str,
    full_positions: bool,
) -> nw.LazyFrame:
    """The events of the steps' names: customer_id, the order columns, ``_name``, ``_group``
    (with ``by``), ``_step`` (precomputed positions, when valid) and, with
    ``full_positions``, ``_full``: each event's 1-based position among all the customer's
    events (journey order)."""
    order = order_columns(lf.collect_schema().names())
    name = nw.col(step_col)
    if not lf.implementation.is_duckdb():
        # DuckDB compares an ENUM with text directly (and fast); Polars' Enum refuses names
        # outside its categories, so other engines compare text.
        name = name.cast(nw.String)
    # Without a breakdown there is no _group column until the end: one column less to carry.
    group = [nw.col(by).cast(nw.String).fill_null("(none)").alias("_group")] if by else []
    # Step numbers precomputed at import are the positions, with no sort to pay.
    step = ["_step"] if uses_precomputed(lf) else []
    # Events without a customer belong to no journey.
    prepared = lf.filter(~nw.col("touchpoint").is_null(), ~nw.col("customer_id").is_null()).select(
        "customer_id", *order, name.alias("_name"), *group, *step
    )
    if full_positions:
        prepared = (prepared.with_columns(nw.col("_step").alias("_full")) if step
                    else ordered_window(prepared, order, step="_full"))
    # Only the steps' own events matter; their order among themselves is journey order. (A
    # strict funnel also needs to know that the event at a position is not a step's: its
    # full positions are numbered over every event, before this filter, so a gap in them
    # is such an event.)
    wanted = sorted({n for names in sets for n in names})
    return prepared.filter(nw.col("_name").is_in(wanted))


def _ordered(lf: nw.LazyFrame, sets: list[tuple[str, ...]], window: timedelta | None):
    # Full positions (``_full``) are carried only when asked for: fewer columns to group by.
    full = "_full" in lf.collect_schema().names()
    first = (
        lf.filter(nw.col("_name").is_in(list(sets[0])))
        .group_by("customer_id")
        .agg(nw.col("_pos").min().alias("_p"), nw.col("timestamp").min().alias("_t0"),
             *([nw.col("_full").min().alias("_f0")] if full else []))
    )
    per = _with_group(first, lf)
    carried = [c for c in per.collect_schema().names() if c != "_p"]
    # Each step is one left join and one aggregation over the previous frame, which is used
    # once: the plan stays a chain (DuckDB inlines every reuse of a frame, so a frame read
    # twice is computed twice). Keys, times and full positions rise together in journey
    # order, so each minimum picks the same (earliest) event.
    for i, names in enumerate(sets[1:], start=1):
        candidates = lf.filter(nw.col("_name").is_in(list(names))).select(
            "customer_id", nw.col("_pos").alias("_q"), nw.col("timestamp").alias("_s"),
            *([nw.col("_full").alias("_g")] if full else []),
        )
        ok = nw.col("_q") > nw.col("_p")
        if window is not None:
            ok = ok & (nw.col("_s") <= nw.col("_t0") + window)
        per = (
            per.join(candidates, on="customer_id", how="left")
            .group_by(*carried)
            .agg(nw.when(ok).then(nw.col("_q")).min().alias("_p"),
                 nw.when(ok).then(nw.col("_s")).min().alias(f"_t{i}"),
                 *([nw.when(ok).then(nw.col("_g")).min().alias(f"_f{i}")] if full else []))
        )
        carried += [f"_t{i}", f"_f{i}"] if full else [f"_t{i}"]
    return per


def _with_group(first: nw.LazyFrame, lf: nw.LazyFrame) -> nw.LazyFrame:
    """Add each customer's group: the one on their step-1 event (position ``_p``). Without a
    breakdown there is one group, added at the end (:func:`customer_steps`)."""
    if "_group" not in lf.collect_schema().names():
        return first
    at_first = lf.select("customer_id", nw.col("_pos").alias("_p"), "_group")
    return first.join(at_first, on=["customer_id", "_p"], how="inner")


def _strict(lf: nw.LazyFrame, sets: list[tuple[str, ...]], window: timedelta | None):
    """``lf`` holds the events of the steps' names only, at their full positions (``_pos``):
    step i is reached when the event i positions after the first step-1 event is step i's
    (and every step before it was), so a position with no row is a miss."""
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
    matches: Any = nw.lit(False)
    for i, names in enumerate(sets):
        matches = matches | ((offset == i) & nw.col("_name").is_in(list(names)))
    if window is not None:
        matches = matches & (nw.col("timestamp") <= nw.col("_first_t") + window)
    rows = rows.with_columns(offset.alias("_offset"), matches.fill_null(False).alias("_ok"))
    hit = [(nw.col("_offset") == i) & nw.col("_ok") for i in range(k)]
    # The group is the step-1 event's; a step's time is its event's when it matched.
    grouped = "_group" in lf.collect_schema().names()
    per = rows.group_by("customer_id").agg(
        nw.col("_p1").min(),
        *([nw.when(nw.col("_offset") == 0).then(nw.col("_group")).max().alias("_group")]
          if grouped else []),
        *[nw.when(hit[i]).then(nw.col("timestamp")).max().alias(f"_m{i}") for i in range(k)],
    )
    # Reached while every step so far matched: the first unmatched step ends the funnel.
    reached = [~nw.col("_m0").is_null()]
    for i in range(1, k):
        reached.append(reached[-1] & ~nw.col(f"_m{i}").is_null())
    return per.select(
        "customer_id", *(["_group"] if grouped else []),
        *[nw.when(reached[i]).then(nw.col(f"_m{i}")).alias(f"_t{i}") for i in range(k)],
        *[nw.when(reached[i]).then(nw.col("_p1") + i).alias(f"_f{i}") for i in range(k)],
    )


def _any_order(lf: nw.LazyFrame, sets: list[tuple[str, ...]], window: timedelta | None):
    first = (
        lf.filter(nw.col("_name").is_in(list(sets[0])))
        .group_by("customer_id")
        .agg(nw.col("_pos").min().alias("_p"))
    )
    groups = _with_group(first, lf).drop("_p")
    full = "_full" in lf.collect_schema().names()
    distinct = list(dict.fromkeys(sets))
    # A repeated step takes the next event of its names: the r-th repeat, the r-th event.
    occurrence = [sets[:i].count(s) + 1 for i, s in enumerate(sets)]
    if max(occurrence) > 1:
        set_index: Any = nw.lit(-1)
        for j, names in enumerate(distinct):
            set_index = nw.when(nw.col("_name").is_in(list(names))).then(nw.lit(j)).otherwise(
                set_index)
        nth = nw.col("customer_id").cum_count().over("customer_id", "_set", order_by=["_pos"])
        lf = lf.with_columns(set_index.alias("_set")).with_columns(nth.alias("_nth"))
    else:
        lf = lf.with_columns(nw.lit(1).alias("_nth"))

    def chosen(i: int, column: str) -> nw.Expr:
        hit = nw.col("_name").is_in(list(sets[i])) & (nw.col("_nth") == occurrence[i])
        return nw.when(hit).then(nw.col(column)).min()

    firsts = lf.group_by("customer_id").agg(
        *[chosen(i, "timestamp").alias(f"_e{i}") for i in range(len(sets))],
        *[chosen(i, "_full").alias(f"_g{i}") for i in range(len(sets)) if full],
    )
    # Customers who never did step 1 have no group: they do not enter the funnel.
    per = firsts.join(groups, on="customer_id", how="inner")
    completed = []
    for i in range(len(sets)):
        cols = [nw.col(f"_e{j}") for j in range(i + 1)]
        done = _horizontal(nw.max_horizontal, cols)
        ok = ~nw.any_horizontal(*[c.is_null() for c in cols], ignore_nulls=False)
        if window is not None:
            ok = ok & (done <= _horizontal(nw.min_horizontal, cols) + window)
        completed.append(nw.when(ok).then(done).alias(f"_t{i}"))
        if full:
            last = _horizontal(nw.max_horizontal, [nw.col(f"_g{j}") for j in range(i + 1)])
            completed.append(nw.when(ok).then(last).alias(f"_f{i}"))
    return per.select(*groups.collect_schema().names(), *completed)


def _horizontal(reduce, cols: list[nw.Expr]) -> nw.Expr:
    """``reduce(*cols)``, or the column itself when there is one (Spark's greatest/least
    need two)."""
    return cols[0] if len(cols) == 1 else reduce(*cols)
