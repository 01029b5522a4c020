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
import pandas as pd

from analysis.schema import REQUIRED, AnalysisError, Kind

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


def to_lazy(data: Any) -> nw.LazyFrame:
    """A Narwhals lazy frame over pandas, Polars, Arrow, DuckDB, PySpark or Narwhals input.

    The input is never modified.
    """
    if isinstance(data, nw.LazyFrame):
        return data
    if isinstance(data, nw.DataFrame):
        return data.lazy()
    if isinstance(data, pd.DataFrame):
        return nw.from_native(duckdb.connect().from_df(data))
    try:
        frame = nw.from_native(data)
    except TypeError as exc:
        raise AnalysisError(
            f"Cannot analyse a {type(data).__name__}.",
            "Pass a pandas, Polars, DuckDB or PySpark table in canonical columns.",
        ) from exc
    if isinstance(frame, nw.DataFrame):
        if frame.implementation.is_pandas_like() or frame.implementation.is_pyarrow():
            return nw.from_native(duckdb.connect().from_arrow(frame.to_arrow()))
        return frame.lazy()
    return frame


def as_int(value: Any) -> int:
    """An aggregate as int; SQL engines return NULL (NaN) for counts over no rows."""
    return 0 if value is None or pd.isna(value) else int(value)


def require_columns(frame: nw.LazyFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    """Raise an :class:`AnalysisError` naming the missing canonical columns."""
    names = frame.collect_schema().names()
    missing = [c for c in columns if c not in names]
    if missing:
        raise AnalysisError(
            f"{what} needs the column(s) {', '.join(missing)}; the table has "
            f"{', '.join(names[:15]) or 'no columns'}.",
            "Rename them, or import the file with ingest.prepare to map its columns.",
        )


def canonical(data: Any, kind: Kind = "events", filters: Filters | None = None) -> nw.LazyFrame:
    """Lazy frame of ``kind`` with its required columns checked and ``filters`` applied."""
    frame = to_lazy(data)
    require_columns(frame, REQUIRED[kind], f"A {kind} table")
    schema = frame.collect_schema()
    if "timestamp" in schema and not isinstance(schema["timestamp"], nw.Datetime | nw.Date):
        raise AnalysisError(
            f"The timestamp column holds {schema['timestamp']}, not dates.",
            "Convert it first, e.g. with ingest.prepare(df, ingest.guess_mapping(df, kind), kind).",
        )
    return apply_filters(frame, filters) if filters else frame


def apply_filters(frame: nw.LazyFrame, filters: Filters) -> nw.LazyFrame:
    """Keep the rows that pass every filter whose column the frame has."""
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
    for condition in conditions:
        frame = frame.filter(condition)
    return frame


def load(
    workspace: Workspace, dataset_id: str, filters: Filters | None = None
) -> nw.LazyFrame:
    """A stored dataset as a lazy frame with ``filters`` applied."""
    info = workspace.get(dataset_id)
    frame = nw.from_native(workspace.table(dataset_id))
    return canonical(frame, info.kind, filters)


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
    events = canonical(nw.from_native(workspace.table(events_id, con)), "events", filters)
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
