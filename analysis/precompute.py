"""Columns computed once at import so that views at tens of millions of events skip a sort.

A stored events dataset keeps, next to its own columns, each event's place in its customer's
journey (``_step``), the next event's touchpoint and time, and the customer's first and last
event times. They are valid for the whole, unfiltered dataset only: a filter that removes some
of a customer's events (dates, channels, an attribute that varies within a customer)
renumbers the journey, so ``frames.load`` hands them on only when every filter keeps or drops
whole customers; ``journeys`` uses them when they are present and computes from scratch
otherwise.

Whoever filters a relation carrying these columns row by row must drop them first
(:func:`without_precomputed`): ``frames.apply_filters`` does, unless told that its filters
keep whole journeys. :func:`journeys_intact` is a cheap guard that catches a forgotten drop.
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb
import narwhals as nw

from analysis.schema import CANONICAL, EVENT_SEQ

#: The journey columns every dataset imported since precomputation began has.
JOURNEY_COLUMNS: tuple[str, ...] = (
    "_step", "_next_touchpoint", "_next_timestamp", "_first_timestamp", "_last_timestamp",
)
#: Added later (datasets imported before lack it; views then compute from scratch): the time
#: of the customer's previous event of the same touchpoint. Distinct customers per
#: touchpoint and period are a count of each customer's first event there
#: (``touchpoints.trend``); a customer's first touches are the events without one.
PREV_SAME_TOUCHPOINT = "_prev_tp_timestamp"
#: The precomputed columns; ``Workspace.table`` leaves them out unless asked for them.
PRECOMPUTED: tuple[str, ...] = (*JOURNEY_COLUMNS, PREV_SAME_TOUCHPOINT)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def add_journey_columns(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``rel`` (a canonical events relation) with the :data:`PRECOMPUTED` columns added.

    Windows in the one journey order of :func:`analysis.journeys.order_columns`
    (timestamp, then ``event_seq``; without it touchpoint, then channel): one per customer,
    one per customer and touchpoint. As in :func:`analysis.journeys.journeys`, events
    without a touchpoint are not steps: their ``_step``, ``_next_touchpoint``,
    ``_next_timestamp`` and ``_prev_tp_timestamp`` are NULL and the others' next step skips
    them. ``_prev_tp_timestamp`` is the time of the customer's previous event of the same
    touchpoint: NULL at the first one, and after one without a time. ``_first_timestamp``
    and ``_last_timestamp`` are the earliest and latest time over all the customer's events
    (as ``customer_lifetimes`` and the overview take them). Any PRECOMPUTED columns ``rel``
    already has are replaced.
    """
    names = [c for c in rel.columns if c not in PRECOMPUTED]
    if EVENT_SEQ in names:
        order = ["timestamp", EVENT_SEQ]
    else:
        order = [c for c in ("timestamp", "touchpoint", "channel") if c in names]
    keys = ", ".join(f"{quoted(c)} ASC NULLS FIRST" for c in order)
    window = f"PARTITION BY customer_id ORDER BY {keys}"
    whole = f"OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    over = f"OVER ({window})"
    has_step = "touchpoint IS NOT NULL"
    present = [c for c in rel.columns if c in PRECOMPUTED]
    exprs = [
        duckdb.StarExpression(exclude=present),
        duckdb.SQLExpression(
            f"CASE WHEN {has_step} THEN count(touchpoint) OVER ({window} ROWS BETWEEN "
            "UNBOUNDED PRECEDING AND CURRENT ROW) END"
        ).alias("_step"),
        duckdb.SQLExpression(
            f"CASE WHEN {has_step} THEN lead(touchpoint IGNORE NULLS) {over} END"
        ).alias("_next_touchpoint"),
        duckdb.SQLExpression(
            f"CASE WHEN {has_step} THEN lead(CASE WHEN {has_step} THEN \"timestamp\" END "
            f"IGNORE NULLS) {over} END"
        ).alias("_next_timestamp"),
        duckdb.SQLExpression(f'min("timestamp") {whole}').alias("_first_timestamp"),
        duckdb.SQLExpression(f'max("timestamp") {whole}').alias("_last_timestamp"),
        duckdb.SQLExpression(
            f'CASE WHEN {has_step} THEN lag("timestamp") OVER (PARTITION BY customer_id, '
            f"touchpoint ORDER BY {keys}) END").alias(PREV_SAME_TOUCHPOINT),
    ]
    return rel.select(*exprs)


