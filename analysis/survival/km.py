"""Kaplan–Meier survival curves, medians, RMST and log-rank tests, on aggregated counts.

Lifetimes are first counted per (group, time) (weights summed): in the engine that holds
them, or straight from the columns of a pandas frame with numpy, which is faster than handing
a million rows to an engine. The product-limit estimator, Greenwood variance and the log-rank
test then run in numpy on those counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.frames import require_columns, to_lazy
from analysis.results import Status
from analysis.schema import ParameterError
from analysis.stats import Z95
from analysis.survival.logrank import PAIRWISE_COLUMNS, logrank_tests

CURVE_COLUMNS = ["group", "time", "survival", "ci_lower", "ci_upper", "at_risk"]
ALL = "All"
MISSING = "(missing)"


@dataclass(frozen=True)
class KMResult:
    """Kaplan–Meier curves per group with their summary and log-rank tests.

    ``curves``: group, time, survival, ci_lower, ci_upper, at_risk (number at risk just
    before ``time``; weighted when weights are given); the first row of a group is time 0.
    ``summary``: group, customers, churned, median_time (NaN when the curve never reaches
    0.5), rmst (restricted mean survival time up to ``rmst_horizon``), survival_at_<h> per
    horizon (NaN past the group's last observation). ``logrank_p``: p of the log-rank test
    that all groups share one survival curve (None with one group). ``pairwise``: group_a,
    group_b, p_value, p_adjusted (Holm), only with more than two groups.
    """

    curves: pd.DataFrame
    summary: pd.DataFrame
    logrank_p: float | None
    pairwise: pd.DataFrame
    rmst_horizon: float | None = None
    status: Status = "ok"
    message: str = ""
    horizons: tuple[float, ...] = field(default=())


def kaplan_meier(
    lifetimes: Any,
    *,
    duration_col: str = "duration_days",
    event_col: str = "churned",
    by: str | None = None,
    weights: str | None = None,
    horizons: Sequence[float] = (30, 90, 180, 365),
    rmst_horizon: float | None = None,
    pairwise: bool = True,
) -> KMResult:
    """Kaplan–Meier (product-limit) survival curves by group, with 95% bands.

    At each distinct time ``t`` with ``d`` churns among ``n`` customers at risk the curve
    falls by the factor ``1 − d/n``; customers censored at ``t`` are still at risk at ``t``
    (churns come before censorings at the same time). Bands are the log-log (exponential
    Greenwood) 95% intervals, which stay within [0, 1]. The log-rank test's H0 is that every
    group has the same hazard at every time; it has most power when hazards are
    proportional and can miss curves that cross.

    Parameters
    ----------
    lifetimes : frame
        One row per customer (or per aggregated count with ``weights``), e.g. from
        :func:`customer_lifetimes`.
    duration_col, event_col : str
        Duration (≥ 0) and churn flag (bool or 0/1) columns.
    by : str, optional
        Column whose values define the groups compared.
    weights : str, optional
        Column of non-negative counts/weights per row.
    horizons : sequence of float
        Times at which survival is reported in the summary.
    rmst_horizon : float, optional
        Horizon of the restricted mean survival time; default the shortest of the groups'
        longest observed times, so every group's curve is known up to it.
    pairwise : bool
        Whether to test each pair of groups too (3+ groups); :func:`pairwise_logrank` gives
        the same table later, for a page that shows it only on demand.

    Returns
    -------
    KMResult
        status "empty" without rows, "degenerate" with no churn or with ``by`` holding one
        group; "ok" otherwise.
    """
    tables = _tables(lifetimes, duration_col, event_col, by, weights)
    horizons = tuple(float(h) for h in horizons)
    if not tables:
        return _empty_result(horizons, "No customers to analyse: the table is empty.")
    groups = list(tables)
    rmst_horizon = _rmst_horizon(tables, rmst_horizon)
    by_group = {g: _curve(g, t) for g, t in tables.items()}
    curves = pd.concat(by_group.values(), ignore_index=True)
    summary = pd.DataFrame(
        [_summary_row(g, tables[g], by_group[g], horizons, rmst_horizon) for g in groups]
    )
    if weights is None:  # counts of customers are whole numbers
        summary = summary.astype({"customers": "int64", "churned": "int64"})
    logrank_p, pairs = logrank_tests(tables, pairwise=pairwise)
    status, message = _status(summary, by, len(groups))
    return KMResult(curves, summary, logrank_p, pairs, float(rmst_horizon), status, message,
                    horizons)


def pairwise_logrank(
    lifetimes: Any,
    *,
    by: str,
    duration_col: str = "duration_days",
    event_col: str = "churned",
    weights: str | None = None,
) -> pd.DataFrame:
    """The ``pairwise`` table of :func:`kaplan_meier` alone: group_a, group_b, p_value of the
    log-rank test of the two, p_adjusted (Holm over the pairs); empty with 2 groups or fewer.
    """
    return logrank_tests(_tables(lifetimes, duration_col, event_col, by, weights))[1]


def _rmst_horizon(tables: dict[str, pd.DataFrame], given: float | None) -> float:
    if given is None:  # every group's curve is known up to the shortest longest time
        return min(float(t["time"].max()) for t in tables.values())
    if not given > 0:
        raise ParameterError(f"rmst_horizon must be positive, not {given!r}.",
                             "Pass a time in the duration's unit, e.g. 365, or None.")
    return float(given)


def _tables(data: Any, duration_col: str, event_col: str, by: str | None,
            weights: str | None) -> dict[str, pd.DataFrame]:
    """Event table per group (see :func:`_event_table`), groups in sorted order."""
    numeric = _numeric_pandas(data, duration_col, event_col, by, weights)
    rows = (_pandas_rows if numeric else _engine_rows)(data, duration_col, event_col, by, weights)
    codes, labels, time, events, total = rows
    _check_rows(time, events, total, duration_col, event_col, weights)
    if not len(codes):
        return {}
    # Labels sorted as text (two values may share one, e.g. a null and "(missing)"), so the
    # codes follow the order the groups are reported in.
    names, relabel = np.unique(np.array([*labels, MISSING], dtype=object), return_inverse=True)
    codes = relabel[np.where(codes < 0, len(labels), codes)]
    if len(names) < 2**15:  # numpy radix-sorts small integers when asked for a stable sort
        codes = codes.astype(np.int16)
    order = np.argsort(time)
    order = order[np.argsort(codes[order], kind="stable")]
    codes, time = codes[order], time[order]
    starts = np.flatnonzero(np.r_[True, (codes[1:] != codes[:-1]) | (time[1:] != time[:-1])])
    events = np.add.reduceat(events[order], starts)
    total = np.add.reduceat(total[order], starts)
    if ((events < -1e-9) | (events > total + 1e-9)).any():
        raise ParameterError(f"{event_col} must be true/false or 1/0.",
                             f"Convert {event_col} to booleans before calling kaplan_meier.")
    keep = total > 0
    if not keep.any():
        return {}
    codes, time, events, total = codes[starts][keep], time[starts][keep], events[keep], total[keep]
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
    return {str(names[codes[i]]): _event_table(time[i:j], events[i:j], total[i:j])
            for i, j in pairwise(bounds)}


def _numeric_pandas(data: Any, duration_col: str, event_col: str, by: str | None,
                    weights: str | None) -> bool:
    """A pandas frame whose duration, churn and weight columns are numbers or booleans: its
    rows are counted with numpy (other input, and text in those columns, go to the engine)."""
    numeric = pd.api.types.is_numeric_dtype
    return isinstance(data, pd.DataFrame) and (by is None or by in data.columns) and all(
        c is None or (c in data.columns and numeric(data[c]))
        for c in (duration_col, event_col, weights))


Rows = tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]


def _pandas_rows(data: pd.DataFrame, duration_col: str, event_col: str, by: str | None,
                 weights: str | None) -> Rows:
    """Group codes (−1: missing) and labels, time, events, total per row of a pandas frame."""
    def floats(column: str) -> np.ndarray:
        return data[column].to_numpy(dtype="float64", na_value=np.nan)

    weight = floats(weights) if weights else np.ones(len(data))
    if by is None:
        codes, labels = np.zeros(len(data), dtype=np.int64), [ALL]
    else:
        codes, uniques = pd.factorize(data[by])
        labels = _as_text(uniques, by)
    return codes, labels, floats(duration_col), floats(event_col) * weight, weight


def _as_text(values: Any, name: str) -> list[str]:
    """Group values as text, written as the engines cast them (true, 1.5, 2024-01-31…): the
    few distinct values go through the same cast as other input."""
    frame = pd.DataFrame({name: values})
    cast = to_lazy(frame).select(nw.col(name).cast(nw.String)).collect().to_pandas()[name]
    return [MISSING if pd.isna(v) else str(v) for v in cast]


def _engine_rows(data: Any, duration_col: str, event_col: str, by: str | None,
                 weights: str | None) -> Rows:
    """The same, counted per (group, time) in the engine; missing values stay NaN."""
    lf = to_lazy(data)
    needed = [c for c in (duration_col, event_col, by, weights) if c is not None]
    require_columns(lf, needed, "Kaplan–Meier")
    weight = nw.col(weights).cast(nw.Float64) if weights else nw.lit(1.0)
    group = nw.col(by).cast(nw.String) if by else nw.lit(ALL)
    rows = lf.select(group.alias("group"), nw.col(duration_col).cast(nw.Float64).alias("time"),
                     (nw.col(event_col).cast(nw.Float64) * weight).alias("events"),
                     weight.alias("total"))
    nulls = [nw.col(c).is_null().any().alias(f"null_{c}") for c in ("events", "total")]
    counts = (rows.group_by("group", "time", drop_null_keys=False)
              .agg(nw.col("events").sum(), nw.col("total").sum(), *nulls).collect().to_arrow())
    encoded = pc.cast(counts.column("group"), pa.string()).combine_chunks().dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def floats(column: str) -> np.ndarray:
        return counts.column(column).to_numpy().astype("float64")

    # A null anywhere in a (group, time) makes its count NaN, so the checks find it.
    events = np.where(floats("null_events") == 1, np.nan, floats("events"))
    total = np.where(floats("null_total") == 1, np.nan, floats("total"))
    return codes, encoded.dictionary.to_pylist(), floats("time"), events, total


def _check_rows(time: np.ndarray, events: np.ndarray, total: np.ndarray, duration_col: str,
                event_col: str, weights: str | None) -> None:
    if np.isnan(time).any() or (time < 0).any():
        raise ParameterError(f"{duration_col} has missing or negative values.", f"Give every "
                             f"row a duration ≥ 0 in {duration_col}, or drop those rows first.")
    if weights and (np.isnan(total).any() or (total < 0).any()):
        raise ParameterError(f"{weights} has missing or negative weights.",
                             "Weights are counts: give every row a number ≥ 0.")
    if np.isnan(events).any():
        raise ParameterError(f"{event_col} has missing values.",
                             f"Fill {event_col} with true/false (1/0) for every row.")


def _event_table(time: np.ndarray, events: np.ndarray, removed: np.ndarray) -> pd.DataFrame:
    """time, events, removed, at_risk of one group, sorted by time."""
    return pd.DataFrame({"time": time, "events": events, "removed": removed,
                         "at_risk": removed[::-1].cumsum()[::-1]})


def product_limit(events: np.ndarray, at_risk: np.ndarray) -> tuple[np.ndarray, ...]:
    """Survival, lower and upper 95% log-log bands after each time, from the counts.

    Greenwood: Var(log S) ≈ Σ d / (n (n − d)); the band is S^exp(±z·se) with
    se = sqrt(Σ d / (n (n − d))) / |log S|, i.e. a symmetric interval for log(−log S).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1 - events / at_risk, 1.0)
        survival = np.cumprod(np.clip(factor, 0, 1))
        terms = np.where(at_risk - events > 0, events / (at_risk * (at_risk - events)), 0.0)
        greenwood = np.cumsum(terms)
        log_s = np.log(survival)
        se = np.sqrt(greenwood) / np.abs(log_s)
        lower = survival ** np.exp(Z95 * se)
        upper = survival ** np.exp(-Z95 * se)
    ones = survival >= 1
    lower = np.where(ones, 1.0, np.where(survival <= 0, 0.0, lower))
    upper = np.where(ones, 1.0, np.where(survival <= 0, 0.0, upper))
    return survival, np.nan_to_num(lower, nan=0.0), np.nan_to_num(upper, nan=1.0)


