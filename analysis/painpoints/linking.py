"""Which touchpoint each feedback item is about.

Feedback that names its touchpoint keeps it. Other feedback is tied to the customer's latest
journey event at or before the moment it was given, when that event is recent enough
(``tolerance``): a survey sent after a support call is about the call. The journey order is
the one of :mod:`analysis.journeys` (timestamp, then ``event_seq``), so of several events at
the same instant the last in the journey wins.

The as-of join runs in DuckDB (``ASOF JOIN``), which matches each feedback item to one event
without comparing it with every event of the customer; events from other engines (Polars,
PySpark) are reduced there first (four columns, the feedback's time span) and handed to
DuckDB as Arrow. Nothing is sorted but the events of the customers who have feedback to link.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical, naive_utc, to_lazy, to_pandas
from analysis.journeys import order_columns
from analysis.schema import EVENT_SEQ, ParameterError

Link = Literal["explicit", "preceding event", "unlinked"]
LINKS: tuple[str, ...] = ("explicit", "preceding event", "unlinked")
#: How long after its latest event a feedback item is still taken to be about it.
DEFAULT_TOLERANCE = timedelta(days=7)

# Fixed identifiers only: the feedback rows are found by DuckDB under the local name
# ``link_rows`` (a pandas frame) and the events under ``journey_events``; no value of the data
# or of a parameter is ever written into SQL text. The as-of join finds the instant of each
# item's latest event; the equi-join then takes, of the events at that instant, the last in
# journey order (``seq``). Events of customers without feedback to link are skipped first.
_ASOF_SQL = """
WITH events AS MATERIALIZED (
    SELECT customer_id, timestamp, touchpoint, seq FROM journey_events
    WHERE customer_id IN (SELECT customer_id FROM link_rows)
),
matched AS (
    SELECT f.row_id, f.customer_id, f.timestamp AS feedback_time, e.timestamp AS event_time
    FROM link_rows AS f
    ASOF JOIN events AS e ON f.customer_id = e.customer_id AND f.timestamp >= e.timestamp
)
SELECT m.row_id, arg_max(e.touchpoint, e.seq) AS linked_touchpoint,
       m.feedback_time, m.event_time
