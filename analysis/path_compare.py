"""Which transitions are over- or under-represented in one group of customers versus another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.frames import canonical
from analysis.overview import conversion_touchpoints
from analysis.schema import AnalysisError
from analysis.sequences import NodeBy, journeys, order_columns

Correction = Literal["holm", "fdr_bh", "bonferroni"]
COLUMNS = [
    "source", "target", "customers_a", "share_a", "customers_b", "share_b", "difference",
    "lift", "test", "p_value", "p_adjusted", "significant",
]


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
) -> pd.DataFrame:
    """Compare how often customers of two groups make each transition.

    Groups are either two values of an attribute (``group_col``, ``group_a``, ``group_b``; a
    customer belongs to the value on their first event) or, when ``group_col`` is None,
    converted (A) vs not converted (B) customers. In the conversion comparison only moves
    made *before* a customer's first conversion count, so the comparison shows what
    converters did differently on the way, not what they did after buying.

    For each transition, H0: the share of customers making it at least once is the same in
    both groups. The test is Pearson's chi-square on the 2×2 table, or Fisher's exact test
    when an expected count is below 5. Transitions made by fewer than ``min_customers``
    customers in total are not tested (p_value NaN). p-values are adjusted for the number of
    transitions tested (Holm by default, which controls the family-wise error rate).

    Returns
    -------
    DataFrame with columns source, target, customers_a, share_a (of group A's customers),
    customers_b, share_b, difference (share_a − share_b), lift (share_a / share_b), test,
    p_value, p_adjusted, significant (p_adjusted < alpha), sorted by p_adjusted then by
    |difference|. ``df.attrs`` holds ``groups`` ({label: customers}) and ``message``.
    """
    lf = canonical(events, "events")
    names = lf.collect_schema().names()
    order = order_columns(names)
    if group_col is None:
        present = sorted(
            lf.select(nw.col("touchpoint").cast(nw.String)).unique().collect().to_pandas()
            ["touchpoint"].dropna().tolist()
        )
        conv = list(conversion) if conversion is not None else conversion_touchpoints(present)
        if not conv:
            raise AnalysisError(
                "No conversion touchpoint is defined, so converted and other customers cannot "
                "be told apart.", "Pass conversion=[...] or compare two attribute values.",
            )
        labels = ("converted", "not converted")
        groups = _conversion_groups(lf, conv, order)
    else:
        if group_col not in names:
            raise AnalysisError(
                f"The events have no column {group_col!r} to compare groups by.",
                f"Pick one of {', '.join(names)}.",
            )
        if group_a is None or group_b is None or group_a == group_b:
            raise AnalysisError(
                "Comparing groups needs two different values.",
                f"Pick two values of {group_col}.",
            )
        labels = (str(group_a), str(group_b))
        step = nw.col("customer_id").cum_count().over("customer_id", order_by=order)
        first_value = nw.when(nw.col("_step") == 1).then(nw.col(group_col).cast(nw.String))
        groups = (
            lf.with_columns(step.alias("_step"))
            .group_by("customer_id")
            .agg(first_value.max().alias("_group"))
            .filter(nw.col("_group").is_in(list(labels)))
            .with_columns(nw.lit(None).cast(nw.Int64).alias("_until"))
        )
    steps = journeys(lf, node_by=node_by, exclude=exclude, collapse_repeats=collapse_repeats)
    moves = (
        steps.filter(~nw.col("next_node").is_null())
        .join(groups, on="customer_id", how="inner")
        .filter(nw.col("_until").is_null() | (nw.col("step") + 1 < nw.col("_until")))
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
    out.attrs["groups"] = {labels[0]: n_a, labels[1]: n_b}
    out.attrs["message"] = message
    return out


def _conversion_groups(lf: nw.LazyFrame, conv: list[str], order: list[str]) -> nw.LazyFrame:
    step = nw.col("customer_id").cum_count().over("customer_id", order_by=order)
    hit = nw.col("touchpoint").cast(nw.String).is_in(conv)
    return (
        lf.with_columns(step.alias("_step"))
        .group_by("customer_id")
        .agg(nw.when(hit).then(nw.col("_step")).min().alias("_until"))
        .with_columns(
            nw.when(nw.col("_until").is_null()).then(nw.lit("not converted"))
            .otherwise(nw.lit("converted")).alias("_group")
        )
    )


def _test(
    counts: pd.DataFrame,
    labels: tuple[str, str],
    n_a: int,
    n_b: int,
    min_customers: int,
    correction: Correction,
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
    tests, p_values = [], []
    for a, b in zip(out["customers_a"], out["customers_b"], strict=True):
        test, p = _two_by_two(int(a), int(b), n_a, n_b, min_customers)
        tests.append(test)
        p_values.append(p)
    out["test"] = tests
    out["p_value"] = p_values
    out["p_adjusted"] = np.nan
    tested = out["p_value"].notna()
    if tested.any():
        out.loc[tested, "p_adjusted"] = multipletests(
            out.loc[tested, "p_value"], alpha=alpha, method=correction
        )[1]
    out["significant"] = out["p_adjusted"] < alpha
    out["_abs"] = out["difference"].abs()
    out = out.sort_values(["p_adjusted", "_abs", "source", "target"],
                          ascending=[True, False, True, True], na_position="last")
    return out.drop(columns="_abs").reset_index(drop=True)[COLUMNS]


def _two_by_two(a: int, b: int, n_a: int, n_b: int, min_customers: int) -> tuple[str, float]:
    if n_a == 0 or n_b == 0 or a + b < min_customers:
        return "not tested (too few customers)", np.nan
    table = np.array([[a, n_a - a], [b, n_b - b]])
    if (table.sum(axis=0) == 0).any():
        return "not tested (no variation)", np.nan
    expected = stats.contingency.expected_freq(table)
    if (expected < 5).any():
        return "Fisher exact", float(stats.fisher_exact(table)[1])
    return "chi-square", float(stats.chi2_contingency(table, correction=False)[1])
