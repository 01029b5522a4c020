"""Log-rank tests of survival curves: of all the groups, and of each pair of them."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.stats import adjust_p_values

PAIRWISE_COLUMNS = ["group_a", "group_b", "p_value", "p_adjusted"]


def logrank_tests(tables: dict[str, pd.DataFrame], *,
                  pairwise: bool = True) -> tuple[float | None, pd.DataFrame]:
    """The log-rank p of all groups (None with one) and the pairwise tests (3+ groups;
    empty unless ``pairwise``) of event tables by group."""
    if len(tables) < 2:
        return None, pd.DataFrame(columns=PAIRWISE_COLUMNS)
    risk, deaths = _on_churn_times(list(tables.values()))
    pairs = (_pairwise(list(tables), risk, deaths) if pairwise and len(tables) > 2
             else pd.DataFrame(columns=PAIRWISE_COLUMNS))
    return _logrank(risk, deaths), pairs


def logrank_test(tables: list[pd.DataFrame]) -> float:
    """p of the k-group log-rank chi-square test (k − 1 degrees of freedom) on event tables.

    At each pooled time, expected churns per group are the group's share of those at risk;
    the statistic is (O − E)ᵀ V⁻¹ (O − E) over k − 1 groups with the hypergeometric
    covariance V. NaN when no churn happened (nothing to compare).
    """
    return _logrank(*_on_churn_times(tables))


def _on_churn_times(tables: list[pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """At risk and churns of each group (rows) at each time some group has a churn: the only
    times that enter a log-rank test, of all the groups or of any pair of them."""
    churned = [t["events"].to_numpy() > 0 for t in tables]
    times = np.unique(np.concatenate([t["time"].to_numpy()[c]
                                      for t, c in zip(tables, churned, strict=True)]))
    risk = np.vstack([_at_risk_on(t, times) for t in tables])
    deaths = np.zeros_like(risk)
    for row, table, churn in zip(deaths, tables, churned, strict=True):
        row[np.searchsorted(times, table["time"].to_numpy()[churn])] = (
            table["events"].to_numpy()[churn])
    return risk, deaths


def _logrank(risk: np.ndarray, deaths: np.ndarray, rows: list[int] | None = None) -> float:
    """The log-rank p of ``rows`` (default all) of the at-risk and churn matrices."""
    if rows is None:
        rows = list(range(len(risk)))
        n, d = risk.sum(axis=0), deaths.sum(axis=0)
        keep = np.flatnonzero((d > 0) & (n > 0))
    else:  # the same sums, at the rows' churn times only
        d = sum(deaths[r] for r in rows)
        churn = np.flatnonzero(d > 0)
        n = np.zeros_like(d)
        n[churn] = sum(risk[r, churn] for r in rows)
        keep = churn[n[churn] > 0]
    if not keep.size:
        return np.nan
    # Column-major, as a boolean column mask gives, so the sums below add in the same order
    # (and give the same last digits) as they always have.
    risk, deaths = (np.asfortranarray(a[np.ix_(rows, keep)]) for a in (risk, deaths))
    n, d = n[keep], d[keep]
    share = risk / n
    observed_minus_expected = (deaths - d * share).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    covariance = (np.einsum("j,gj->g", scale, share) * np.eye(len(risk))
                  - np.einsum("j,gj,hj->gh", scale, share, share))
    diff, cov = observed_minus_expected[:-1], covariance[:-1, :-1]
    statistic = float(diff @ np.linalg.pinv(cov) @ diff)
    dof = np.linalg.matrix_rank(cov)
    return float(sps.chi2.sf(statistic, dof)) if dof > 0 else np.nan


def _at_risk_on(table: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Number at risk just before each of ``times``: removals at or after it."""
    removed_after = np.r_[table["removed"].to_numpy()[::-1].cumsum()[::-1], 0.0]
    return removed_after[np.searchsorted(table["time"].to_numpy(), times, side="left")]


def _pairwise(groups: list[str], risk: np.ndarray, deaths: np.ndarray) -> pd.DataFrame:
    pairs = list(combinations(range(len(groups)), 2))
    p = [_logrank(risk, deaths, [a, b]) for a, b in pairs]
    return pd.DataFrame({"group_a": [groups[a] for a, _ in pairs],
                         "group_b": [groups[b] for _, b in pairs],
                         "p_value": p, "p_adjusted": adjust_p_values(p, "holm")})
