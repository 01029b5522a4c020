"""The journey map a CX workshop draws by hand, drawn from the data.

Columns are the stages in order (without a stage column, the k-th event: "Step 1" … "Step
N+"). A customer *enters* a stage through the touchpoint of their first event in it, so a
stage's cells add up to its customers. The heavy work (journey order, first event per customer
and stage, the next stage reached) runs in the engine through Narwhals
(:mod:`analysis.touchpoints.journey_flow`); only aggregates, the feedback rows and the
numbered events of the customers who gave feedback reach pandas.

Emotion: feedback is linked to touchpoints by :func:`analysis.painpoints.link_feedback`; a row
belongs to the stage of the customer's latest event of the linked touchpoint at or before it
(ties: last in journey order), else (no customer id, no such event) to the touchpoint's stage
with the most customers touching it. Its sentiment (−1..1) is its score rescaled on its scale
when the score gave its sentiment (NPS 0–10, CSAT 1–5, CES 1–7 read per CES_HIGHER_IS_EASIER),
else the VADER compound of its English comment; rows with neither count in ``feedback`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.definitions import stage_order as guess_stage_order
from analysis.frames import canonical, to_lazy, to_pandas
from analysis.journeys import MISSING_NODE, uses_precomputed
from analysis.painpoints.linking import DEFAULT_TOLERANCE, link_feedback
from analysis.painpoints.sentiment import comment_sentiment, rescaled_scores
from analysis.results import Status, percent
from analysis.schema import MissingColumnError, ParameterError, unknown_values_error
from analysis.touchpoints.journey_flow import flow, stage_events, touchpoint_names

CELL_COLUMNS = ("stage", "stage_index", "channel", "touchpoint", "customers", "touched",
                "next_stage_share", "median_seconds_in_stage", "feedback", "mean_sentiment",
                "negative_share", "pain_point", "pain_rank")
STAGE_COLUMNS = ("stage", "stage_index", "customers", "next_stage_share",
                 "median_seconds_in_stage", "feedback", "mean_sentiment", "negative_share")
#: Without a pain-point table, a cell is pinned when it has at least this many rated answers
#: and at least this share of them is negative.
MIN_RATED = 10
MIN_NEGATIVE_SHARE = 0.25
_FEEDBACK_COLUMNS = ("timestamp", "customer_id", "touchpoint", "text", "score", "scale")
STEPS_HINT = ("The data has no stage column, so columns are journey steps (the k-th event). "
              "Map a stage column on the Data page to see real stages.")


@dataclass(frozen=True)
class JourneyMap:
    """A journey map: cells per (stage, touchpoint), stages with the emotion curve.

    ``cells``: stage, stage_index (0-based), channel (the touchpoint's most frequent in the
    stage, "(none)" when missing), touchpoint, customers (entered the stage through it),
    touched (customers with any event of it in the stage), next_stage_share (of those who
    entered here, the share with an event in the next stage after entering; NaN in the last
    stage), median_seconds_in_stage (entering to the first later event in a later stage, or
    to the last event in the stage for those who never move on), feedback (rows placed
    here), mean_sentiment (−1..1), negative_share (of rated rows), pain_point (label or None),
    pain_rank (1 = worst pinned). ``stages``: the same per stage; mean_sentiment is the curve.
    """

    cells: pd.DataFrame
    stages: pd.DataFrame
    stage_order: tuple[str, ...]
    from_steps: bool
    segment: str | None
    status: Status
    message: str


def journey_map(
    events: Any, feedback: Any = None, *, stages: Sequence[str] | None = None,
    segment_column: str | None = None, segment: str | None = None,
    pain_points: pd.DataFrame | None = None, top_pain_points: int = 5, max_steps: int = 6,
    tolerance: timedelta | None = DEFAULT_TOLERANCE, skip_absent_stages: bool = False,
) -> JourneyMap:
    """The journey map of all customers, or of one persona or segment.

    Parameters
    ----------
    events
        Canonical events (pandas, Polars, DuckDB, PySpark); not modified.
    feedback
        Canonical feedback, or None for a map without emotion (see the module notes).
    stages
        Stage names in journey order; None orders the data's stages by
        :func:`analysis.definitions.stage_order`. Events in other stages are left out.
    segment_column, segment
        Keep the customers whose events hold ``segment`` in ``segment_column`` ("persona",
        "Loyalist"), and their feedback; a value not in the data gives an "empty" map.
    pain_points, top_pain_points
        A ``painpoints.priority_matrix``-like table (touchpoint, topic, priority,
        negative_share, optionally topic_id): its ``top_pain_points`` rows of highest
        priority with a topic (topic_id ≥ 0) are pinned to their touchpoint's cells as
        "topic (n% negative)". None pins the cells with ≥ ``MIN_RATED`` rated answers and a
        negative share ≥ ``MIN_NEGATIVE_SHARE``, most negative first. 0 pins none.
    max_steps, tolerance
        Without a stage column, the number of step columns ("Step N+" holds the rest); the
        longest gap from an event to the feedback linked to it (see ``link_feedback``).
    skip_absent_stages
        Leave out the ``stages`` the events lack (a filter can remove every event of a
        stage) instead of raising; when none is left, order the data's own stages.

    Returns
    -------
    JourneyMap
        See the class for every column.
    """
    _check_counts(top_pain_points, max_steps)
    lf = canonical(events, "events")
    from_steps = "stage" not in lf.collect_schema().names()
    counts = None if from_steps else _stage_counts(lf)
    order = _order(lf, stages, from_steps, counts, skip_absent_stages)
    notes = [STEPS_HINT] if from_steps else _left_out_note(counts, order)
    lf, problem = _segment(lf, segment_column, segment)
    if problem:
        return _empty(order, from_steps, segment, problem)
    touchpoints = touchpoint_names(lf)
    # Every event with a touchpoint mapped (a time, a stage of the map), for everyone and so
    # for any segment: the precomputed step numbers are the places on the map.
    whole = counts is not None and counts["steps"].sum() == counts.loc[
        counts["stage"].isin(order), "dated"].sum()
    ev = stage_events(lf, order, max_steps if from_steps else None, touchpoints,
                      places=bool(whole))
    if from_steps:
        deepest = ev.select(nw.col("_si").max()).collect().item()
        order = [f"Step {k}" + ("+" if k == max_steps else "")
                 for k in range(1, (0 if deepest is None else int(deepest) + 1) + 1)]
    if not order:
        return _empty(order, from_steps, segment, "No events to map after filters.")
    cells, stage_rows = flow(ev, len(order), touchpoints)
    if feedback is not None:
        rated = _feedback_rows(feedback, lf, ev, cells, tolerance, segment is not None,
                               touchpoints)
        cells = _with_emotion(cells, rated, ["_si", "touchpoint"])
        stage_rows = _with_emotion(stage_rows, rated, ["_si"])
    cells = _pin(cells, pain_points, top_pain_points)
    cells = _finish(cells, order, CELL_COLUMNS)
    return JourneyMap(cells, _finish(stage_rows, order, STAGE_COLUMNS), tuple(order), from_steps,
                      segment, "ok" if len(cells) else "empty",
                      " ".join(notes) if len(cells) else "No events to map after filters.")


def _check_counts(top_pain_points: int, max_steps: int) -> None:
    for name, value, least in (("top_pain_points", top_pain_points, 0),
                               ("max_steps", max_steps, 2)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise ParameterError(f"{name} must be a whole number ≥ {least}, got {value!r}.",
                                 f"Pass e.g. {name}={max(least, 5)}.")


def _order(lf: nw.LazyFrame, stages: Sequence[str] | None, from_steps: bool,
           counts: pd.DataFrame | None, skip_absent: bool = False) -> list[str]:
    """The stages in map order; ``counts``: :func:`_stage_counts` (None in steps mode)."""
    if from_steps and stages is not None:
        raise MissingColumnError("The events have no stage column to order by `stages`.",
                                 "Map a stage column when importing, or pass stages=None.")
    if from_steps or stages is None:
        return [] if from_steps else guess_stage_order(lf)
    if isinstance(stages, str):
        raise ParameterError(f"stages must be a list, got the text {stages!r}.",
                             f"Write [{stages!r}, ...] in journey order.")
    order = [str(s) for s in stages]
    if len(set(order)) < len(order):
        raise ParameterError("stages lists a stage twice.", "Name each stage once, in order.")
    present = set(counts["stage"].dropna())  # a stage column: counted by the caller
    unknown = [s for s in order if s not in present]
    if unknown and skip_absent:
        order = [s for s in order if s in present]
        return order or guess_stage_order(lf)
    if unknown and present:
        raise unknown_values_error("stage", unknown, sorted(present))
    return order


def _distinct(lf: nw.LazyFrame, column: str) -> set[str]:
    if isinstance(lf.collect_schema()[column], nw.Enum | nw.Categorical):
        # Distinct in the stored type (a small number per row), text afterwards.
        values = to_pandas(lf.select(column).unique())[column].dropna()
        return set(map(str, values.astype(object)))
    return set(to_pandas(lf.select(nw.col(column).cast(nw.String)).unique())[column].dropna())


def _stage_counts(lf: nw.LazyFrame) -> pd.DataFrame:
    """Per stage (text; None when missing): events, steps (with a touchpoint) and dated steps
    (with a time too), counted per stage as stored (an ENUM groups by number)."""
    # With precomputed steps, a step is an event with a touchpoint (no ENUM cast to test).
    step = ~nw.col("_step" if uses_precomputed(lf) else "touchpoint").is_null()
    stored = isinstance(lf.collect_schema()["stage"], nw.Enum | nw.Categorical)
    stage = nw.col("stage") if stored else nw.col("stage").cast(nw.String)  # text as the map
    counts = to_pandas(lf.group_by(stage).agg(
        nw.len().alias("events"), step.cast(nw.Int64).sum().alias("steps"),
        (step & ~nw.col("timestamp").is_null()).cast(nw.Int64).sum().alias("dated")))
    counts["stage"] = [None if pd.isna(v) else str(v) for v in counts["stage"].astype(object)]
    return counts


def _left_out_note(counts: pd.DataFrame, order: list[str]) -> list[str]:
    """A sentence on the events whose stage is missing or not in the order, if any."""
    out = counts[counts["stage"].isna() | ~counts["stage"].isin(order)]
    named = ", ".join(sorted(MISSING_NODE if s is None else s for s in out["stage"])[:5])
    return [f"{int(out['events'].sum()):,} events in stages outside the map ({named}) are left "
            "out."] if len(out) else []


def _segment(lf: nw.LazyFrame, column: str | None, value: str | None
             ) -> tuple[nw.LazyFrame, str]:
    """Events of the segment's customers, or a message when the value is not in the data."""
    if value is None:
        return lf, ""
    if column is None:
        raise ParameterError("A segment value needs its column.",
                             "Pass segment_column='persona' (the attribute) with segment.")
    if column not in lf.collect_schema().names():
        raise MissingColumnError(f"The events have no column {column!r} to pick a segment by.",
                                 "Pass one of the attribute columns, e.g. 'persona'.")
    present = _distinct(lf, column)
    if str(value) not in present:
        listed = ", ".join(sorted(present)[:10]) or "no values"
        return lf, f"No customer has {column} = {value!r}; the data has {listed}."
    customers = lf.filter(nw.col(column).cast(nw.String) == str(value)).select("customer_id")
    return lf.join(customers.unique(), on="customer_id", how="semi"), ""