def _curve(group: Any, table: pd.DataFrame) -> pd.DataFrame:
    survival, lower, upper = product_limit(table["events"].to_numpy(),
                                           table["at_risk"].to_numpy())
    start = 0.0 if table["time"].iloc[0] > 0 else None
    times = table["time"].to_numpy()
    at_risk = table["at_risk"].to_numpy()
    if start is not None:
        times = np.r_[0.0, times]
        at_risk = np.r_[at_risk[0], at_risk]
        survival, lower, upper = (np.r_[1.0, a] for a in (survival, lower, upper))
    return pd.DataFrame({"group": group, "time": times, "survival": survival,
                         "ci_lower": lower, "ci_upper": upper, "at_risk": at_risk})


def _summary_row(group: Any, table: pd.DataFrame, curve: pd.DataFrame,
                 horizons: tuple[float, ...], rmst_horizon: float) -> dict[str, Any]:
    times, survival = curve["time"].to_numpy(), curve["survival"].to_numpy()
    reached = np.flatnonzero(survival <= 0.5)
    row = {
        "group": group,
        "customers": float(table["removed"].sum()),
        "churned": float(table["events"].sum()),
        "median_time": float(times[reached[0]]) if reached.size else np.nan,
        "rmst": restricted_mean(times, survival, rmst_horizon),
    }
    for h in horizons:
        row[f"survival_at_{h:g}"] = survival_at(times, survival, h)
    return row


