"""The funnel table: customers reaching each step, conversion, timing and group comparisons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical, seconds_between, to_lazy
from analysis.funnel.core import Mode, Steps, check_funnel, customer_steps, step_label, step_sets
from analysis.stats import adjust_p_values, contingency_test, wilson_interval

#: Groups with fewer customers at step 1 are shown but not tested.
MIN_GROUP = 30

COLUMNS = [
    "step_index", "step", "customers", "conversion_from_start", "conversion_from_previous",
    "median_seconds_from_previous",
]
BREAKDOWN_COLUMNS = ["ci_low", "ci_high", "test", "p_value", "p_adjusted", "note"]


def funnel(
    events: Any,
    steps: Steps,
    *,
    window: timedelta | None = None,
    by: str | None = None,
    mode: Mode = "ordered",
    step_col: str = "touchpoint",
) -> pd.DataFrame:
    """Customers reaching each step of a funnel.

    Parameters
    ----------
    events
        Events in canonical columns (pandas, Polars, DuckDB or PySpark), filters applied.
    steps
        Step names matched against ``step_col``; an item may be a list (any of them counts).
    window
        Maximum time from the step-1 event to each later step's event, or None.
    by
        A column to break the funnel down by; a customer's group is its value on their
        step-1 event.
    mode
        "ordered", "strict" or "any_order" (see :mod:`analysis.funnel.core`).
    step_col
        "touchpoint" (default) or "stage", or any text column.

    Returns
    -------
    DataFrame with step_index (1-based), step, customers, conversion_from_start (customers /
    step-1 customers), conversion_from_previous (customers / previous step's customers; 1.0
    at step 1), median_seconds_from_previous (NaN at step 1). With ``by``: the ``by`` column
    first, then per group also ci_low/ci_high (95% Wilson interval of conversion_from_start),
    and per step test, p_value and p_adjusted: H0 is that conversion from the previous step
    is the same in every group with at least 30 customers at step 1 (chi-square on the
    groups × reached/lost table, Fisher's exact test for two groups when an expected count is
    below 5, no test for more groups then). p_adjusted is Holm-adjusted over the steps
    tested. ``note`` says why a group or step was not tested.

    Raises
    ------
    ParameterError
        An unknown step name (the message lists the data's names), mode or window.
    """
    sets = step_sets(steps)
    lf = canonical(events, "events")
    check_funnel(lf, sets, window=window, by=by, mode=mode, step_col=step_col)
    per = customer_steps(lf, sets, window=window, by=by, mode=mode, step_col=step_col)
    return _assemble(_summarise(per, len(sets)), sets, by)


def funnel_from_times(times: pd.DataFrame, steps: Steps, *, by: str | None = None):
    """:func:`funnel` from :func:`analysis.funnel.step_times` computed with the same steps
    and ``by`` (the same table, without following the customers again)."""
    sets = step_sets(steps)
    return _assemble(_summarise(to_lazy(times), len(sets)), sets, by)


def _summarise(per: nw.LazyFrame, k: int) -> pd.DataFrame:
    """Per group: customers reaching each step (time not null) and the median time from the
    previous step."""
    aggs = []
    for i in range(k):
        hit = ~nw.col(f"_t{i}").is_null()
        aggs.append(hit.cast(nw.Int64).sum().alias(f"c{i}"))
        if i:
            gap = seconds_between(per, f"_t{i}", f"_t{i - 1}")
            aggs.append(nw.when(hit).then(gap).median().alias(f"m{i}"))
    wide = per.group_by("_group").agg(*aggs).collect().to_pandas()
    rows = []
    for record in wide.to_dict("records"):
        for i in range(k):
            rows.append({
                "_group": str(record["_group"]), "step_index": i + 1,
                "customers": 0 if pd.isna(record[f"c{i}"]) else int(record[f"c{i}"]),
                "median_seconds_from_previous": float(record[f"m{i}"]) if i and pd.notna(
                    record[f"m{i}"]) else np.nan,
            })
    return pd.DataFrame(rows, columns=["_group", "step_index", "customers",
                                       "median_seconds_from_previous"])


def _assemble(counts: pd.DataFrame, sets: list[tuple[str, ...]], by: str | None):
    if counts.empty:
        groups = ["all"] if by is None else []
        counts = pd.DataFrame(
            [{"_group": g, "step_index": i + 1, "customers": 0,
              "median_seconds_from_previous": np.nan}
             for g in groups for i in range(len(sets))],
            columns=["_group", "step_index", "customers", "median_seconds_from_previous"],
        )
    table = counts.sort_values(["_group", "step_index"]).reset_index(drop=True)
    table["customers"] = table["customers"].astype(int)
    table["step"] = [step_label(sets[i - 1]) for i in table["step_index"]]
    start = table.groupby("_group")["customers"].transform("first")
    previous = table.groupby("_group")["customers"].shift(1).fillna(table["customers"])
    with np.errstate(divide="ignore", invalid="ignore"):
        table["conversion_from_start"] = np.where(start > 0, table["customers"] / start, np.nan)
        table["conversion_from_previous"] = np.where(
            previous > 0, table["customers"] / previous, np.nan
        )
    if by is None:
        return table[COLUMNS].reset_index(drop=True)
    table = table.rename(columns={"_group": by})
    table = _breakdown_stats(table, by)
    return table[[by, *COLUMNS, *BREAKDOWN_COLUMNS]].reset_index(drop=True)


def _breakdown_stats(table: pd.DataFrame, by: str) -> pd.DataFrame:
    start = table.groupby(by)["customers"].transform("first").to_numpy()
    table["ci_low"], table["ci_high"] = wilson_interval(table["customers"].to_numpy(), start)
    table["test"] = ""
    table["p_value"] = np.nan
    table["note"] = ""
    sizes = table[table["step_index"] == 1].set_index(by)["customers"]
    small = set(sizes[sizes < MIN_GROUP].index)
    table.loc[table[by].isin(small), "note"] = f"fewer than {MIN_GROUP} customers: not tested"
    testable = [g for g in sizes.index if g not in small]
    for step in sorted(table["step_index"].unique())[1:]:
        rows = table[(table["step_index"] == step) & table[by].isin(testable)]
        prev = table[(table["step_index"] == step - 1) & table[by].isin(testable)]
        if len(rows) < 2:
            continue
        reached = rows["customers"].to_numpy()
        lost = prev["customers"].to_numpy() - reached
        test, p = contingency_test(np.vstack([reached, lost]))
        table.loc[rows.index, "test"] = test
        table.loc[rows.index, "p_value"] = p
        if np.isnan(p):
            table.loc[rows.index, "note"] = test
    table["p_adjusted"] = _adjust_per_step(table, by)
    return table


def _adjust_per_step(table: pd.DataFrame, by: str) -> np.ndarray:
    """Holm over the steps tested: one p-value per step, shared by its groups' rows."""
    per_step = table.groupby("step_index")["p_value"].first()
    adjusted = pd.Series(adjust_p_values(per_step.to_numpy(), "holm"), index=per_step.index)
    tested = table["p_value"].notna()
    return np.where(tested, table["step_index"].map(adjusted), np.nan)