def _feedback_rows(feedback: Any, lf: nw.LazyFrame, ev: nw.LazyFrame, cells: pd.DataFrame,
                   tolerance: timedelta | None, in_segment: bool, touchpoints: list[str]
                   ) -> pd.DataFrame:
    """Feedback rows placed on the map: _si, touchpoint, _value (−1..1), _negative (1/0)."""
    fb = canonical(feedback, "feedback")
    wanted = [c for c in fb.collect_schema().names() if c in _FEEDBACK_COLUMNS]
    frame = to_pandas(fb.select(wanted)).reset_index(drop=True)
    links = link_feedback(frame, lf, tolerance=tolerance)
    mood = comment_sentiment(frame)
    rows = pd.DataFrame({
        "customer_id": pd.Series(frame.get("customer_id", pd.NA), index=frame.index)
        .astype("string"),
        "timestamp": pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None)
        .astype("datetime64[ns]"),
        "touchpoint": links["linked_touchpoint"].astype(object),
        "_value": sentiment_values(frame, mood),
        "_negative": np.where(mood["sentiment"] == "unknown", np.nan,
                              (mood["sentiment"] == "negative").astype(float)),
    })
    rows = rows[rows["touchpoint"].notna()]
    return _place(rows, ev, cells, in_segment, touchpoints)


