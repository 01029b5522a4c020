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
from analysis.frames import canonical
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


@dataclass(frozen=True)
class PathCounts:
    """Customers per journey prefix of ``max_steps`` steps, before any cut: ``table`` has
    _s1…_s<max_steps> (the nodes, null past the journey's end), _length (steps, capped at
    ``max_steps`` + 1), customers, _converted and _churned (how many of them). What
    :func:`paths_from_counts` reads for any number of steps up to ``max_steps``, with the
    totals after filters and the definitions used."""

    table: pd.DataFrame
    max_steps: int
    customers_total: int
    events_total: int
    conversion: tuple[str, ...]
    churn: tuple[str, ...]
    inactivity_days: int | None
    anchored_end: bool


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
    _check_limit(limit)
    counts = path_counts(
        events, max_steps=max_steps, node_by=node_by, start_at=start_at, end_at=end_at,
        exclude=exclude, collapse_repeats=collapse_repeats, conversion=conversion, churn=churn,
        inactivity_days=inactivity_days)
    return paths_from_counts(counts, max_steps, limit)


def path_counts(
    events: Any,
    *,
    max_steps: int = 5,
    node_by: NodeBy = "touchpoint",
    start_at: str | None = None,
    end_at: str | None = None,
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
    conversion: Sequence[str] | None = None,
    churn: Sequence[str] | None = None,
    inactivity_days: int | None = None,
) -> PathCounts:
    """The one pass over the events behind :func:`common_paths` (same arguments), for
    :func:`paths_from_counts`."""
    max_steps = check_max_steps(max_steps)
    lf = canonical(events, "events")
    check_anchors(lf, start_at, end_at, exclude)
    customers_total, events_total = totals(lf)
    conv, chrn = _definitions(lf, conversion, churn)
    steps = journeys(
        lf, node_by=node_by, start_at=start_at, end_at=end_at, exclude=exclude,
        collapse_repeats=collapse_repeats, max_steps=max_steps,
    )
    table = _paths_by_customer(lf, steps, max_steps, conv,
                               churned(lf, chrn, inactivity_days)).collect().to_pandas()
    return PathCounts(table, max_steps, customers_total, events_total, conv, chrn,
                      inactivity_days, end_at is not None)


def paths_from_counts(counts: PathCounts, max_steps: int, limit: int = 20) -> TopPaths:
    """The ``limit`` most common paths of ``max_steps`` steps from :func:`path_counts`: the
    same result as :func:`common_paths`, without a pass over the events."""
    max_steps = check_max_steps(max_steps)
    _check_limit(limit)
    if max_steps > counts.max_steps or (counts.anchored_end and max_steps != counts.max_steps):
        raise ParameterError(
            f"These paths were counted for {counts.max_steps} steps, not {max_steps}.",
            "Count them again with path_counts(max_steps=...).")
    t = counts.table
    path = t["_s1"].astype(object)
    for k in range(2, max_steps + 1):  # nodes are null only past the journey's end
        node = t[f"_s{k}"].astype(object)
        path = path.where(node.isna(), path + PATH_SEPARATOR + node.astype(str))
    length = t["_length"].astype(int)
    grouped = pd.DataFrame({
        "path": path.astype(str), "customers": t["customers"].astype(int),
        "_shown": np.minimum(length, max_steps),
        "_continues": t["customers"] * (length > max_steps),
        "_converted": t["_converted"], "_churned": t["_churned"],
    }).groupby("path", as_index=False).agg(
        customers=("customers", "sum"), _shown=("_shown", "max"),
        _continues=("_continues", "sum"), _converted=("_converted", "sum"),
        _churned=("_churned", "sum"))
    covered = int(grouped["customers"].sum())
    top = grouped.sort_values(["customers", "path"], ascending=[False, True]).head(limit)
    out = pd.DataFrame({"path": top["path"].astype(str), "steps": top["_shown"].astype(int),
                        "customers": top["customers"].astype(int)}).reset_index(drop=True)
    n = top["customers"].astype(float).to_numpy()
    out["share"] = out["customers"] / covered if covered else np.nan
    out["continues_share"] = top["_continues"].to_numpy() / n
    out["converted_share"] = top["_converted"].to_numpy() / n if counts.conversion else np.nan
    out["churned_share"] = (top["_churned"].to_numpy() / n
                            if counts.churn or counts.inactivity_days else np.nan)
    covered_events = int((t["customers"] * np.minimum(length, max_steps)).sum())
    coverage = Coverage(covered, counts.customers_total, covered_events, counts.events_total)
    status = status_of(len(out))
    message = "" if status == "ok" else "No journey matches: clear the anchor or the filters."
    return TopPaths(out, coverage, counts.conversion, counts.churn, status, message,
                    counts.inactivity_days)


def _check_limit(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise ParameterError(f"limit must be a whole number of at least 1, got {limit!r}.",
                             "Ask for 1 or more paths.")


def _paths_by_customer(
    lf: nw.LazyFrame,
    steps: nw.LazyFrame,
    max_steps: int,
    conv: tuple[str, ...],
    churn_flag: nw.Expr,
) -> nw.LazyFrame:
    """Per journey prefix (its first ``max_steps`` nodes) and length (capped at
    ``max_steps`` + 1): customers, and how many of them convert and churn."""
    tp = nw.col("touchpoint").cast(nw.String)
    nodes = [f"_s{k}" for k in range(1, max_steps + 1)]
    per_customer = steps.group_by("customer_id").agg(
        *[nw.when(nw.col("step") == k).then(nw.col("node")).max().alias(f"_s{k}")
          for k in range(1, max_steps + 1)],
        nw.col("step").max().alias("_length"),
    )
    flags = lf.group_by("customer_id").agg(
        tp.is_in(list(conv) or [""]).cast(nw.Int64).max().alias("_converted"),
        churn_flag.alias("_churned"),
    )
    return (
        per_customer.join(flags, on="customer_id", how="left")
        .with_columns(nw.min_horizontal(nw.col("_length"), nw.lit(max_steps + 1))
                      .alias("_length"))
        .group_by(*nodes, "_length")
        .agg(
            nw.len().alias("customers"),
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
