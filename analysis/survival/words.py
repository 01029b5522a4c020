"""Survival results in plain words, for pages and review packs."""

from __future__ import annotations

import math

import pandas as pd

from analysis.figures.labels import duration_text
from analysis.survival.cox import CoxResult
from analysis.survival.km import KMResult

ALPHA = 0.05


def p_text(p: float) -> str:
    """"p < 0.001" or "p = 0.042"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def days_text(days: float) -> str:
    """A lifetime in days read at a glance ("4.2 months" is not used: days are exact)."""
    if days is None or (isinstance(days, float) and math.isnan(days)):
        return "not reached"
    return duration_text(float(days) * 86_400)


def group_comparison(km: KMResult, hazard: CoxResult | None = None, *,
                     label: str = "customers") -> str:
    """The log-rank verdict in a sentence.

    Two groups with a one-covariate Cox fit (``hazard``: the group column against its most
    frequent value): "Premium customers' churn hazard is 65% lower than Budget's (hazard
    ratio 0.35, 95% CI 0.28 to 0.44); log-rank p < 0.001." More groups: which stays longest
    and which churns fastest, by median (or by restricted mean when a median is not reached).
    """
    if km.logrank_p is None or km.status != "ok":
        return km.message
    p = km.logrank_p
    summary = km.summary
    if p >= ALPHA:
        return (f"No clear difference in how long {label} stay between these groups "
                f"(log-rank {p_text(p)}).")
    if len(summary) == 2 and hazard is not None and hazard.status == "ok" and len(
            hazard.table) == 1:
        return _two_groups(summary, hazard, p, label)
    longest, shortest = _extremes(summary, km.rmst_horizon)
    return (f"How long {label} stay differs between the groups (log-rank {p_text(p)}): "
            f"{longest} stay longest, {shortest} churn fastest.")


def _two_groups(summary: pd.DataFrame, hazard: CoxResult, p: float, label: str) -> str:
    row = hazard.table.iloc[0]
    level = str(row["covariate"]).split("=", 1)[-1]
    groups = [str(g) for g in summary["group"]]
    reference = next((g for g in groups if g != level), groups[0])
    ratio = float(row["hazard_ratio"])
    change = (f"{(1 - ratio) * 100:.0f}% lower" if ratio < 1
              else f"{(ratio - 1) * 100:.0f}% higher")
    return (f"{level} {label}' churn hazard is {change} than {reference}'s (hazard ratio "
            f"{ratio:.2f}, 95% CI {row['ci_low']:.2f} to {row['ci_high']:.2f}); log-rank "
            f"{p_text(p)}.")


def _extremes(summary: pd.DataFrame, summary_horizon: float | None) -> tuple[str, str]:
    """The groups that stay longest and churn fastest, each with the figure that says so."""
    medians = summary["median_time"]
    key = "rmst" if medians.isna().all() else "median_time"
    values = summary[key].fillna(math.inf) if key == "median_time" else summary[key]
    ordered = summary.assign(_v=values.to_numpy()).sort_values("_v", kind="stable")
    what = "median" if key == "median_time" else (
        f"mean time as a customer over the first {days_text(summary_horizon)}")

    def describe(row: pd.Series) -> str:
        return f"{row['group']} ({what} {days_text(row[key])})"

    return describe(ordered.iloc[-1]), describe(ordered.iloc[0])


def second_lifetime(km: KMResult, *, first: str = "First lifetime",
                    second: str = "After return") -> str:
    """Whether customers who came back stay longer the second time, in a sentence."""
    if km.status != "ok" or km.logrank_p is None:
        return km.message or "Too few customers came back to compare their lifetimes."
    rows = km.summary.set_index(km.summary["group"].astype(str))
    if first not in rows.index or second not in rows.index:
        return km.message
    before, after = rows.loc[first], rows.loc[second]
    key, what = ("median_time", "median") if not (
        math.isnan(before["median_time"]) or math.isnan(after["median_time"])) else (
        "rmst", f"mean over the first {days_text(km.rmst_horizon)}")
    figures = (f"{what} {days_text(after[key])} after coming back against "
               f"{days_text(before[key])} for first lifetimes")
    p = km.logrank_p
    if p >= ALPHA:
        return (f"Returning customers stay about as long the second time ({figures}; "
                f"log-rank {p_text(p)}).")
    longer = "longer" if after[key] > before[key] else "shorter"
    return (f"Returning customers stay {longer} the second time: {figures} (log-rank "
            f"{p_text(p)}).")