def sentiment_values(feedback: pd.DataFrame, mood: pd.DataFrame) -> np.ndarray:
    """Each feedback row's sentiment on −1..1: its score rescaled on its scale when the score
    gave the sentiment, else the VADER compound of its comment, else NaN.

    ``mood`` is ``comment_sentiment(feedback)``.
    """
    values = mood["compound"].to_numpy(dtype=float).copy()  # NaN unless read from text
    from_score = (mood["sentiment_source"] == "score").to_numpy()
    if not from_score.any():
        return values
    scores = rescaled_scores(feedback["score"], feedback["scale"]).to_numpy(dtype=float)
    values[from_score] = scores[from_score] / 50 - 1
    return values


# Fixed identifiers only (no value enters SQL text): the mapped events are ``mapped`` and the
# feedback rows to place the local pandas frame ``journey_map_rows``. The as-of join finds the
# instant of each row's latest event of its customer and touchpoint; of the events at that
# instant, the last in journey order (highest ``_pos``) gives the stage.
_PLACE_SQL = """
WITH events AS MATERIALIZED (
    SELECT CAST(customer_id AS VARCHAR) AS customer_id, _tc,
           CAST({stamp} AS TIMESTAMP_NS) AS "timestamp", _pos, _si
    FROM mapped WHERE CAST(customer_id AS VARCHAR) IN (SELECT customer_id FROM journey_map_rows)
),
matched AS (
    SELECT f._row, f.customer_id, f._tc, e."timestamp" AS event_time
    FROM journey_map_rows AS f
    ASOF JOIN events AS e
      ON f.customer_id = e.customer_id AND f._tc = e._tc AND f."timestamp" >= e."timestamp"
)
SELECT m._row, arg_max(e._si, e._pos) AS _si
FROM matched AS m
JOIN events AS e ON e.customer_id = m.customer_id AND e._tc = m._tc
                 AND e."timestamp" = m.event_time
GROUP BY m._row
"""
_KNOWN_SQL = """
SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM mapped
WHERE CAST(customer_id AS VARCHAR) IN (SELECT customer_id FROM journey_map_rows)
"""