FROM matched AS m
JOIN events AS e ON e.customer_id = m.customer_id AND e.timestamp = m.event_time
GROUP BY m.row_id, m.feedback_time, m.event_time
"""

def link_feedback(
    feedback: Any, events: Any = None, *, tolerance: timedelta | None = DEFAULT_TOLERANCE
) -> pd.DataFrame:
    """The touchpoint each feedback item is about, explicit or from the customer's journey.

    Parameters
    ----------
    feedback
        A feedback table in canonical columns (pandas, Polars, DuckDB or PySpark): timestamp,
        and optionally customer_id and touchpoint. It is not modified.
    events
        The journeys (canonical events: customer_id, timestamp, touchpoint, optionally
        event_seq), or None to use the explicit touchpoints only.
    tolerance
        The longest time from an event to a feedback item linked to it (a
        ``datetime.timedelta``, zero or more); None for no limit.

    Returns
    -------
    pandas.DataFrame
        One row per feedback row, in the same order (with the same index for pandas input):

        - ``linked_touchpoint``: the feedback's own touchpoint when it has one (not blank),
          else the touchpoint of the customer's latest event at or before the feedback
          timestamp (ties at one instant: the last in journey order, the highest
          event_seq) when it is at most ``tolerance`` earlier; else None.
        - ``link``: "explicit", "preceding event" or "unlinked". Unlinked are feedback
          without a touchpoint and without a customer_id or timestamp, of customers without
          events, given before the customer's first event, or more than ``tolerance`` after
          the latest one. Unlinked rows are kept and counted, never dropped.
        - ``link_gap_seconds``: seconds from the linked event to the feedback for
          "preceding event" rows, NaN otherwise.

    Raises
    ------
    ParameterError
        When ``tolerance`` is not a non-negative timedelta or None.
    MissingColumnError
        When feedback has no timestamp, or events lack customer_id, timestamp or touchpoint.
    """
    limit = _check_tolerance(tolerance)
    frame = _feedback_columns(feedback)
    journeys = canonical(events, "events") if events is not None else None
    explicit = _labels(frame["touchpoint"]) if "touchpoint" in frame else _nones(frame.index)
    out = pd.DataFrame(
        {
            "linked_touchpoint": explicit.to_numpy(dtype=object),
            "link": np.where(explicit.notna(), "explicit", "unlinked").astype(object),
            "link_gap_seconds": np.full(len(frame), np.nan),
        },
        index=frame.index,
    )
    if journeys is None or "customer_id" not in frame:
        return out
    customers = _labels(frame["customer_id"])
    timestamps = naive_utc(frame["timestamp"])
    todo = (explicit.isna() & customers.notna() & timestamps.notna()).to_numpy()
    if not todo.any():
        return out
    link_rows = pd.DataFrame(
        {
            "row_id": np.flatnonzero(todo),
            "customer_id": customers[todo].to_numpy(dtype=object),
            "timestamp": timestamps[todo].to_numpy(),
        }
    )
    candidates = _journey_events(journeys, link_rows["timestamp"].min(),
                                 link_rows["timestamp"].max(), limit)
    found = _asof_join(link_rows, candidates)
    gap = (found["feedback_time"] - found["event_time"]).dt.total_seconds().to_numpy()
    keep = gap <= limit.total_seconds() if limit is not None else np.ones(len(gap), bool)
    rows = found["row_id"].to_numpy()[keep]
    out.iloc[rows, 0] = found["linked_touchpoint"].to_numpy(dtype=object)[keep]
    out.iloc[rows, 1] = "preceding event"
    out.iloc[rows, 2] = gap[keep].astype(float)
    return out


def _check_tolerance(tolerance: Any) -> pd.Timedelta | None:
    """``tolerance`` as a pandas Timedelta (None stays None), or a ParameterError."""
    if tolerance is None:
        return None
    valid = isinstance(tolerance, timedelta | np.timedelta64) and not pd.isna(tolerance)
    if valid and pd.Timedelta(tolerance) >= pd.Timedelta(0):
        return pd.Timedelta(tolerance)
    raise ParameterError(
        f"tolerance must be a non-negative datetime.timedelta (or None for no limit), "
        f"got {tolerance!r}.",
        "Pass e.g. tolerance=timedelta(days=7).",
    )


def _feedback_columns(feedback: Any) -> pd.DataFrame:
    """timestamp, customer_id and touchpoint of ``feedback`` as pandas (no copy for pandas)."""
    lazy = canonical(feedback, "feedback")
    if isinstance(feedback, pd.DataFrame):
        return feedback
    names = lazy.collect_schema().names()
    wanted = [c for c in ("timestamp", "customer_id", "touchpoint") if c in names]
    return to_pandas(lazy.select(wanted))


def _labels(values: pd.Series) -> pd.Series:
    """Values as stripped text, None where missing or blank."""
    text = values.astype("string").str.strip()
    text = text.where(text.notna() & (text != ""))
    return pd.Series(text.to_numpy(dtype=object, na_value=None), index=values.index,
                     dtype=object)


def _nones(index: pd.Index) -> pd.Series:
    return pd.Series(None, index=index, dtype=object)


def _journey_events(
    journeys: nw.LazyFrame, first: pd.Timestamp, last: pd.Timestamp, limit: pd.Timedelta | None
) -> nw.LazyFrame:
    """customer_id (text), timestamp (us), touchpoint (text) and seq (the tie order) of the
    events that feedback between ``first`` and ``last`` can link to.

    ``seq`` orders events at one instant by the journey rule (:mod:`analysis.journeys`):
    event_seq when the events have it, else the touchpoint name. Events outside
    [first − tolerance, last] cannot be linked to any feedback item and are left out.
    """
    order = order_columns(journeys.collect_schema().names())
    seq = EVENT_SEQ if EVENT_SEQ in order else "touchpoint"
    stamp = nw.col("timestamp").cast(nw.Datetime("us"))
    lf = journeys.filter(
        ~nw.col("customer_id").is_null(), ~nw.col("touchpoint").is_null(), ~stamp.is_null()
    ).select(
        nw.col("customer_id").cast(nw.String),
        stamp.alias("timestamp"),
        nw.col("touchpoint").cast(nw.String),
        nw.col(seq).alias("seq"),
    )
    lf = lf.filter(nw.col("timestamp") <= last.to_pydatetime())
    if limit is not None:
        lf = lf.filter(nw.col("timestamp") >= (first - limit).to_pydatetime())
    return lf


def _asof_join(link_rows: pd.DataFrame, journey_events: nw.LazyFrame) -> pd.DataFrame:
    """row_id, linked_touchpoint, feedback_time, event_time: each feedback row's latest
    event at or before it (rows without one are absent).

    ``link_rows`` is read by DuckDB's replacement scan under that name, on the connection of
    the events, so the events are never copied out of their engine when they live in DuckDB.
    """
    if journey_events.implementation is not nw.Implementation.DUCKDB:
        journey_events = to_lazy(journey_events.collect().to_arrow())
    return journey_events.to_native().query("journey_events", _ASOF_SQL).df()
