"""Time-ordered journeys: numbered steps per customer, shared by paths and funnels.

Ordering rule (deterministic): events of a customer are ordered by timestamp, then by
touchpoint name, then by channel; events identical in all three are interchangeable. All work
is Narwhals window expressions over the lazy frame (DuckDB by default): no per-customer loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import narwhals as nw

from analysis.frames import as_int, canonical
from analysis.schema import AnalysisError

NodeBy = Literal["touchpoint", "channel", "stage"]
NODE_TYPES: tuple[str, ...] = ("touchpoint", "channel", "stage")
MISSING_NODE = "(none)"
END = "(end)"
OTHER = "Other"


def order_columns(names: Sequence[str]) -> list[str]:
    """The ordering columns present in a frame, in the documented tie-break order."""
    return [c for c in ("timestamp", "touchpoint", "channel") if c in names]


@dataclass(frozen=True)
class Coverage:
    """What share of the filtered data a result represents.

    ``customers``/``events``: how many the result covers; ``*_total``: how many passed the
    filters; ``folded_share``: share of the covered customer-steps shown as "Other".
    """

    customers: int
    customers_total: int
    events: int
    events_total: int
    folded_share: float = 0.0

    @property
    def customer_share(self) -> float:
        return self.customers / self.customers_total if self.customers_total else 0.0

    @property
    def event_share(self) -> float:
        return self.events / self.events_total if self.events_total else 0.0

    def sentence(self) -> str:
        text = (
            f"Covers {self.customers:,} of {self.customers_total:,} customers "
            f"({self.customer_share:.0%}) and {self.events:,} of {self.events_total:,} events "
            f"({self.event_share:.0%}) after filters"
        )
        if self.folded_share:
            text += f"; {self.folded_share:.0%} of customer-steps are folded into “{OTHER}”"
        return text + "."


def journeys(
    events: Any,
    *,
    node_by: NodeBy = "touchpoint",
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
    start_at: str | None = None,
    end_at: str | None = None,
    max_steps: int | None = None,
    with_next_timestamp: bool = True,
    step_cap: int | None = None,
) -> nw.LazyFrame:
    """Each customer's events as numbered steps.

    Parameters
    ----------
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
    step_cap
        Number steps exactly only up to ``step_cap``; later steps all get ``step_cap + 1``.
        Much cheaper on SQL engines (a few lag lookups instead of a running count), for
        results that only look at the first steps.

    Returns
    -------
    Lazy frame with customer_id, timestamp, touchpoint, node, step (1-based), next_node and
    (unless ``with_next_timestamp`` is False) next_timestamp; next_* are null at a journey's
    last step.
    """
    if node_by not in NODE_TYPES:
        raise AnalysisError(f"Unknown node type {node_by!r}.", f"Use one of {NODE_TYPES}.")
    lf = canonical(events, "events")
    names = lf.collect_schema().names()
    if node_by not in names:
        raise AnalysisError(
            f"The events have no {node_by} column, so steps cannot be named by it.",
            "Map a column to it when importing, or name steps by touchpoint.",
        )
    order = order_columns(names)
    lf = lf.filter(~nw.col("touchpoint").is_null())
    if node_by == "touchpoint":
        # The node keeps its stored type (an ENUM is cheap to sort and shift) until the
        # windows are done; it becomes text afterwards.
        lf = lf.select("customer_id", *order, nw.col("touchpoint").alias("node"))
    else:
        node = nw.col(node_by).cast(nw.String).fill_null(MISSING_NODE)
        lf = lf.select("customer_id", *order, node.alias("node"))
    if exclude:
        lf = lf.filter(~nw.col("touchpoint").cast(nw.String).is_in(list(exclude)))
    step = nw.col("customer_id").cum_count().over("customer_id", order_by=order)
    if start_at is not None or end_at is not None:
        lf = lf.with_columns(step.alias("step"))
    # Anchors are touchpoints, whatever names the steps; the first occurrence counts.
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
    if collapse_repeats:
        previous = nw.col("node").shift(1).over("customer_id", order_by=order)
        lf = lf.with_columns(previous.alias("_prev")).filter(
            nw.col("_prev").is_null() | (nw.col("_prev") != nw.col("node"))
        ).drop("_prev")
    # Steps and next steps come from one window over one ordering: a single sort.
    following = [nw.col("node").shift(-1).over("customer_id", order_by=order).alias("next_node")]
    if with_next_timestamp:
        following.append(
            nw.col("timestamp").shift(-1).over("customer_id", order_by=order)
            .alias("next_timestamp")
        )
    if step_cap is not None and start_at is None and end_at is None:
        # Position p has no row j back exactly when p <= j: the first such j is the step.
        capped: Any = nw.lit(step_cap + 1)
        for j in range(step_cap, 0, -1):
            back = nw.col("timestamp").shift(j).over("customer_id", order_by=order)
            capped = nw.when(back.is_null()).then(nw.lit(j)).otherwise(capped)
        step = capped
    lf = lf.with_columns(step.alias("step"), *following)
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


def totals(events: Any) -> tuple[int, int]:
    """(customers, events) of a filtered events frame."""
    lf = canonical(events, "events")
    row = (
        lf.select(nw.col("customer_id").n_unique().alias("c"), nw.len().alias("e"))
        .collect()
        .to_pandas()
        .iloc[0]
    )
    return as_int(row["c"]), as_int(row["e"])
