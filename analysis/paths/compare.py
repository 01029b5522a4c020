"""Which transitions are over- or under-represented in one group of customers versus another."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.definitions import conversion_touchpoints, present_touchpoints
from analysis.frames import canonical
from analysis.journeys import (
    NodeBy,
    check_touchpoints,
    journeys,
    order_columns,
    ordered_window,
    uses_precomputed,
)
from analysis.paths.sankey import check_anchors
from analysis.results import Status
from analysis.schema import MissingColumnError, ParameterError, unknown_values_error
from analysis.stats import (
    Correction,
    adjust_p_values,
    check_alpha,
    check_correction,
    contingency_test,
)

COLUMNS = [
    "source", "target", "customers_a", "share_a", "customers_b", "share_b", "difference",
    "lift", "test", "p_value", "p_adjusted", "significant",
]
CONVERTED, NOT_CONVERTED = "converted", "not converted"


@dataclass(frozen=True)
class TransitionComparison:
    """Transitions compared between two groups of customers.

    ``table``: one row per transition (see :func:`compare_transitions`). ``groups``: each
    group's label and customers, A first. ``conversion``: the touchpoints that define
    conversion when converted and not-converted customers are compared. ``status`` is
    "degenerate" when a group is empty, nothing could be tested, or no conversion touchpoint is
    known; ``message`` says which.
    """

    table: pd.DataFrame
    groups: dict[str, int] = field(default_factory=dict)
    conversion: tuple[str, ...] = ()
    status: Status = "ok"
    message: str = ""


def compare_transitions(
    events: Any,
    *,
    group_col: str | None = None,
    group_a: str | None = None,
    group_b: str | None = None,
    conversion: Sequence[str] | None = None,
    node_by: NodeBy = "touchpoint",
    exclude: Sequence[str] = (),
    collapse_repeats: bool = False,
    min_customers: int = 10,
    correction: Correction = "holm",
    alpha: float = 0.05,
) -> TransitionComparison:
    """Compare how often customers of two groups make each transition.

    Groups are either two values of an attribute (``group_col``, ``group_a``, ``group_b``; a
    customer belongs to the value on their first event) or, when ``group_col`` is None,
    converted (A) vs not converted (B) customers. In the conversion comparison only moves
    made *before* a customer's first conversion event count (the move into it does not), so
    the comparison shows what converters did differently on the way. The cut-off is placed on
    the whole journey, so leaving touchpoints out or merging repeats does not move it.

    For each transition, H0: the share of customers making it at least once is the same in
    both groups. The test is Pearson's chi-square on the 2×2 table, or Fisher's exact test
    when an expected count is below 5 (:func:`analysis.stats.contingency_test`). Transitions
    made by fewer than ``min_customers`` customers in total are not tested (p_value NaN).
    p-values are adjusted for the number of transitions tested (Holm by default, which
    controls the family-wise error rate).

    Returns
    -------
    TransitionComparison
        ``table`` has source, target, customers_a, share_a (of group A's customers),
        customers_b, share_b, difference (share_a − share_b, a difference of proportions:
        × 100 it reads in percentage points), lift (share_a / share_b; inf when no customer of
        B makes the move, a move new in A), test, p_value, p_adjusted, significant
        (p_adjusted < alpha), sorted by p_adjusted then by |difference|.
    """
    check_correction(correction)
    check_alpha(alpha)
    if isinstance(min_customers, bool) or not isinstance(min_customers, int) or min_customers < 1:
        raise ParameterError(f"min_customers must be a whole number of at least 1, got "
                             f"{min_customers!r}.", "10 is the default.")
    lf = canonical(events, "events")
    check_anchors(lf, None, None, exclude)
    if group_col is None:
        if conversion:
            check_touchpoints(lf, list(conversion), "conversion touchpoint")
        conv = tuple(conversion) if conversion is not None else tuple(
            conversion_touchpoints(present_touchpoints(lf)))
        if not conv:
            return TransitionComparison(
                pd.DataFrame(columns=COLUMNS), {CONVERTED: 0, NOT_CONVERTED: 0}, (),
                "degenerate", "No conversion touchpoint is defined, so converted and other "
                "customers cannot be told apart. Say which touchpoints count as conversion, "
                "or compare two values of an attribute.",
            )
        labels: tuple[str, str] = (CONVERTED, NOT_CONVERTED)
        groups = _conversion_groups(lf, conv)
    else:
        conv = ()
        labels = _check_groups(lf, group_col, group_a, group_b)
        groups = _attribute_groups(lf, group_col, labels)
    steps = journeys(lf, node_by=node_by, exclude=exclude, collapse_repeats=collapse_repeats,
                     with_position=True, with_next_timestamp=False)
    moves = (
        steps.filter(~nw.col("next_node").is_null())
        .join(groups, on="customer_id", how="inner")
        .filter(nw.col("_until").is_null() | (nw.col("next_position") < nw.col("_until")))
    )
    counts = (
        moves.group_by("node", "next_node", "_group")
        .agg(nw.col("customer_id").n_unique().alias("customers"))
        .collect()
        .to_pandas()
    )
    sizes = groups.group_by("_group").agg(nw.len().alias("n")).collect().to_pandas()
    size = {str(g): int(n) for g, n in zip(sizes["_group"], sizes["n"], strict=True)}
    n_a, n_b = size.get(labels[0], 0), size.get(labels[1], 0)
    out = _test(counts, labels, n_a, n_b, min_customers, correction, alpha)
    message = ""
    if min(n_a, n_b) == 0:
        message = f"One group is empty ({labels[0]}: {n_a:,}, {labels[1]}: {n_b:,})."
    elif out["p_value"].isna().all():
        message = f"No transition is made by {min_customers} or more customers: nothing tested."
    return TransitionComparison(out, {labels[0]: n_a, labels[1]: n_b}, conv,
                                "degenerate" if message else "ok", message)


def group_sizes(events: Any, *, group_col: str) -> pd.DataFrame:
    """Customers per value of ``group_col``, largest first: the natural groups to compare.

    Returns
    -------
    DataFrame with columns value (as text) and customers (distinct customers with at least one
    event holding that value, so a customer whose value changes counts under each), sorted by
    customers descending, then value. Missing values are left out.

    Raises
    ------
    MissingColumnError
        The events have no ``group_col`` column.
    """
    lf = canonical(events, "events")
    names = lf.collect_schema().names()
    if group_col not in names:
        raise MissingColumnError(
            f"The events have no column {group_col!r} to count groups by.",
            f"Pick one of {', '.join(names)}.",
        )
    out = (
        lf.filter(~nw.col(group_col).is_null())
        .with_columns(nw.col(group_col).cast(nw.String).alias("_value"))
        .group_by("_value")
        .agg(nw.col("customer_id").n_unique().alias("customers"))
        .collect()
        .to_pandas()
        .rename(columns={"_value": "value"})
    )
    out = out.astype({"value": str, "customers": int})
    out = out.sort_values(["customers", "value"], ascending=[False, True])
    return out.reset_index(drop=True)[["value", "customers"]]


def _check_groups(
    lf: nw.LazyFrame, group_col: str, group_a: str | None, group_b: str | None
) -> tuple[str, str]:
    names = lf.collect_schema().names()
    if group_col not in names:
        raise MissingColumnError(
            f"The events have no column {group_col!r} to compare groups by.",
            f"Pick one of {', '.join(names)}.",
        )
    if group_a is None or group_b is None or str(group_a) == str(group_b):
        raise ParameterError(
            "Comparing groups needs two different values.", f"Pick two values of {group_col}.",
        )
    values = lf.select(nw.col(group_col).cast(nw.String)).unique().collect().to_pandas()
    known = set(values[group_col].dropna())
    unknown = [v for v in (str(group_a), str(group_b)) if v not in known]
    if unknown:
        raise unknown_values_error(f"value of {group_col}", unknown, known)
    return str(group_a), str(group_b)


def _attribute_groups(lf: nw.LazyFrame, group_col: str, labels: tuple[str, str]):
    """Each customer's group: the value on their first event (in journey order)."""
    order = order_columns(lf.collect_schema().names())
    # Every event counts here, those without a touchpoint too: not the precomputed _step.
    first_value = nw.when(nw.col("_nth") == 1).then(nw.col(group_col).cast(nw.String))
    return (
        ordered_window(lf, order, step="_nth")
        .group_by("customer_id")
        .agg(first_value.max().alias("_group"))
        .filter(nw.col("_group").is_in(list(labels)))
        .with_columns(nw.lit(None).cast(nw.Int64).alias("_until"))
    )


def _conversion_groups(lf: nw.LazyFrame, conv: tuple[str, ...]) -> nw.LazyFrame:
    """Each customer's group and ``_until``, the position (as numbered by
    ``journeys(with_position=True)``) of their first conversion event; null if none."""
    order = order_columns(lf.collect_schema().names())
    hit = nw.col("touchpoint").cast(nw.String).is_in(list(conv))
    events = lf.filter(~nw.col("touchpoint").is_null())
    return (
        (events.with_columns(nw.col("_step").alias("_position")) if uses_precomputed(lf)
         else ordered_window(events, order, step="_position"))
        .group_by("customer_id")
        .agg(nw.when(hit).then(nw.col("_position")).min().alias("_until"))
        .with_columns(
            nw.when(nw.col("_until").is_null()).then(nw.lit(NOT_CONVERTED))
            .otherwise(nw.lit(CONVERTED)).alias("_group")
        )
    )


def _test(
    counts: pd.DataFrame,
    labels: tuple[str, str],
    n_a: int,
    n_b: int,
    min_customers: int,
    correction: str,
    alpha: float,
) -> pd.DataFrame:
    if counts.empty:
        return pd.DataFrame(columns=COLUMNS)
    counts = counts.astype({"node": str, "next_node": str, "_group": str})
    wide = counts.pivot_table(index=["node", "next_node"], columns="_group",
                              values="customers", aggfunc="sum", fill_value=0)
    x_a = wide.get(labels[0], pd.Series(0, index=wide.index)).astype(int)
    x_b = wide.get(labels[1], pd.Series(0, index=wide.index)).astype(int)
    out = pd.DataFrame({"customers_a": x_a, "customers_b": x_b}).reset_index()
    out = out.rename(columns={"node": "source", "next_node": "target"})
    out["share_a"] = out["customers_a"] / n_a if n_a else np.nan
    out["share_b"] = out["customers_b"] / n_b if n_b else np.nan
    out["difference"] = out["share_a"] - out["share_b"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["lift"] = out["share_a"] / out["share_b"]
    results = [
        ("not tested (too few customers)", np.nan)
        if n_a == 0 or n_b == 0 or a + b < min_customers
        else contingency_test([[a, n_a - a], [b, n_b - b]])
        for a, b in zip(out["customers_a"], out["customers_b"], strict=True)
    ]
    out["test"] = [t for t, _ in results]
    out["p_value"] = [p for _, p in results]
    out["p_adjusted"] = adjust_p_values(out["p_value"].to_numpy(), correction)
    out["significant"] = out["p_adjusted"] < alpha
    out["_abs"] = out["difference"].abs()
    out = out.sort_values(["p_adjusted", "_abs", "source", "target"],
                          ascending=[True, False, True, True], na_position="last")
    return out.drop(columns="_abs").reset_index(drop=True)[COLUMNS]
