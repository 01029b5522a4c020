"""Kaplan–Meier survival curves, medians, RMST and log-rank tests, on aggregated counts.

Lifetimes are first counted per (group, time) in the engine (weights summed), so a million
customers become a few thousand rows; the product-limit estimator, Greenwood variance and the
log-rank test then run in numpy on those counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.frames import require_columns, to_lazy
from analysis.results import Status
from analysis.schema import ParameterError
from analysis.stats import Z95, adjust_p_values

CURVE_COLUMNS = ["group", "time", "survival", "ci_lower", "ci_upper", "at_risk"]
PAIRWISE_COLUMNS = ["group_a", "group_b", "p_value", "p_adjusted"]
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

    Returns
    -------
    KMResult
        status "empty" without rows, "degenerate" with no churn or with ``by`` holding one
        group; "ok" otherwise.
    """
    counts = _counts(lifetimes, duration_col, event_col, by, weights)
    horizons = tuple(float(h) for h in horizons)
    if counts.empty:
        return _empty_result(horizons, "No customers to analyse: the table is empty.")
    groups = sorted(counts["group"].unique(), key=str)
    tables = {g: _event_table(counts[counts["group"] == g]) for g in groups}
    if rmst_horizon is None:
        rmst_horizon = min(float(t["time"].max()) for t in tables.values())
    elif not rmst_horizon > 0:
        raise ParameterError(f"rmst_horizon must be positive, not {rmst_horizon!r}.",
                             "Pass a time in the duration's unit, e.g. 365, or None.")
    by_group = {g: _curve(g, t) for g, t in tables.items()}
    curves = pd.concat(by_group.values(), ignore_index=True)
    summary = pd.DataFrame(
        [_summary_row(g, tables[g], by_group[g], horizons, rmst_horizon) for g in groups]
    )
    if weights is None:  # counts of customers are whole numbers
        summary = summary.astype({"customers": "int64", "churned": "int64"})
    logrank_p = logrank_test(list(tables.values())) if len(groups) > 1 else None
    pairwise = _pairwise(tables) if len(groups) > 2 else pd.DataFrame(columns=PAIRWISE_COLUMNS)
    status, message = _status(summary, by, len(groups))
    return KMResult(curves, summary, logrank_p, pairwise, float(rmst_horizon), status, message,
                    horizons)


def _counts(data: Any, duration_col: str, event_col: str, by: str | None,
            weights: str | None) -> pd.DataFrame:
    """group, time, events, total (weighted) per distinct (group, time), collected."""
    lf = to_lazy(data)
    needed = [c for c in (duration_col, event_col, by, weights) if c is not None]
    require_columns(lf, needed, "Kaplan–Meier")
    weight = nw.col(weights).cast(nw.Float64) if weights else nw.lit(1.0)
    group = nw.col(by).cast(nw.String) if by else nw.lit(ALL)
    rows = lf.select(
        group.alias("group"),
        nw.col(duration_col).cast(nw.Float64).alias("time"),
        (nw.col(event_col).cast(nw.Float64) * weight).alias("events"),
        weight.alias("total"),
    )
    counts = (
        rows.group_by("group", "time", drop_null_keys=False)
        .agg(nw.col("events").sum(), nw.col("total").sum(),
             nw.col("events").is_null().sum().alias("null_events"),
             nw.col("total").is_null().sum().alias("null_total"))
        .collect()
        .to_pandas()
    )
    _check_counts(counts, duration_col, event_col, weights)
    counts["group"] = counts["group"].fillna(MISSING)
    return counts[counts["total"] > 0].reset_index(drop=True)


def _check_counts(counts: pd.DataFrame, duration_col: str, event_col: str,
                  weights: str | None) -> None:
    time = counts["time"]
    if time.isna().any() or (time < 0).any():
        raise ParameterError(
            f"{duration_col} has missing or negative values.",
            f"Give every row a duration ≥ 0 in {duration_col}, or drop those rows first.",
        )
    if counts["null_events"].sum() > 0:
        raise ParameterError(f"{event_col} has missing values.",
                             f"Fill {event_col} with true/false (1/0) for every row.")
    if weights and (counts["null_total"].sum() > 0 or (counts["total"] < 0).any()):
        raise ParameterError(f"{weights} has missing or negative weights.",
                             "Weights are counts: give every row a number ≥ 0.")
    bad = (counts["events"] < -1e-9) | (counts["events"] > counts["total"] + 1e-9)
    if bad.any():
        raise ParameterError(f"{event_col} must be true/false or 1/0.",
                             f"Convert {event_col} to booleans before calling kaplan_meier.")


def _event_table(counts: pd.DataFrame) -> pd.DataFrame:
    """time, events, removed, at_risk of one group, sorted by time."""
    table = counts.sort_values("time")[["time", "events", "total"]].reset_index(drop=True)
    removed = table["total"].to_numpy()
    at_risk = removed[::-1].cumsum()[::-1]
    return pd.DataFrame({"time": table["time"].to_numpy(), "events": table["events"].to_numpy(),
                         "removed": removed, "at_risk": at_risk})


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


def logrank_test(tables: list[pd.DataFrame]) -> float:
    """p of the k-group log-rank chi-square test (k − 1 degrees of freedom) on event tables.

    At each pooled time, expected churns per group are the group's share of those at risk;
    the statistic is (O − E)ᵀ V⁻¹ (O − E) over k − 1 groups with the hypergeometric
    covariance V. NaN when no churn happened (nothing to compare).
    """
    times = np.unique(np.concatenate([t["time"].to_numpy() for t in tables]))
    risk = np.vstack([_at_risk_on(t, times) for t in tables])
    deaths = np.vstack([_events_on(t, times) for t in tables])
    n, d = risk.sum(axis=0), deaths.sum(axis=0)
    keep = (d > 0) & (n > 0)
    risk, deaths, n, d = risk[:, keep], deaths[:, keep], n[keep], d[keep]
    if not keep.any():
        return np.nan
    share = risk / n
    observed_minus_expected = (deaths - d * share).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    covariance = (np.einsum("j,gj->g", scale, share) * np.eye(len(tables))
                  - np.einsum("j,gj,hj->gh", scale, share, share))
    diff, cov = observed_minus_expected[:-1], covariance[:-1, :-1]
    statistic = float(diff @ np.linalg.pinv(cov) @ diff)
    dof = np.linalg.matrix_rank(cov)
    return float(sps.chi2.sf(statistic, dof)) if dof > 0 else np.nan


def _at_risk_on(table: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Number at risk just before each of ``times``: removals at or after it."""
    removed_after = np.r_[table["removed"].to_numpy()[::-1].cumsum()[::-1], 0.0]
    return removed_after[np.searchsorted(table["time"].to_numpy(), times, side="left")]


def _events_on(table: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    out = np.zeros(len(times))
    out[np.searchsorted(times, table["time"].to_numpy())] = table["events"].to_numpy()
    return out


def _pairwise(tables: dict[Any, pd.DataFrame]) -> pd.DataFrame:
    pairs = list(combinations(tables, 2))
    p = [logrank_test([tables[a], tables[b]]) for a, b in pairs]
    return pd.DataFrame({"group_a": [a for a, _ in pairs], "group_b": [b for _, b in pairs],
                         "p_value": p, "p_adjusted": adjust_p_values(p, "holm")})


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