def _place(rows: pd.DataFrame, ev: nw.LazyFrame, cells: pd.DataFrame, in_segment: bool,
           touchpoints: list[str]) -> pd.DataFrame:
    """``rows`` with ``_si``: the stage of the customer's latest event of the touchpoint at or
    before the feedback, else the touchpoint's most touched stage (outside a segment only)."""
    rows = rows.assign(_row=np.arange(len(rows)))
    ids = rows["customer_id"].astype(object).where(rows["customer_id"].notna(), None)
    journey_map_rows = pd.DataFrame({  # read by DuckDB under this name
        "_row": rows["_row"].to_numpy(), "customer_id": ids.to_numpy(dtype=object),
        "timestamp": rows["timestamp"].to_numpy(),
        "_tc": pd.Index(touchpoints).get_indexer(rows["touchpoint"]).astype("int64")})
    kept = journey_map_rows["customer_id"].notna() & (journey_map_rows["_tc"] >= 0)
    journey_map_rows = journey_map_rows[kept]
    mapped = _mapped_events(ev, journey_map_rows)
    if in_segment:  # feedback of customers without a mapped event is outside the segment
        known = mapped.to_native().query("mapped", _KNOWN_SQL).df()["customer_id"]
        rows = rows[rows["customer_id"].isin(set(known))]
    # Rows without a time match no event (the as-of condition is never true). Zone-aware
    # event times are taken in UTC, as the feedback's are.
    zoned = getattr(mapped.collect_schema()["timestamp"], "time_zone", None) is not None
    sql = _PLACE_SQL.format(stamp="timezone('UTC', \"timestamp\")" if zoned else '"timestamp"')
    found = mapped.to_native().query("mapped", sql).df()
    stage = pd.Series(found["_si"].to_numpy(float), found["_row"].to_numpy()).reindex(
        rows["_row"])
    usual = (cells.sort_values(["touched", "_si"], ascending=[False, True])
             .drop_duplicates("touchpoint").set_index("touchpoint")["_si"])
    fallback = rows["touchpoint"].map(usual).to_numpy(dtype=float)
    rows = rows.assign(_si=np.where(stage.isna(), fallback, stage.to_numpy()))
    return rows[rows["_si"].notna()].astype({"_si": "int64"})


