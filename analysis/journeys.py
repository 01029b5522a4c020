"""Time-ordered journeys: numbered steps per customer, shared by every view.

The one ordering rule (DESIGN.md, Order of events): a customer's events are ordered by
timestamp, then by ``event_seq``, the position of the event in its source file recorded at
ingest, so events with the same timestamp (date-only exports) keep the order the export had.
Pandas and Polars frames without ``event_seq`` get it from their row order
(:func:`analysis.frames.canonical`); DuckDB and Spark relations without it fall back to the
touchpoint name, then the channel. All work is Narwhals window expressions over the lazy frame
(DuckDB by default): no per-customer loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import narwhals as nw

from analysis.definitions import present_touchpoints
from analysis.frames import as_int
from analysis.precompute import has_precomputed, journeys_intact
from analysis.results import OTHER, Coverage
from analysis.schema import EVENT_SEQ, MissingColumnError, ParameterError, unknown_values_error

NodeBy = Literal["touchpoint", "channel", "stage"]
NODE_TYPES: tuple[str, ...] = ("touchpoint", "channel", "stage")
MISSING_NODE = "(none)"
END = "(end)"
__all__ = ["END", "MISSING_NODE", "NODE_TYPES", "OTHER", "Coverage", "journeys", "totals"]


def order_columns(names: Sequence[str]) -> list[str]:
    """The columns that order a customer's events: timestamp, then file order when known."""
    if EVENT_SEQ in names:
        return ["timestamp", EVENT_SEQ]
    return [c for c in ("timestamp", "touchpoint", "channel") if c in names]


def check_touchpoints(lf: nw.LazyFrame, names: Sequence[str], what: str = "touchpoint") -> None:
    """Raise :class:`UnknownValueError` for names that are not touchpoints of the data.

    A stored dataset keeps touchpoints as an ENUM whose categories are the dataset's
    touchpoints (checked for free); other frames are checked against the distinct values.
    """
    wanted = {str(n) for n in names}
    if not wanted:
        return
    dtype = lf.collect_schema()["touchpoint"]
    categories = getattr(dtype, "categories", None)
    known = set(map(str, categories)) if categories else set(present_touchpoints(lf))
    unknown = sorted(wanted - known)
    # With no rows left (after filters) there is nothing to check against: the result says
    # so with its status instead.
    if unknown and known:
        raise unknown_values_error(what, unknown, known)


def journeys(
    lf: nw.LazyFrame,
    *,
    node_by: NodeBy = "touchpoint",
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
    start_at: str | None = None,
    end_at: str | None = None,
    max_steps: int | None = None,
    with_next_timestamp: bool = True,
    with_position: bool = False,
    with_step: bool = True,
) -> nw.LazyFrame:
    """Each customer's events as numbered steps.

    Parameters
    ----------
    lf
        A canonical events frame (:func:`analysis.frames.canonical`), filters applied.
    node_by
        The column that names a step: touchpoint, channel or stage (missing values become
        "(none)"). Events without a touchpoint are left out.
    exclude
        Touchpoints dropped before steps are numbered.
    collapse_repeats
        Merge consecutive steps with the same node into one (the first of them).
    start_at
        Keep each journey from its first event at this touchpoint on (customers without it
        drop out).
    end_at
        Keep each journey up to and including its first event at this touchpoint, at most
        ``max_steps`` steps back, numbered from the first kept step (customers without it
        drop out).
    with_position
        Add ``position`` and ``next_position``: the place of the step's event among all the
        customer's events, before anything is left out or merged. Cut-offs computed on the
        whole journey (such as a first conversion) compare with these.
    with_step
        Number the steps (False leaves ``step`` out, for results that only need moves).

    Returns
    -------
    Lazy frame with customer_id, timestamp, touchpoint, node, step (1-based), next_node and
    (unless ``with_next_timestamp`` is False) next_timestamp; next_* are null at a journey's
    last step.

    Notes
    -----
    Whole journeys named by touchpoint (no exclude, collapse or anchor) are read from the
    columns precomputed at import (:mod:`analysis.precompute`) when ``lf`` carries them, with
    no sort; the result is the same.
    """
    if node_by not in NODE_TYPES:
        raise ParameterError(
            f"Unknown node type {node_by!r}.", f"Use one of {', '.join(NODE_TYPES)}."
        )
    names = lf.collect_schema().names()
    if node_by not in names:
        raise MissingColumnError(
            f"The events have no {node_by} column, so steps cannot be named by it.",
            "Map a column to it when importing, or name steps by touchpoint.",
        )
    order = order_columns(names)
    plain = (node_by == "touchpoint" and not exclude and not collapse_repeats
             and start_at is None and end_at is None)
    if plain and uses_precomputed(lf):
        return _precomputed(lf, order, with_next_timestamp, with_position, with_step)
    lf = _nodes(lf, node_by, order)
    if with_position:
        lf = ordered_window(lf, order, step="position")
    if exclude:
        lf = lf.filter(~nw.col("touchpoint").cast(nw.String).is_in(list(exclude)))
    anchored = start_at is not None or end_at is not None
    if anchored:
        lf = _anchor(ordered_window(lf, order, step="step"), start_at, end_at).drop("step")
    if collapse_repeats:
        previous = nw.col("node").shift(1).over("customer_id", order_by=order)
        lf = lf.with_columns(previous.alias("_prev")).filter(
            nw.col("_prev").is_null() | (nw.col("_prev") != nw.col("node"))
        ).drop("_prev")
    # Steps and next steps come from one window over one ordering: a single sort.
    following = ["node"]
    if with_next_timestamp:
        following.append("timestamp")
    if with_position:
        following.append("position")
    lf = ordered_window(lf, order, step="step" if with_step or anchored else None,
                        following=following)
    lf = lf.with_columns(nw.col("node").cast(nw.String), nw.col("next_node").cast(nw.String))
    if end_at is not None and max_steps is not None:
        # Paths leading to the anchor: its last max_steps steps, numbered from the first kept.
        last = nw.col("step").max().over("customer_id")
        lf = lf.with_columns(last.alias("_last")).filter(
            nw.col("step") > nw.col("_last") - max_steps
        )
        shift = nw.max_horizontal(nw.col("_last") - max_steps, nw.lit(0))
        lf = lf.with_columns((nw.col("step") - shift).alias("step")).drop("_last")
    return lf


