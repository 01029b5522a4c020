"""Transitions between consecutive steps, and how customers switch channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import pandas as pd

from analysis.frames import as_int, canonical, seconds_between
from analysis.journeys import NodeBy, journeys, totals
from analysis.paths.sankey import check_anchors
from analysis.results import Coverage, Status, status_of


@dataclass(frozen=True)
class Transitions:
    """Every move between consecutive steps (``table``, see :func:`transition_matrix`) and the
    customers and events taking part."""

    table: pd.DataFrame
    coverage: Coverage
    status: Status = "ok"
    message: str = ""


def transitions(
    events: Any,
    *,
    node_by: NodeBy = "touchpoint",
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
) -> Transitions:
    """Every move from one step to the next over whole journeys.

    Returns
    -------
    Transitions
        ``table`` as described in :func:`transition_matrix`; ``coverage``: customers with at
        least one move and the events taking part.
    """
    lf = canonical(events, "events")
    check_anchors(lf, None, None, exclude)
    return _transitions(lf, node_by, exclude, collapse_repeats)


def transition_matrix(
    events: Any,
    *,
    node_by: NodeBy = "touchpoint",
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
) -> pd.DataFrame:
    """Every move from one step to the next over whole journeys.

    Returns
    -------
    DataFrame with columns source, target, transitions (number of moves), customers (distinct
    customers making the move), share_of_row (transitions / all moves out of source) and
    median_seconds (median time between the two steps), sorted by source then transitions.
    """
    return transitions(events, node_by=node_by, exclude=exclude,
                       collapse_repeats=collapse_repeats).table


def _transitions(
    lf: nw.LazyFrame, node_by: NodeBy, exclude: Sequence[str], collapse_repeats: bool
) -> Transitions:
    customers_total, events_total = totals(lf)
    steps = journeys(lf, node_by=node_by, exclude=exclude, collapse_repeats=collapse_repeats,
                     with_step=False)
    moves = steps.filter(~nw.col("next_node").is_null())
    moves = moves.with_columns(seconds_between(moves, "next_timestamp", "timestamp").alias("_gap"))
    out = (
        moves.group_by("node", "next_node")
        .agg(
            nw.len().alias("transitions"),
            nw.col("customer_id").n_unique().alias("customers"),
            nw.col("_gap").median().alias("median_seconds"),
        )
        .rename({"node": "source", "next_node": "target"})
        .collect()
        .to_pandas()
    )
    out = out.astype({"source": str, "target": str, "transitions": int, "customers": int})
    out["median_seconds"] = out["median_seconds"].astype(float)
    out["share_of_row"] = out["transitions"] / out.groupby("source")["transitions"].transform("sum")
    out = out.sort_values(["source", "transitions", "target"], ascending=[True, False, True])
    out = out[["source", "target", "transitions", "customers", "share_of_row", "median_seconds"]]
    out = out.reset_index(drop=True)
    coverage = _moving_customers(lf, exclude, customers_total, events_total,
                                 moves if collapse_repeats else None)
    status = status_of(len(out))
    message = "" if status == "ok" else "No customer has two steps, so there is no move."
    return Transitions(out, coverage, status, message)


def _moving_customers(
    lf: nw.LazyFrame,
    exclude: Sequence[str],
    customers_total: int,
    events_total: int,
    moves: nw.LazyFrame | None,
) -> Coverage:
    """Customers with at least one move, and their events (a customer with k moves has k + 1).

    Without collapsed repeats this needs no window: customers with two or more events.
    """
    if moves is not None:
        row = moves.select(nw.col("customer_id").n_unique().alias("c"), nw.len().alias("m"))
        row = row.collect().to_pandas().iloc[0]
        return Coverage(as_int(row["c"]), customers_total, as_int(row["m"]) + as_int(row["c"]),
                        events_total)
    if exclude:
        lf = lf.filter(~nw.col("touchpoint").cast(nw.String).is_in(list(exclude)))
    row = (
        lf.group_by("customer_id").agg(nw.len().alias("n")).filter(nw.col("n") > 1)
        .select(nw.len().alias("c"), nw.col("n").sum().alias("e"))
        .collect().to_pandas().iloc[0]
    )
    return Coverage(as_int(row["c"]), customers_total, as_int(row["e"]), events_total)


@dataclass(frozen=True)
class ChannelSwitching:
    """How customers move between channels.

    ``matrix``: source_channel, target_channel, transitions, customers, share_of_row, over
    consecutive events (missing channels excluded). ``cross_channel_share``: customers using
    two or more channels / customers with a channel. ``switch_share``: moves that change
    channel / all moves.
    """

    matrix: pd.DataFrame
    customers: int
    cross_channel_customers: int
    cross_channel_share: float
    switch_share: float
    coverage: Coverage
    status: Status = "ok"
    message: str = ""


def channel_switching(events: Any, *, exclude: Sequence[str] = ()) -> ChannelSwitching:
    """Channel-to-channel moves and the share of journeys that cross channels."""
    lf = canonical(events, "events")
    check_anchors(lf, None, None, exclude)
    customers_total, events_total = totals(lf)
    if "channel" not in lf.collect_schema().names():
        empty = pd.DataFrame(columns=["source_channel", "target_channel", "transitions",
                                      "customers", "share_of_row"])
        return ChannelSwitching(empty, 0, 0, 0.0, 0.0,
                                Coverage(0, customers_total, 0, events_total), "degenerate",
                                "The events have no channel column.")
    with_channel = lf.filter(~nw.col("channel").is_null())
    matrix = _transitions(with_channel, "channel", exclude, False).table.rename(
        columns={"source": "source_channel", "target": "target_channel"}
    )[["source_channel", "target_channel", "transitions", "customers", "share_of_row"]]
    per = (
        with_channel.group_by("customer_id")
        .agg(nw.col("channel").n_unique().alias("n"))
        .select(nw.len().alias("customers"),
                (nw.col("n") > 1).cast(nw.Int64).sum().alias("cross"))
        .collect().to_pandas().iloc[0]
    )
    customers, cross = as_int(per["customers"]), as_int(per["cross"])
    moves = int(matrix["transitions"].sum())
    switches = int(
        matrix.loc[matrix["source_channel"] != matrix["target_channel"], "transitions"].sum()
    )
    coverage = Coverage(customers, customers_total,
                        as_int(with_channel.select(nw.len()).collect().item()), events_total)
    return ChannelSwitching(
        matrix=matrix,
        customers=customers,
        cross_channel_customers=cross,
        cross_channel_share=cross / customers if customers else 0.0,
        switch_share=switches / moves if moves else 0.0,
        coverage=coverage,
        status="ok" if moves else "degenerate",
        message="" if moves else "No customer has two events with a channel.",
    )