def _mapped_events(ev: nw.LazyFrame, rows: pd.DataFrame) -> nw.LazyFrame:
    """``ev`` (the mapped events) where DuckDB can join it with the feedback rows: as it is
    on DuckDB; from other engines only the feedback customers' events, as Arrow."""
    if ev.implementation is nw.Implementation.DUCKDB:
        return ev
    ids = sorted(set(rows["customer_id"])) or [""]
    part = ev.filter(nw.col("customer_id").cast(nw.String).is_in(ids)).select(
        "customer_id", "_tc", "timestamp", "_pos", "_si")
    return to_lazy(part.collect().to_arrow())


def _with_emotion(table: pd.DataFrame, rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = rows.groupby(keys).agg(feedback=("_value", "size"), mean_sentiment=("_value", "mean"),
                                     _rated=("_negative", "count"), _neg=("_negative", "sum"))
    grouped["negative_share"] = grouped["_neg"] / grouped["_rated"].where(grouped["_rated"] > 0)
    return table.merge(grouped.reset_index(), on=keys, how="left")


def _pin(cells: pd.DataFrame, table: pd.DataFrame | None, top: int) -> pd.DataFrame:
    """Cells with ``pain_point`` (label) and ``pain_rank`` set where a pain point is pinned."""
    cells = cells.assign(pain_point=None, pain_rank=np.nan)
    if table is not None:
        pins = _table_pins(table, cells, top)
    elif "_rated" in cells:
        bad = cells[(cells["_rated"] >= MIN_RATED)
                    & (cells["negative_share"] >= MIN_NEGATIVE_SHARE)]
        bad = bad.sort_values(["negative_share", "_rated"], ascending=False).head(top)
        pins = [(cells.index == i, f"{percent(share)} negative feedback")
                for i, share in bad["negative_share"].items()]
    else:
        pins = []
    for rank, (hit, label) in enumerate(pins, start=1):
        cells.loc[hit, "pain_point"] = [f"{p}; {label}" if p else label
                                        for p in cells.loc[hit, "pain_point"]]
        cells.loc[hit, "pain_rank"] = cells.loc[hit, "pain_rank"].fillna(rank)
    return cells


def _table_pins(table: pd.DataFrame, cells: pd.DataFrame, top: int) -> list[tuple[Any, str]]:
    """(touchpoint selector, label) of the ``top`` pain points of highest priority."""
    missing = [c for c in ("touchpoint", "topic", "priority", "negative_share")
               if c not in table.columns]
    if missing:
        raise MissingColumnError(f"pain_points needs the column(s) {', '.join(missing)}.",
                                 "Pass painpoints.priority_matrix(...) unchanged.")
    real = table["topic_id"] >= 0 if "topic_id" in table else table["topic"].notna()
    rows = table[real & table["touchpoint"].isin(set(cells["touchpoint"]))].sort_values(
        "priority", ascending=False, kind="stable").head(top)
    return [((cells["touchpoint"] == touchpoint).to_numpy(),
             f"{topic} ({percent(share)} negative)" if pd.notna(share) else str(topic))
            for touchpoint, topic, share in rows[["touchpoint", "topic", "negative_share"]]
            .itertuples(index=False)]


def _finish(table: pd.DataFrame, order: list[str], columns: Sequence[str]) -> pd.DataFrame:
    """The public columns, typed, in stage then size order (stages: every stage of order)."""
    out = table.assign(**{c: np.nan for c in ("feedback", "mean_sentiment", "negative_share")
                          if c not in table})
    if "touchpoint" in columns:
        out = out.sort_values(["_si", "customers", "touched", "touchpoint"],
                              ascending=[True, False, False, True])
    else:
        out = out.set_index("_si").reindex(range(len(order))).rename_axis("_si").reset_index()
    out["stage_index"] = out["_si"].astype("int64")
    out["stage"] = [order[i] for i in out["stage_index"]]
    for column in ("customers", "touched", "feedback"):
        if column in columns:
            out[column] = out[column].fillna(0).astype("int64")
    return out[list(columns)].reset_index(drop=True)


def _empty(order: list[str], from_steps: bool, segment: str | None, message: str) -> JourneyMap:
    cells = pd.DataFrame({c: [] for c in (*CELL_COLUMNS, "_si")})
    return JourneyMap(_finish(cells, order, CELL_COLUMNS), _finish(cells, order, STAGE_COLUMNS),
                      tuple(order), from_steps, segment, "empty", message)
