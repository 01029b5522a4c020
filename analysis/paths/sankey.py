"""Sankey links: customer flows between consecutive journey steps.

Steps are numbered per customer by :func:`analysis.journeys.journeys` (the one ordering rule).
Heavy work runs as Narwhals expressions on the lazy frame; only aggregates (a few thousand rows
at most) reach pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical
from analysis.journeys import END, NodeBy, check_touchpoints, journeys, totals
from analysis.results import OTHER, Coverage, Status, status_of
from analysis.schema import ParameterError

MAX_STEPS_LIMIT = 50


@dataclass(frozen=True)
class Sankey:
    """Customer flows between consecutive steps, with what they cover.

    ``links``: step, source, target, customers (see :func:`sankey_links`). ``coverage``:
    customers and events the links represent out of those after filters, and the share of
    customer-steps folded into "Other". ``status`` is "empty" when no journey matches.
    """

    links: pd.DataFrame
    coverage: Coverage
    status: Status = "ok"
    message: str = ""


@dataclass(frozen=True)
class SankeySteps:
    """Every journey's moves up to ``max_steps`` steps, unfolded (``raw``: step, source,
    target, customers) with the totals after filters: :func:`fold_sankey` draws any number of
    steps up to ``max_steps`` from it without reading the events again (exactly that number
    when ``anchored_end``: steps are then counted back from the anchor)."""

    raw: pd.DataFrame
    max_steps: int
    customers_total: int
    events_total: int
    anchored_end: bool


def check_max_steps(max_steps: Any) -> int:
    if (isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer)
            or not 2 <= max_steps <= MAX_STEPS_LIMIT):
        raise ParameterError(
            f"max_steps must be a whole number from 2 to {MAX_STEPS_LIMIT}, got {max_steps!r}.",
            "A path needs a source and a target step; 5 is a good start.",
        )
    return int(max_steps)


def check_anchors(
    lf: nw.LazyFrame, start_at: str | None, end_at: str | None, exclude: Sequence[str]
) -> None:
    """Anchor and left-out touchpoints must exist in the data; both anchors cannot be set."""
    if start_at is not None and end_at is not None:
        raise ParameterError(
            "start_at and end_at cannot both be set.",
            "Follow journeys after one touchpoint, or the paths leading to one.",
        )
    if isinstance(exclude, str):
        raise ParameterError(
            f"exclude must be a list of touchpoints, got the text {exclude!r}.",
            f"Write exclude=[{exclude!r}].",
        )
    check_touchpoints(lf, [a for a in (start_at, end_at) if a is not None], "anchor touchpoint")
    check_touchpoints(lf, list(exclude), "touchpoint to leave out")


def sankey(
    events: Any,
    *,
    max_steps: int = 5,
    top_nodes: int | None = 10,
    node_by: NodeBy = "touchpoint",
    start_at: str | None = None,
    end_at: str | None = None,
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
) -> Sankey:
    """Customer flows between consecutive journey steps, for a Sankey diagram.

    Parameters
    ----------
    events
        Events in canonical columns (pandas, Polars, DuckDB or PySpark), filters applied.
    max_steps
        Number of step columns shown (2 to 50): links run from step 1 → 2 up to
        ``max_steps - 1`` → ``max_steps``.
    top_nodes
        Per step, the ``top_nodes`` nodes with most customers are kept and the rest fold into
        "Other" (None: no folding).
    node_by, start_at, end_at, exclude, collapse_repeats
        See :func:`analysis.journeys.journeys`. ``end_at`` keeps the ``max_steps`` steps
        leading to the anchor, numbered from the first kept step.

    Returns
    -------
    Sankey
        ``links`` as described in :func:`sankey_links`, with its coverage.

    Raises
    ------
    ParameterError
        ``max_steps`` or ``top_nodes`` out of range; an unknown anchor or left-out touchpoint.
    """
    _check_top_nodes(top_nodes)
    steps = sankey_steps(events, max_steps=max_steps, node_by=node_by, start_at=start_at,
                         end_at=end_at, exclude=exclude, collapse_repeats=collapse_repeats)
    return fold_sankey(steps, max_steps, top_nodes)


def sankey_steps(
    events: Any,
    *,
    max_steps: int = 5,
    node_by: NodeBy = "touchpoint",
    start_at: str | None = None,
    end_at: str | None = None,
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
) -> SankeySteps:
    """The one pass over the events behind :func:`sankey`: the moves up to ``max_steps``
    steps, for :func:`fold_sankey` (arguments as for :func:`sankey`)."""
    max_steps = check_max_steps(max_steps)
    lf = canonical(events, "events")
    check_anchors(lf, start_at, end_at, exclude)
    customers_total, events_total = totals(lf)
    steps = journeys(
        lf, node_by=node_by, start_at=start_at, end_at=end_at, exclude=exclude,
        collapse_repeats=collapse_repeats, max_steps=max_steps, with_next_timestamp=False,
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
    return SankeySteps(raw, max_steps, customers_total, events_total, end_at is not None)


def fold_sankey(steps: SankeySteps, max_steps: int, top_nodes: int | None = 10) -> Sankey:
    """The Sankey of ``max_steps`` steps from the moves counted by :func:`sankey_steps`
    (``top_nodes`` as for :func:`sankey`): the same result as :func:`sankey` with those
    arguments, without a pass over the events."""
    max_steps = check_max_steps(max_steps)
    _check_top_nodes(top_nodes)
    if max_steps > steps.max_steps or (steps.anchored_end and max_steps != steps.max_steps):
        raise ParameterError(
            f"These moves were counted for {steps.max_steps} steps, not {max_steps}.",
            "Count them again with sankey_steps(max_steps=...).",
        )
    raw = steps.raw.loc[steps.raw["step"] < max_steps]
    links, folded = _fold(raw, max_steps, top_nodes)
    # Each covered customer has one link at step 1; each link is one event at its step, plus
    # the event at the last step for journeys that reach it. These customer-steps are the
    # drawn nodes besides "(end)", so the folded share is the "Other" nodes' share of them.
    reach_last = raw.loc[(raw["step"] == max_steps - 1) & (raw["target"] != END), "customers"]
    events = int(raw["customers"].sum() + reach_last.sum())
    coverage = Coverage(
        customers=int(raw.loc[raw["step"] == 1, "customers"].sum()),
        customers_total=steps.customers_total,
        events=events,
        events_total=steps.events_total,
        folded_share=folded / events if events else 0.0,
        folded=folded,
    )
    status = status_of(len(links))
    message = "" if status == "ok" else (
        "No journey matches: clear the anchor, the left-out touchpoints or the filters."
    )
    return Sankey(links, coverage, status, message)


def _check_top_nodes(top_nodes: Any) -> None:
    if top_nodes is not None and (isinstance(top_nodes, bool) or not isinstance(
            top_nodes, int | np.integer) or top_nodes < 1):
        raise ParameterError(
            f"top_nodes must be a whole number of at least 1, or None, got {top_nodes!r}.",
            "It is how many nodes each step keeps before folding the rest into “Other”.",
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
    """The links of :func:`sankey`.

    Returns
    -------
    DataFrame with columns step (1-based position of the source), source, target, customers
    (distinct customers making that move at that step). A journey that ends before
    ``max_steps`` has the target "(end)". Every customer appears exactly once at step 1, so
    the step-1 total is the number of customers covered, and the flow into a node equals the
    flow out of it.
    """
    return sankey(
        events, max_steps=max_steps, top_nodes=top_nodes, node_by=node_by, start_at=start_at,
        end_at=end_at, exclude=exclude, collapse_repeats=collapse_repeats,
    ).links


def _fold(raw: pd.DataFrame, max_steps: int, top_nodes: int | None) -> tuple[pd.DataFrame, int]:
    """The links with each step's rarer nodes folded into "Other", and how many customer-steps
    were folded."""
    columns = ["step", "source", "target", "customers"]
    if raw.empty:
        return pd.DataFrame(columns=columns).astype({"step": int, "customers": int}), 0
    raw = raw.astype({"step": int, "customers": int, "source": str, "target": str})
    if top_nodes is None:
        links = raw
        folded = 0
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
        folded = int(folded_steps.sum())
    links = (
        links.groupby(["step", "source", "target"], as_index=False)["customers"].sum()
        .sort_values(["step", "customers", "source", "target"],
                     ascending=[True, False, True, True])
        .reset_index(drop=True)
    )
    return links[columns], folded
