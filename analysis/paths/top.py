"""The most common journeys, with how many of their customers convert and churn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.definitions import (
    churn_touchpoints,
    churned,
    conversion_touchpoints,
    present_touchpoints,
    resolve,
)
from analysis.frames import as_int, canonical, materialize
from analysis.journeys import NodeBy, check_touchpoints, journeys, totals
from analysis.paths.sankey import check_anchors, check_max_steps
from analysis.results import Coverage, Status, status_of
from analysis.schema import ParameterError

PATH_SEPARATOR = " > "


@dataclass(frozen=True)
class TopPaths:
    """The most common paths (``table``, see :func:`top_paths`), what they cover, and the
    conversion and churn touchpoints (and inactivity days) behind converted_share and
    churned_share (empty: not defined, and those columns are NaN)."""

    table: pd.DataFrame
    coverage: Coverage
    conversion: tuple[str, ...]
    churn: tuple[str, ...]
    status: Status = "ok"
    message: str = ""
    inactivity_days: int | None = None


def common_paths(
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
    inactivity_days: int | None = None,
) -> TopPaths:
    """The most common journeys, as their first ``max_steps`` steps.

    Parameters
    ----------
    conversion, churn
        Touchpoints that mark a converted / churned customer anywhere in their (filtered)
        journey; by default detected from touchpoint names, ``[]`` to turn off.
    inactivity_days
        A customer whose last event is more than this many days before the end of the data
        also counts as churned (see ``definitions.churned``).

    Returns
    -------
    DataFrame, most common first (ties by path), with columns path (" > "-joined steps),
    steps, customers, share (of all customers covered), continues_share (share of these
    customers whose journey goes on beyond ``max_steps``), converted_share and
    churned_share (shares of these customers; NaN when no touchpoint defines them), in
    ``TopPaths.table``, with the coverage and the conversion and churn touchpoints used.
    """
    max_steps = check_max_steps(max_steps)
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise ParameterError(f"limit must be a whole number of at least 1, got {limit!r}.",
                             "Ask for 1 or more paths.")
    lf = canonical(events, "events")
    check_anchors(lf, start_at, end_at, exclude)
    customers_total, events_total = totals(lf)
    conv, chrn = _definitions(lf, conversion, churn)
    steps = journeys(
        lf, node_by=node_by, start_at=start_at, end_at=end_at, exclude=exclude,
        collapse_repeats=collapse_repeats, max_steps=max_steps,
    )
    # One row per path, read twice below: computed once (a pass over every journey).
    grouped = materialize(
        _paths_by_customer(lf, steps, max_steps, conv, churned(lf, chrn, inactivity_days)))
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
    out["churned_share"] = top["_churned"] / n if chrn or inactivity_days else np.nan
    covered_events = as_int(
        steps.filter(nw.col("step") <= max_steps).select(nw.len()).collect().item()
    )
    coverage = Coverage(covered, customers_total, covered_events, events_total)
    status = status_of(len(out))
    message = "" if status == "ok" else "No journey matches: clear the anchor or the filters."
    return TopPaths(out, coverage, conv, chrn, status, message, inactivity_days)


def _paths_by_customer(
    lf: nw.LazyFrame,
    steps: nw.LazyFrame,
    max_steps: int,
    conv: tuple[str, ...],
    churn_flag: nw.Expr,
) -> nw.LazyFrame:
    """Per path: customers, steps shown, and how many of them go on, convert and churn."""
    tp = nw.col("touchpoint").cast(nw.String)
    per_customer = steps.group_by("customer_id").agg(
        *[
            nw.when(nw.col("step") == k).then(nw.col("node")).max().alias(f"_s{k}")
            for k in range(1, max_steps + 1)
        ],
        nw.col("step").max().alias("_length"),
    )
    flags = lf.group_by("customer_id").agg(
        tp.is_in(list(conv) or [""]).cast(nw.Int64).max().alias("_converted"),
        churn_flag.alias("_churned"),
    )
    path = nw.concat_str(
        [nw.col(f"_s{k}") for k in range(1, max_steps + 1)],
        separator=PATH_SEPARATOR, ignore_nulls=True,
    )
    return (
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
    inactivity_days: int | None = None,
) -> pd.DataFrame:
    """The table of :func:`common_paths`: path (" > "-joined steps), steps, customers, share,
    continues_share, converted_share, churned_share; most common first."""
    return common_paths(
        events, max_steps=max_steps, limit=limit, node_by=node_by, start_at=start_at,
        end_at=end_at, exclude=exclude, collapse_repeats=collapse_repeats,
        conversion=conversion, churn=churn, inactivity_days=inactivity_days,
    ).table


def _definitions(
    lf: nw.LazyFrame, conversion: Sequence[str] | None, churn: Sequence[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The conversion and churn touchpoints given (checked), or guessed from names."""
    for given, what in ((conversion, "conversion touchpoint"), (churn, "churn touchpoint")):
        if isinstance(given, str):
            raise ParameterError(f"{what}s must be a list, got the text {given!r}.",
                                 f"Write [{given!r}].")
    # The touchpoints present are one scan of every event: read once for both checks and the
    # guesses; check_touchpoints (which scans again) words the error when a name is unknown.
    # (An ENUM or categorical touchpoint is checked against its categories, for free.)
    free = bool(getattr(lf.collect_schema()["touchpoint"], "categories", None))
    guessing = conversion is None or churn is None
    present = present_touchpoints(lf) if guessing or (not free and (conversion or churn)) else []
    for names, what in ((conversion, "conversion touchpoint"), (churn, "churn touchpoint")):
        if names and (free or not set(map(str, names)) <= set(present)):
            check_touchpoints(lf, list(names), what)
    if not guessing:
        return tuple(conversion), tuple(churn)  # type: ignore[arg-type]
    return (resolve(conversion, conversion_touchpoints, present),
            resolve(churn, churn_touchpoints, present))