def attribute_columns(names: Collection[str]) -> list[str]:
    """The attribute columns among ``names``: neither canonical, nor file order, nor
    precomputed."""
    known = {*CANONICAL["events"], EVENT_SEQ, *PRECOMPUTED}
    return [c for c in names if c not in known]


def customer_level_columns(rel: duckdb.DuckDBPyRelation) -> list[str]:
    """Attribute columns whose value never changes within a customer (filters on them keep
    or drop whole journeys, so precomputed columns stay valid).

    A missing value counts as a value: a customer with a segment on some events and none on
    others varies. One aggregate query over the relation.
    """
    columns = attribute_columns(rel.columns)
    if not columns:
        return []
    per_customer = ", ".join(
        f"count({quoted(c)}) = 0 OR (count({quoted(c)}) = count(*) AND "
        f"min({quoted(c)}) IS NOT DISTINCT FROM max({quoted(c)})) AS c{i}"
        for i, c in enumerate(columns)
    )
    overall = ", ".join(f"coalesce(bool_and(c{i}), true)" for i in range(len(columns)))
    sql = (f"SELECT {overall} FROM (SELECT {per_customer} FROM _events GROUP BY customer_id)")
    rows = rel.query("_events", sql).fetchall()
    row = rows[0] if rows else ()
    return [c for c, constant in zip(columns, row or (), strict=False) if constant]


def keeps_journeys(
    start: object, end: object, channels: Collection[str],
    attributes: Collection[tuple[str, Collection[str]]], customer_level: Collection[str],
) -> bool:
    """Whether filters keep or drop whole customers, so precomputed columns stay valid: no
    date or channel filter, and attribute filters only on customer-level columns."""
    if start or end or channels:
        return False
    level = set(customer_level)
    return all(column in level for column, values in attributes if values)


def has_precomputed(names: Collection[str]) -> bool:
    """Whether ``names`` hold the journey columns (:data:`JOURNEY_COLUMNS`); later additions
    are checked where they are used."""
    return all(c in names for c in JOURNEY_COLUMNS)


def without_precomputed(lf: nw.LazyFrame) -> nw.LazyFrame:
    """``lf`` without the precomputed columns (before a filter that may split journeys)."""
    present = [c for c in lf.collect_schema().names() if c in PRECOMPUTED]
    return lf.drop(*present) if present else lf


#: The query text of relations :func:`vouch_intact` was told hold whole journeys. The text
#: names the dataset's files (written once, under an id never reused) and every filter, so
#: the same text reads the same rows.
_VOUCHED: set[str] = set()
_VOUCHED_MAX = 512


def vouch_intact(lf: nw.LazyFrame) -> nw.LazyFrame:
    """Record that ``lf`` (a stored dataset read with filters that keep whole customers,
    :func:`analysis.frames.load`) holds whole journeys, so :func:`journeys_intact` need not
    scan it again; returns ``lf``. Only DuckDB relations are recorded."""
    if lf.implementation is nw.Implementation.DUCKDB:
        if len(_VOUCHED) >= _VOUCHED_MAX:
            _VOUCHED.clear()
        _VOUCHED.add(lf.to_native().sql_query())
    return lf


def journeys_intact(lf: nw.LazyFrame) -> bool:
    """A cheap check (one scan, no sort) that the precomputed step numbers of ``lf`` still
    describe whole journeys.

    Per customer, the step count equals the last step's number and the sum of the steps is
    n(n+1)/2 only when no step was removed or all were: removing some steps (a date or
    channel filter) breaks one of the equalities for that customer. Customers' differences
    could in principle cancel out, so this is a guard against a forgotten
    :func:`without_precomputed`, not a proof. A relation :func:`vouch_intact` recorded is
    not scanned.
    """
    if (lf.implementation is nw.Implementation.DUCKDB
            and lf.to_native().sql_query() in _VOUCHED):
        return True
    step = nw.col("_step")
    last = ~step.is_null() & nw.col("_next_touchpoint").is_null()
    row = lf.select(
        step.count().alias("n"),
        nw.when(last).then(step).sum().alias("n_last"),
        step.sum().alias("s"),
        nw.when(last).then(step * (step + 1) // 2).sum().alias("s_last"),
    ).collect().row(0)
    n, n_last, s, s_last = (0 if v is None else int(v) for v in row)
    return n == n_last and s == s_last
