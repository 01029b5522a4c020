"""The journey map a CX workshop draws by hand, drawn from the data.

Columns are the stages in order (without a stage column, the k-th event: "Step 1" … "Step
N+"). A customer *enters* a stage through the touchpoint of their first event in it, so a
stage's cells add up to its customers. The heavy work (journey order, first event per customer
and stage, the next stage reached) is Narwhals window expressions in the engine; only
aggregates and the feedback rows reach pandas.

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
from analysis.frames import canonical, materialize, seconds_between, to_pandas
from analysis.journeys import MISSING_NODE, order_columns, ordered_window
from analysis.painpoints.linking import DEFAULT_TOLERANCE, link_feedback
from analysis.painpoints.sentiment import comment_sentiment, rescaled_scores
from analysis.results import Status, percent
from analysis.schema import MissingColumnError, ParameterError, unknown_values_error

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
    tolerance: timedelta | None = DEFAULT_TOLERANCE,
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

    Returns
    -------
    JourneyMap
        See the class for every column.
    """
    _check_counts(top_pain_points, max_steps)
    lf = canonical(events, "events")
    from_steps = "stage" not in lf.collect_schema().names()
    order = _order(lf, stages, from_steps)
    notes = [STEPS_HINT] if from_steps else _left_out_note(lf, order)
    lf, problem = _segment(lf, segment_column, segment)
    if problem:
        return _empty(order, from_steps, segment, problem)
    ev = _stage_events(lf, order, max_steps if from_steps else None)
    if from_steps:
        deepest = ev.select(nw.col("_si").max()).collect().item()
        order = [f"Step {k}" + ("+" if k == max_steps else "")
                 for k in range(1, (0 if deepest is None else int(deepest) + 1) + 1)]
    if not order:
        return _empty(order, from_steps, segment, "No events to map after filters.")
    cells, stage_rows = _flow(ev, len(order))
    if feedback is not None:
        rated = _feedback_rows(feedback, lf, ev, cells, tolerance, segment is not None)
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


def _order(lf: nw.LazyFrame, stages: Sequence[str] | None, from_steps: bool) -> list[str]:
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
    present = _distinct(lf, "stage")
    unknown = [s for s in order if s not in present]
    if unknown and present:
        raise unknown_values_error("stage", unknown, sorted(present))
    return order


def _distinct(lf: nw.LazyFrame, column: str) -> set[str]:
    return set(to_pandas(lf.select(nw.col(column).cast(nw.String)).unique())[column].dropna())


def _left_out_note(lf: nw.LazyFrame, order: list[str]) -> list[str]:
    """A sentence on the events whose stage is missing or not in the order, if any."""
    stage = nw.col("stage").cast(nw.String)
    out = lf.filter(stage.is_null() | ~stage.is_in(order or [""]))
    counts = to_pandas(out.group_by(stage.fill_null(MISSING_NODE).alias("s")).agg(nw.len()))
    named = ", ".join(sorted(map(str, counts["s"]))[:5])
    return [f"{int(counts['len'].sum()):,} events in stages outside the map ({named}) are left "
            "out."] if len(counts) else []


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


def _stage_events(lf: nw.LazyFrame, order: list[str], max_steps: int | None) -> nw.LazyFrame:
    """customer_id, touchpoint, _channel, timestamp, _pos, _si, next__si, next_timestamp."""
    names, ordering = lf.collect_schema().names(), order_columns(lf.collect_schema().names())
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    channel = (nw.col("channel").cast(nw.String).fill_null(MISSING_NODE) if "channel" in names
               else nw.lit(MISSING_NODE))
    lf = lf.filter(~nw.col("touchpoint").is_null(), ~nw.col("timestamp").is_null())
    keep = ["customer_id", *dict.fromkeys([*ordering, "touchpoint"])]
    if max_steps is None:
        stage = nw.col("stage").cast(nw.String)
        index = nw.sum_horizontal(*[(stage == s).cast(nw.Int64) * i for i, s in enumerate(order)]
                                  or [nw.lit(0)])
        lf = lf.filter(stage.is_in(order or [""])).select(*keep, channel.alias("_channel"),
                                                  index.alias("_si"))
        lf = ordered_window(lf, ordering, step="_pos", following=["_si", "timestamp"])
    else:
        lf = ordered_window(lf.select(*keep, channel.alias("_channel")), ordering,
                            step="_pos", following=["timestamp"])
        last = nw.lit(max_steps - 1)
        lf = lf.with_columns(
            nw.min_horizontal(nw.col("_pos") - 1, last).alias("_si"),
            nw.when(~nw.col("next_timestamp").is_null())
            .then(nw.min_horizontal(nw.col("_pos"), last)).alias("next__si"))
    return materialize(lf.select(
        "customer_id", nw.col("touchpoint").cast(nw.String), "_channel", "timestamp",
        nw.col("_pos").cast(nw.Int64), nw.col("_si").cast(nw.Int64),
        nw.col("next__si").cast(nw.Int64), "next_timestamp"))