def uses_precomputed(lf: nw.LazyFrame) -> bool:
    """Whether ``lf`` (a DuckDB relation) carries precomputed journey columns that still
    describe whole journeys (checked cheaply: :func:`analysis.precompute.journeys_intact`)."""
    return (lf.implementation is nw.Implementation.DUCKDB
            and has_precomputed(lf.collect_schema().names()) and journeys_intact(lf))


def _precomputed(
    lf: nw.LazyFrame, order: list[str], with_next_timestamp: bool, with_position: bool,
    with_step: bool,
) -> nw.LazyFrame:
    """What the window of :func:`journeys` computes, read from the precomputed columns, in
    the same columns, order and types as :func:`_duckdb_window` gives them."""
    keep = ["customer_id", *dict.fromkeys([*order, "touchpoint"])]
    step = nw.col("_step").cast(nw.Int64)
    has_next = ~nw.col("_next_touchpoint").is_null()
    exprs: list[nw.Expr] = [*map(nw.col, keep), nw.col("touchpoint").cast(nw.String).alias("node")]
    if with_position:
        exprs.append(step.alias("position"))
    if with_step:
        exprs.append(step.alias("step"))
    exprs.append(nw.col("_next_touchpoint").cast(nw.String).alias("next_node"))
    if with_next_timestamp:
        exprs.append(nw.col("_next_timestamp").alias("next_timestamp"))
    if with_position:
        exprs.append(nw.when(has_next).then(step + 1).alias("next_position"))
    return lf.filter(~nw.col("_step").is_null()).select(*exprs)


def ordered_window(
    lf: nw.LazyFrame, order: list[str], *, step: str | None, following: Sequence[str] = ()
) -> nw.LazyFrame:
    """Add ``step`` (each event's 1-based number in its customer's journey) and
    ``next_<column>`` for each of ``following`` (null at the last event), in one window pass.

    On DuckDB and Spark this is ``row_number()`` and ``lead()`` over one window, which the
    engine sorts once; Narwhals would number steps with a running count, which costs SQL
    engines a second pass. Column names here are the module's own, never user input.
    """
    if lf.implementation is nw.Implementation.DUCKDB:
        return _duckdb_window(lf, order, step, following)
    if lf.implementation is nw.Implementation.PYSPARK:
        return _spark_window(lf, order, step, following)
    exprs = [_next(column, order) for column in following]
    if step is not None:
        exprs.append(_running_count(order).alias(step))
    return lf.with_columns(*exprs)