def survival_at(times: np.ndarray, survival: np.ndarray, horizon: float) -> float:
    """S(horizon) of a step curve; NaN past its last time unless it already reached 0."""
    if horizon > times[-1] and survival[-1] > 0:
        return np.nan
    index = np.searchsorted(times, horizon, side="right") - 1
    return float(survival[index]) if index >= 0 else 1.0


def restricted_mean(times: np.ndarray, survival: np.ndarray, horizon: float) -> float:
    """∫₀^horizon S(t) dt of a step curve starting at S(0) = 1 (held flat past its end)."""
    edges = np.r_[0.0, times[(times > 0) & (times < horizon)], horizon]
    index = np.searchsorted(times, edges[:-1], side="right") - 1
    values = np.where(index >= 0, survival[np.maximum(index, 0)], 1.0)
    return float(np.sum(np.diff(edges) * values))


def _status(summary: pd.DataFrame, by: str | None, n_groups: int) -> tuple[Status, str]:
    if summary["churned"].sum() == 0:
        return "degenerate", ("No customer churned, so every curve stays at 100%. Check the "
                              "churn definition (touchpoints, inactivity days, as-of date).")
    if by is not None and n_groups == 1:
        return "degenerate", (f"All customers fall in one group of {by}, so there is nothing "
                              "to compare. Choose another attribute.")
    return "ok", ""


def _empty_result(horizons: tuple[float, ...], message: str) -> KMResult:
    summary = pd.DataFrame(columns=["group", "customers", "churned", "median_time", "rmst",
                                    *[f"survival_at_{h:g}" for h in horizons]])
    return KMResult(pd.DataFrame(columns=CURVE_COLUMNS), summary, None,
                    pd.DataFrame(columns=PAIRWISE_COLUMNS), None, "empty", message, horizons)
