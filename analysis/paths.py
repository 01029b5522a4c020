"""Paths: Sankey links, top paths, transition and channel-switching matrices.

Steps are numbered per customer by :func:`analysis.sequences.journeys` (ordered by timestamp,
then touchpoint, then channel). Heavy work runs as Narwhals expressions on the lazy frame; only
aggregates (a few thousand rows at most) reach pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import as_int, canonical
from analysis.overview import churn_touchpoints, conversion_touchpoints
from analysis.schema import AnalysisError
from analysis.sequences import END, OTHER, Coverage, NodeBy, journeys, totals

PATH_SEPARATOR = " > "


def _check_steps(max_steps: int) -> None:
    if not isinstance(max_steps, int | np.integer) or max_steps < 2:
        raise AnalysisError(
            f"max_steps must be a whole number of at least 2, got {max_steps!r}.",
            "A path needs a source and a target step.",
        )


def sankey_links(
    events: Any,
    *,
    max_steps: int = 5,
    top_nodes: int | None = 10,
    node_by: NodeBy = "touchpoint",
    start_at: str | None = None,
    end_at: str | None = None,
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
) -> pd.DataFrame:
    """Customer flows between consecutive journey steps, for a Sankey diagram.

    Parameters
    ----------
    events
        Events in canonical columns (pandas, Polars, DuckDB or PySpark), filters applied.
    max_steps
        Number of step columns shown: links run from step 1 → 2 up to ``max_steps - 1`` →
        ``max_steps``.
    top_nodes
        Per step, the ``top_nodes`` nodes with most customers are kept and the rest fold into
        "Other" (None: no folding).
    node_by, start_at, end_at, exclude, collapse_repeats
        See :func:`analysis.sequences.journeys`. ``end_at`` keeps the ``max_steps`` steps
        leading to the anchor, numbered from the first kept step.

    Returns
    -------
    DataFrame with columns step (1-based position of the source), source, target, customers
    (distinct customers making that move at that step). A journey that ends before
    ``max_steps`` has the target "(end)". Every customer appears exactly once at step 1, so
    the step-1 total is the number of customers covered, and the flow into a node equals the
    flow out of it. ``df.attrs["coverage"]`` holds a :class:`Coverage`.
    """
    _check_steps(max_steps)
    lf = canonical(events, "events")
    customers_total, events_total = totals(lf)
    steps = journeys(
        lf, node_by=node_by, start_at=start_at, end_at=end_at, exclude=exclude,
        collapse_repeats=collapse_repeats, max_steps=max_steps, with_next_timestamp=False,
        step_cap=max_steps - 1,
    )
    raw = (
        steps.filter(nw.col("step") < max_steps)
        .with_columns(nw.col("next_node").fill_null(END).alias("target"))
        .group_by("step", "node", "target")
        .agg(nw.len().alias("customers"))
        .rename({"node": "source"})
        .collect()
        .to_pandas()
    )
    links, folded = _fold(raw, max_steps, top_nodes)
    # Each covered customer has one link at step 1; each link is one event at its step, plus
    # the event at the last step for journeys that reach it.
    reach_last = raw.loc[(raw["step"] == max_steps - 1) & (raw["target"] != END), "customers"]
    links.attrs["coverage"] = Coverage(
        customers=int(raw.loc[raw["step"] == 1, "customers"].sum()),
        customers_total=customers_total,
        events=int(raw["customers"].sum() + reach_last.sum()),
        events_total=events_total,
        folded_share=folded,
    )
    return links


def _fold(raw: pd.DataFrame, max_steps: int, top_nodes: int | None) -> tuple[pd.DataFrame, float]:
    columns = ["step", "source", "target", "customers"]
    if raw.empty:
        return pd.DataFrame(columns=columns).astype({"step": int, "customers": int}), 0.0
    raw = raw.astype({"step": int, "customers": int, "source": str, "target": str})
    if top_nodes is None:
        links = raw
        folded = 0.0
    else:
        # Customers at each position: sources of step k, and targets of the last step.
        at = pd.concat(
            [
                raw.rename(columns={"source": "node"})[["step", "node", "customers"]],
                raw.loc[(raw["step"] == max_steps - 1) & (raw["target"] != END)]
                .assign(step=max_steps)
                .rename(columns={"target": "node"})[["step", "node", "customers"]],
            ]
        ).groupby(["step", "node"], as_index=False)["customers"].sum()
        at = at.sort_values(["step", "customers", "node"], ascending=[True, False, True])
        keep = set(map(tuple, at.groupby("step").head(top_nodes)[["step", "node"]].values))
        source_kept = [(s, n) in keep for s, n in zip(raw["step"], raw["source"], strict=True)]
        target_kept = [
            t == END or (s + 1, t) in keep
            for s, t in zip(raw["step"], raw["target"], strict=True)
        ]
        links = raw.assign(
            source=raw["source"].where(source_kept, OTHER),
            target=raw["target"].where(target_kept, OTHER),
        )
        folded_steps = at.loc[[(s, n) not in keep for s, n in zip(at["step"], at["node"],
                                                                    strict=True)], "customers"]
        folded = float(folded_steps.sum() / at["customers"].sum()) if len(at) else 0.0
    links = (
        links.groupby(["step", "source", "target"], as_index=False)["customers"].sum()
        .sort_values(["step", "customers", "source", "target"],
                     ascending=[True, False, True, True])
        .reset_index(drop=True)
    )
    return links[columns], folded


def top_paths(
    events: Any,
    *,
    max_steps: int = 5,
    limit: int = 20,
    node_by: NodeBy = "touchpoint",
    start_at: str | None = None,
    end_at: str | None = None,
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
    conversion: Sequence[str] | None = None,
    churn: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The most common journeys, as their first ``max_steps`` steps.

    Parameters
    ----------
    conversion, churn
        Touchpoints that mark a converted / churned customer anywhere in their (filtered)
        journey; by default detected from touchpoint names, ``[]`` to turn off.

    Returns
    -------
    DataFrame, most common first (ties by path), with columns path (" > "-joined steps),
    steps, customers, share (of all customers covered), continues_share (share of these
    customers whose journey goes on beyond ``max_steps``), converted_share and
    churned_share (shares of these customers; NaN when no touchpoint defines them).
    ``df.attrs["coverage"]`` holds a :class:`Coverage`.
    """
    _check_steps(max_steps)
    if limit < 1:
        raise AnalysisError(f"limit must be at least 1, got {limit}.", "Ask for 1 or more paths.")
    lf = canonical(events, "events")
    customers_total, events_total = totals(lf)
    present = sorted(
        lf.select(nw.col("touchpoint").cast(nw.String)).unique().collect().to_pandas()
        ["touchpoint"].dropna().tolist()
    )
    conv = list(conversion) if conversion is not None else conversion_touchpoints(present)
    chrn = list(churn) if churn is not None else churn_touchpoints(present)
    steps = journeys(
        lf, node_by=node_by, start_at=start_at, end_at=end_at, exclude=exclude,
        collapse_repeats=collapse_repeats, max_steps=max_steps, step_cap=max_steps,
    )
    tp = nw.col("touchpoint").cast(nw.String)
    per_customer = steps.group_by("customer_id").agg(
        *[
            nw.when(nw.col("step") == k).then(nw.col("node")).max().alias(f"_s{k}")
            for k in range(1, max_steps + 1)
        ],
        nw.col("step").max().alias("_length"),
    )
    flags = lf.group_by("customer_id").agg(
        tp.is_in(conv or [""]).cast(nw.Int64).max().alias("_converted"),
        tp.is_in(chrn or [""]).cast(nw.Int64).max().alias("_churned"),
    )
    path = nw.concat_str(
        [nw.col(f"_s{k}") for k in range(1, max_steps + 1)],
        separator=PATH_SEPARATOR, ignore_nulls=True,
    )
    grouped = (
        per_customer.join(flags, on="customer_id", how="left")
        .with_columns(
            path.alias("path"),
            (nw.col("_length") > max_steps).cast(nw.Int64).alias("_continues"),
            nw.min_horizontal(nw.col("_length"), nw.lit(max_steps)).alias("_shown"),
        )
        .group_by("path")
        .agg(
            nw.len().alias("customers"),
            nw.col("_shown").max().alias("_shown"),
            nw.col("_continues").sum().cast(nw.Float64).alias("_continues"),
            nw.col("_converted").sum().cast(nw.Float64).alias("_converted"),
            nw.col("_churned").sum().cast(nw.Float64).alias("_churned"),
        )
    )
    covered = as_int(grouped.select(nw.col("customers").sum()).collect().item())
    top = (
        grouped.sort(["customers", "path"], descending=[True, False])
        .head(limit)
        .collect()
        .to_pandas()
    )
    out = pd.DataFrame(
        {
            "path": top["path"].astype(str),
            "steps": top["_shown"].astype(int),
            "customers": top["customers"].astype(int),
        }
    )
    out["share"] = out["customers"] / covered if covered else np.nan
    n = top["customers"].astype(float)
    out["continues_share"] = top["_continues"] / n
    out["converted_share"] = top["_converted"] / n if conv else np.nan
    out["churned_share"] = top["_churned"] / n if chrn else np.nan
    covered_events = as_int(
        steps.filter(nw.col("step") <= max_steps).select(nw.len()).collect().item()
    )
    out.attrs["coverage"] = Coverage(covered, customers_total, covered_events, events_total)
    out.attrs["conversion"] = tuple(conv)
    out.attrs["churn"] = tuple(chrn)
    return out


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
    ``df.attrs["coverage"]``: customers with at least one move and the events taking part.
    """
    lf = canonical(events, "events")
    customers_total, events_total = totals(lf)
    steps = journeys(lf, node_by=node_by, exclude=exclude, collapse_repeats=collapse_repeats,
                     step_cap=0)
    moves = steps.filter(~nw.col("next_node").is_null()).with_columns(
        # total_seconds() truncates to whole seconds; microseconds keep the fraction.
        ((nw.col("next_timestamp") - nw.col("timestamp")).dt.total_microseconds() / 1_000_000)
        .alias("_gap")
    )
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
    out.attrs["coverage"] = _moving_customers(lf, exclude, customers_total, events_total,
                                              moves if collapse_repeats else None)
    return out


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
    message: str = ""


def channel_switching(events: Any, *, exclude: Sequence[str] = ()) -> ChannelSwitching:
    """Channel-to-channel moves and the share of journeys that cross channels."""
    lf = canonical(events, "events")
    customers_total, events_total = totals(lf)
    if "channel" not in lf.collect_schema().names():
        empty = pd.DataFrame(columns=["source_channel", "target_channel", "transitions",
                                      "customers", "share_of_row"])
        return ChannelSwitching(empty, 0, 0, 0.0, 0.0,
                                Coverage(0, customers_total, 0, events_total),
                                "The events have no channel column.")
    with_channel = lf.filter(~nw.col("channel").is_null())
    matrix = transition_matrix(with_channel, node_by="channel", exclude=exclude).rename(
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
        message="" if moves else "No customer has two events with a channel.",
    )