def _flow(ev: nw.LazyFrame, n_stages: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells and stages with their flow measures, from one row per customer and stage."""
    part = ["customer_id", "_si"]
    entries = materialize(ev.with_columns(
        nw.col("_pos").min().over(*part).alias("_entry_pos"),
        nw.col("_pos").max().over(*part).alias("_last_pos"),
        nw.col("timestamp").max().over(*part).alias("_last_ts"),
    ).filter(nw.col("_pos") == nw.col("_entry_pos")).select(
        *part, "touchpoint", "_entry_pos", nw.col("timestamp").alias("_entry_ts"),
        "_last_pos", "_last_ts"))
    # A customer moves on at the first later event in a later stage; such an event always
    # starts a run of its stage, so only run starts are joined back.
    starts = ev.filter(~nw.col("next__si").is_null(), nw.col("next__si") != nw.col("_si")).select(
        "customer_id", (nw.col("_pos") + 1).alias("_move_pos"),
        nw.col("next__si").alias("_move_si"), nw.col("next_timestamp").alias("_move_ts"))
    moved = (entries.select(*part, "_entry_pos").join(starts, on="customer_id")
             .filter(nw.col("_move_si") > nw.col("_si"),
                     nw.col("_move_pos") > nw.col("_entry_pos"))
             .group_by(*part).agg(nw.col("_move_ts").min().alias("_moved_ts")))
    following = entries.select("customer_id", (nw.col("_si") - 1).alias("_si"),
                               nw.col("_last_pos").alias("_next_last"))
    table = entries.join(moved, on=part, how="left").join(following, on=part, how="left")
    reached = (~nw.col("_next_last").is_null()
               & (nw.col("_next_last") > nw.col("_entry_pos"))).cast(nw.Float64)
    table = table.with_columns(
        nw.when(nw.col("_si") < n_stages - 1).then(reached).alias("_next"),
        nw.coalesce(nw.col("_moved_ts"), nw.col("_last_ts")).alias("_end"))
    table = materialize(table.with_columns(
        seconds_between(table, "_end", "_entry_ts").cast(nw.Float64).alias("_seconds")))
    measures = [nw.len().alias("customers"), nw.col("_next").mean().alias("next_stage_share"),
                nw.col("_seconds").median().alias("median_seconds_in_stage")]
    cells = to_pandas(table.group_by("_si", "touchpoint").agg(*measures))
    stage_rows = to_pandas(table.group_by("_si").agg(*measures))
    touched = to_pandas(ev.group_by("_si", "touchpoint")
                        .agg(nw.col("customer_id").n_unique().alias("touched")))
    channels = to_pandas(ev.group_by("_si", "touchpoint", "_channel").agg(nw.len().alias("_n")))
    channels = (channels.sort_values(["_n", "_channel"], ascending=[False, True])
                .drop_duplicates(["_si", "touchpoint"]).rename(columns={"_channel": "channel"}))
    cells = touched.merge(cells, on=["_si", "touchpoint"], how="left").merge(
        channels[["_si", "touchpoint", "channel"]], on=["_si", "touchpoint"], how="left")
    cells["customers"] = cells["customers"].fillna(0)
    return cells, stage_rows


def _feedback_rows(feedback: Any, lf: nw.LazyFrame, ev: nw.LazyFrame, cells: pd.DataFrame,
                   tolerance: timedelta | None, in_segment: bool) -> pd.DataFrame:
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
    return _place(rows, ev, cells, in_segment)


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


def _place(rows: pd.DataFrame, ev: nw.LazyFrame, cells: pd.DataFrame,
           in_segment: bool) -> pd.DataFrame:
    """``rows`` with ``_si``: the stage of the customer's latest event of the touchpoint at or
    before the feedback, else the touchpoint's most touched stage (outside a segment only)."""
    ids = sorted(rows["customer_id"].dropna().unique().tolist()) or [""]
    known = to_pandas(ev.filter(nw.col("customer_id").cast(nw.String).is_in(ids))
                      .select(nw.col("customer_id").cast(nw.String), "touchpoint",
                              "timestamp", "_pos", "_si"))
    stamps = pd.to_datetime(known["timestamp"], utc=True).dt.tz_localize(None)
    known = known.assign(timestamp=stamps.astype("datetime64[ns]"), customer_id=known[
        "customer_id"].astype("string")).sort_values(["timestamp", "_pos"], kind="stable")
    if in_segment:
        rows = rows[rows["customer_id"].isin(set(known["customer_id"]))]
    rows = rows.assign(_row=np.arange(len(rows)))
    dated = rows[rows["customer_id"].notna() & rows["timestamp"].notna()].sort_values(
        "timestamp", kind="stable")
    matched = pd.merge_asof(dated, known[["customer_id", "touchpoint", "timestamp", "_si"]],
                            on="timestamp", by=["customer_id", "touchpoint"],
                            direction="backward")
    stage = pd.Series(matched["_si"].to_numpy(float), matched["_row"]).reindex(rows["_row"])
    usual = (cells.sort_values(["touched", "_si"], ascending=[False, True])
             .drop_duplicates("touchpoint").set_index("touchpoint")["_si"])
    fallback = rows["touchpoint"].map(usual).to_numpy(dtype=float)
    rows = rows.assign(_si=np.where(stage.isna(), fallback, stage.to_numpy()))
    return rows[rows["_si"].notna()].astype({"_si": "int64"})


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
