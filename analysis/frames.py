"""Turn any supported table into a Narwhals lazy frame in canonical columns, with filters.

Pandas and Arrow input is handed to an in-memory DuckDB (the embedded engine); Polars stays
Polars; DuckDB relations and PySpark DataFrames are wrapped as they are. Analyses write their
heavy work once, as Narwhals expressions over the returned lazy frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd

from analysis.precompute import keeps_journeys, vouch_intact, without_precomputed
from analysis.schema import EVENT_SEQ, REQUIRED, AnalysisError, Kind, MissingColumnError

if TYPE_CHECKING:
    from analysis.store import Workspace


@dataclass(frozen=True)
class Filters:
    """Global filters, applied row by row to events and feedback.

    ``start``/``end`` are inclusive UTC dates. ``channels`` keeps rows in those channels.
    ``attributes`` is ``((column, (value, ...)), ...)``: rows whose column holds one of the
    values. A filter on a column that a table does not have is not applied to that table.
    """

    start: date | None = None
    end: date | None = None
    channels: tuple[str, ...] = ()
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.start or self.end or self.channels or self.attributes)


def utc_database() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB whose connections and cursors work in UTC.

    DuckDB does time-zone-aware arithmetic in the session's time zone (by default the
    machine's): the difference of two aware times across a daylight-saving change would be
    a calendar day, an hour off, and months would be local months. In UTC, aware times count
    as the naive UTC times the workspace stores.
    """
    con = duckdb.connect()
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con


_IN_MEMORY = utc_database()


def _local() -> duckdb.DuckDBPyConnection:
    """A connection to one shared in-memory DuckDB for in-process frames. A cursor is a
    separate connection (safe from another thread) that costs microseconds, where
    ``duckdb.connect()`` costs tens of milliseconds."""
    return _IN_MEMORY.cursor()


def to_lazy(data: Any) -> nw.LazyFrame:
    """A Narwhals lazy frame over pandas, Polars, Arrow, DuckDB, PySpark or Narwhals input.

    The input is never modified.
    """
    if isinstance(data, nw.LazyFrame):
        return data
    if isinstance(data, nw.DataFrame):
        return data.lazy()
    if isinstance(data, pd.DataFrame):
        return nw.from_native(_local().from_df(data))
    try:
        frame = nw.from_native(data)
    except TypeError as exc:
        raise AnalysisError(
            f"Cannot analyse a {type(data).__name__}.",
            "Pass a pandas, Polars, DuckDB or PySpark table in canonical columns.",
        ) from exc
    if isinstance(frame, nw.DataFrame):
        if frame.implementation.is_pandas_like() or frame.implementation.is_pyarrow():
            return nw.from_native(_local().from_arrow(frame.to_arrow()))
        return frame.lazy()
    return frame


def materialize(lf: nw.LazyFrame) -> nw.LazyFrame:
    """``lf`` computed once, for plans that read it several times.

    Narwhals writes each step of a DuckDB query as a ``NOT MATERIALIZED`` CTE, so a frame
    read by four joins is computed four times (window sorts included). On DuckDB the rows
    are computed once and held in memory; other engines are returned as they are.
    """
    if lf.implementation is not nw.Implementation.DUCKDB:
        return lf
    return nw.from_native(lf.to_native().materialize())


def to_pandas(lf: nw.LazyFrame) -> pd.DataFrame:
    """``lf`` computed into pandas; DuckDB converts natively (faster than through Arrow)."""
    if lf.implementation is nw.Implementation.DUCKDB:
        return lf.to_native().df()
    return lf.collect().to_pandas()


def naive_utc(values: Any) -> pd.Series:
    """Timestamps as tz-naive UTC ``datetime64[us]`` (the canonical form), whatever an engine
    returned: Spark collects tz-aware times, DuckDB and Polars naive ones."""
    return pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None).astype(
        "datetime64[us]")


def as_int(value: Any) -> int:
    """An aggregate as int; SQL engines return NULL (NaN) for counts over no rows."""
    return 0 if value is None or pd.isna(value) else int(value)