def with_order_key(lf: nw.LazyFrame, order: list[str], alias: str) -> nw.LazyFrame:
    """Add ``alias``: a number that rises along each customer's journey, for comparing and
    taking minima (it is not a count: use :func:`ordered_window` for step numbers).

    On DuckDB with ``event_seq`` and a timestamp, the key is computed from the row alone,
    (epoch, event_seq) packed into one HUGEINT, so no sort is needed; elsewhere it is the
    step number.
    """
    schema = lf.collect_schema()
    dtype = schema.get("timestamp")
    if (lf.implementation is not nw.Implementation.DUCKDB or order != ["timestamp", EVENT_SEQ]
            or not isinstance(dtype, nw.Datetime) or not schema[EVENT_SEQ].is_integer()):
        return ordered_window(lf, order, step=alias)
    import duckdb

    # epoch * 2^64 + (event_seq + 2^63): event_seq is an int64, so the sum orders exactly as
    # (timestamp, event_seq) and stays within HUGEINT's 127 bits.
    epoch = "epoch_ns" if dtype.time_unit == "ns" else "epoch_us"
    key = duckdb.SQLExpression(
        f'{epoch}("timestamp")::HUGEINT * 18446744073709551616 '
        f'+ ("{EVENT_SEQ}"::HUGEINT + 9223372036854775808)'
    ).alias(alias)
    return nw.from_native(lf.to_native().select(duckdb.StarExpression(), key))


def _duckdb_window(
    lf: nw.LazyFrame, order: list[str], step: str | None, following: Sequence[str]
) -> nw.LazyFrame:
    import duckdb

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    keys = ", ".join(f"{quoted(c)} ASC NULLS FIRST" for c in order)
    over = f"OVER (PARTITION BY {quoted('customer_id')} ORDER BY {keys})"
    exprs = [duckdb.StarExpression()]
    if step is not None:
        exprs.append(duckdb.SQLExpression(f"row_number() {over}").alias(step))
    exprs += [duckdb.SQLExpression(f"lead({quoted(c)}) {over}").alias(f"next_{c}")
              for c in following]
    return nw.from_native(lf.to_native().select(*exprs))


def _spark_window(
    lf: nw.LazyFrame, order: list[str], step: str | None, following: Sequence[str]
) -> nw.LazyFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    window = Window.partitionBy("customer_id").orderBy(*[F.col(c).asc_nulls_first()
                                                         for c in order])
    exprs = [F.lead(c).over(window).alias(f"next_{c}") for c in following]
    if step is not None:
        exprs.append(F.row_number().over(window).alias(step))
    return nw.from_native(lf.to_native().select("*", *exprs))


def _running_count(order: list[str]) -> nw.Expr:
    return nw.col("customer_id").cum_count().over("customer_id", order_by=order)


def _next(column: str, order: list[str]) -> nw.Expr:
    return nw.col(column).shift(-1).over("customer_id", order_by=order).alias(f"next_{column}")


def _nodes(lf: nw.LazyFrame, node_by: str, order: list[str]) -> nw.LazyFrame:
    """customer_id, the ordering columns, touchpoint and node, for events with a touchpoint."""
    lf = lf.filter(~nw.col("touchpoint").is_null())
    keep = ["customer_id", *dict.fromkeys([*order, "touchpoint"])]
    if node_by == "touchpoint":
        # The node keeps its stored type (an ENUM is cheap to sort and shift) until the
        # windows are done; it becomes text afterwards.
        return lf.select(*keep, nw.col("touchpoint").alias("node"))
    node = nw.col(node_by).cast(nw.String).fill_null(MISSING_NODE)
    return lf.select(*keep, node.alias("node"))


def _anchor(lf: nw.LazyFrame, start_at: str | None, end_at: str | None) -> nw.LazyFrame:
    """Keep each journey from (or up to) its first event at the anchor touchpoint."""
    for anchor, keep_after in ((start_at, True), (end_at, False)):
        if anchor is None:
            continue
        hit = nw.col("touchpoint").cast(nw.String) == anchor
        first = nw.when(hit).then(nw.col("step")).min().over("customer_id")
        lf = lf.with_columns(first.alias("_anchor")).filter(~nw.col("_anchor").is_null())
        keep = nw.col("step") >= nw.col("_anchor") if keep_after else (
            nw.col("step") <= nw.col("_anchor")
        )
        lf = lf.filter(keep).drop("_anchor")
    return lf


def totals(lf: nw.LazyFrame) -> tuple[int, int]:
    """(customers, events) of a filtered, canonical events frame."""
    row = (
        lf.select(nw.col("customer_id").n_unique().alias("c"), nw.len().alias("e"))
        .collect()
        .to_pandas()
        .iloc[0]
    )
    return as_int(row["c"]), as_int(row["e"])