def seconds_between(lf: nw.LazyFrame, later: str, earlier: str) -> nw.Expr:
    """Seconds from timestamp column ``earlier`` to ``later`` of ``lf``, to the microsecond.

    Narwhals has no duration arithmetic on Spark (``dt.total_microseconds`` is not
    implemented there), so on Spark it is the difference of the two epoch times.
    """
    if not lf.implementation.is_spark_like():
        return (nw.col(later) - nw.col(earlier)).dt.total_microseconds() / 1_000_000
    schema = lf.collect_schema()
    micros = epoch_micros(later, schema[later]) - epoch_micros(earlier, schema[earlier])
    return micros / 1_000_000


def epoch_micros(column: str, dtype: Any) -> nw.Expr:
    """Microseconds since 1970-01-01 of a Spark timestamp column, exactly.

    A TIMESTAMP (time zone aware) casts to whole epoch seconds (floored); a TIMESTAMP_NTZ
    does not cast, so its whole seconds come from its wall-clock fields (no time zone, so
    no daylight-saving jump). ``dt.microsecond`` is the sub-second part in both.
    """
    col = nw.col(column)
    if getattr(dtype, "time_zone", None) is not None:
        seconds = col.cast(nw.Int64)
    else:
        year = col.dt.year().cast(nw.Int64)
        days = (365 * (year - 1970) + (year - 1969) // 4 - (year - 1901) // 100
                + (year - 1601) // 400 + col.dt.ordinal_day().cast(nw.Int64) - 1)
        seconds = (days * 86_400 + col.dt.hour().cast(nw.Int64) * 3_600
                   + col.dt.minute().cast(nw.Int64) * 60 + col.dt.second().cast(nw.Int64))
    return seconds * 1_000_000 + col.dt.microsecond().cast(nw.Int64) % 1_000_000


def _with_row_order(data: Any) -> Any:
    """pandas and Polars input with ``event_seq`` = row position when it has none.

    The input is not modified: pandas gets a shallow copy with one more column.
    """
    if isinstance(data, pd.DataFrame):
        if EVENT_SEQ in data.columns:
            return data
        out = data.copy(deep=False)
        out[EVENT_SEQ] = np.arange(len(out), dtype="int64")
        return out
    if isinstance(data, nw.DataFrame | nw.LazyFrame):
        native = nw.to_native(data)
        if data.implementation.is_polars() and EVENT_SEQ not in data.collect_schema().names():
            return nw.from_native(_polars_row_order(native))
        return data
    module = type(data).__module__.split(".")[0]
    if module == "polars":
        return _polars_row_order(data)
    return data


def _polars_row_order(native: Any) -> Any:
    names = native.collect_schema().names()
    if EVENT_SEQ in names:
        return native
    import polars as pl

    return native.with_row_index(EVENT_SEQ).with_columns(pl.col(EVENT_SEQ).cast(pl.Int64))


def require_columns(frame: nw.LazyFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    """Raise a :class:`MissingColumnError` naming the missing canonical columns."""
    names = frame.collect_schema().names()
    missing = [c for c in columns if c not in names]
    if missing:
        raise MissingColumnError(
            f"{what} needs the column(s) {', '.join(missing)}; the table has "
            f"{', '.join(names[:15]) or 'no columns'}.",
            "Rename them, or import the file with ingest.prepare to map its columns.",
        )


def canonical(
    data: Any, kind: Kind = "events", filters: Filters | None = None, *,
    whole_journeys: bool = False,
) -> nw.LazyFrame:
    """Lazy frame of ``kind`` with its required columns checked and ``filters`` applied.

    Events from pandas or Polars without an ``event_seq`` column get one from their row order
    (DESIGN.md, Order of events), so events at the same instant keep the frame's order.
    ``whole_journeys``: see :func:`apply_filters`.
    """
    if kind == "events":
        data = _with_row_order(data)
    frame = to_lazy(data)
    require_columns(frame, REQUIRED[kind], f"A {kind} table")
    schema = frame.collect_schema()
    if "timestamp" in schema and not isinstance(schema["timestamp"], nw.Datetime | nw.Date):
        raise MissingColumnError(
            f"The timestamp column holds {schema['timestamp']}, not dates.",
            "Convert it first, e.g. with ingest.prepare(df, ingest.guess_mapping(df, kind), kind).",
        )
    return apply_filters(frame, filters, whole_journeys=whole_journeys) if filters else frame


def apply_filters(
    frame: nw.LazyFrame, filters: Filters, *, whole_journeys: bool = False
) -> nw.LazyFrame:
    """Keep the rows that pass every filter whose column the frame has.

    Columns precomputed at import (:data:`analysis.precompute.PRECOMPUTED`) describe whole,
    unfiltered journeys, so they are dropped when a filter applies, unless the caller
    vouches with ``whole_journeys`` that the filters keep or drop whole customers
    (:func:`journey_filters`).
    """
    names = set(frame.collect_schema().names())
    conditions = []
    if "timestamp" in names:
        if filters.start:
            conditions.append(nw.col("timestamp") >= datetime.combine(filters.start, time()))
        if filters.end:
            end = datetime.combine(filters.end + timedelta(days=1), time())
            conditions.append(nw.col("timestamp") < end)
    if filters.channels and "channel" in names:
        conditions.append(nw.col("channel").cast(nw.String).is_in(list(filters.channels)))
    for column, values in filters.attributes:
        if column in names and values:
            conditions.append(nw.col(column).cast(nw.String).is_in(list(values)))
    if conditions and not whole_journeys:
        frame = without_precomputed(frame)
    for condition in conditions:
        frame = frame.filter(condition)
    return frame


def journey_filters(filters: Filters | None, customer_level: Any) -> bool:
    """Whether ``filters`` keep or drop whole customers: no date or channel filter, attribute
    filters only on ``customer_level`` columns (constant within each customer, as listed in
    a dataset's profile at import). Only then do precomputed journey columns stay valid."""
    if not filters:
        return True
    return keeps_journeys(filters.start, filters.end, filters.channels, filters.attributes,
                          customer_level or ())


def load(
    workspace: Workspace, dataset_id: str, filters: Filters | None = None
) -> nw.LazyFrame:
    """A stored dataset as a lazy frame with ``filters`` applied.

    Events keep the journey columns precomputed at import when the filters keep whole
    customers (:func:`journey_filters`), so views skip their sort; otherwise they are left
    out and every view computes from the filtered events.
    """
    info = workspace.get(dataset_id)
    whole = info.kind == "events" and journey_filters(
        filters, info.profile.get("customer_level", []))
    frame = nw.from_native(workspace.table(dataset_id, precomputed=whole))
    frame = canonical(frame, info.kind, filters, whole_journeys=whole)
    return vouch_intact(frame) if whole else frame


def load_with_feedback(
    workspace: Workspace,
    events_id: str,
    feedback_id: str | None,
    filters: Filters | None = None,
) -> tuple[nw.LazyFrame, nw.LazyFrame | None]:
    """Events and their linked feedback, filtered consistently, on one connection.

    Feedback keeps the date filter; the other filters select customers through the events
    (feedback of the customers whose events pass them) when feedback has a customer_id,
    since a survey's own channel is not the channel of the journey being filtered.
    """
    con = workspace.cursor()
    whole = journey_filters(filters, workspace.get(events_id).profile.get("customer_level", []))
    events = canonical(nw.from_native(workspace.table(events_id, con, precomputed=whole)),
                       "events", filters, whole_journeys=whole)
    if whole:
        vouch_intact(events)
    if feedback_id is None:
        return events, None
    feedback = canonical(nw.from_native(workspace.table(feedback_id, con)), "feedback")
    if not filters:
        return events, feedback
    feedback = apply_filters(feedback, Filters(start=filters.start, end=filters.end))
    narrowing = filters.channels or filters.attributes
    if narrowing and "customer_id" in feedback.collect_schema().names():
        customers = events.select("customer_id").unique()
        feedback = feedback.join(customers, on="customer_id", how="semi")
    return events, feedback
