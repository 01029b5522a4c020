"""Experiments page: the settings (kept in the URL), their controls and the cached analyses.
The result sections are in ui/experiment_sections.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from analysis.experiments import compare, kpis
from analysis.experiments.event_study import EventStudyResult, event_study
from analysis.frames import Filters
from ui import data
from ui.sidebar import Context
from ui.state import parse_date

MODES = {"ab": "A/B test", "before_after": "Before/after",
         "did": "Before/after with a control group"}
CORRECTIONS = {"holm": "Holm (family-wise error)", "fdr_bh": "Benjamini–Hochberg (false "
               "discovery rate)"}
SKEW = {"none": "As they are", "winsorize": "Cap at the 99th percentile", "rank": "Rank test "
        "(Mann–Whitney)"}
AGGREGATIONS = {"customers": "Customers (each once, by first-event month)",
                "cells": "Segment × month cell means (two-way fixed effects)"}
DEFAULT_KPIS = ("converted", "revenue", "churned", "nps", "csat", "ces")
VARIANT_NAMES = re.compile(r"variant|arm|experiment|treatment|test|bucket|cohort|group",
                           re.IGNORECASE)
MAX_VARIANTS = 8


@dataclass(frozen=True)
class ExperimentSettings:
    """Everything the page's results depend on (the cache key of every result)."""

    mode: str
    kpis: tuple[str, ...]
    conversion: tuple[str, ...]
    churn: tuple[str, ...]
    churn_days: int = 30
    touchpoint: str | None = None
    variant: str | None = None
    control: str | None = None
    change: date | None = None
    group: str | None = None
    treated: tuple[str, ...] = ()
    correction: str = "holm"
    cuped: bool = False
    skew: str = "none"
    segment: str | None = None
    aggregation: str = "customers"
    horizon_days: int = 0

    @property
    def attributes(self) -> tuple[str, ...]:
        cols = (self.variant if self.mode == "ab" else None,
                self.group if self.mode == "did" else None, self.segment)
        return tuple(dict.fromkeys(c for c in cols if c))

    @property
    def change_at(self) -> datetime | None:
        return datetime.combine(self.change, datetime.min.time()) if self.change else None

    def catalog(self) -> dict[str, kpis.KPI]:
        return kpis.kpi_catalog(touchpoint=self.touchpoint, churn_days=self.churn_days)

    def params(self) -> dict[str, list[str]]:
        out = {"mode": [self.mode], "kpi": list(self.kpis) or ["none"],
               "chg": [self.change.isoformat()] if self.change else [],
               "cdays": [str(self.churn_days)], "tp": [self.touchpoint or ""],
               "hdays": [str(self.horizon_days)] if self.horizon_days else [],
               "corr": [self.correction], "skew": [self.skew],
               "seg": [self.segment] if self.segment else []}
        if self.mode == "ab":
            out.update(var=[self.variant or ""], ctl=[self.control or ""],
                       cuped=["1" if self.cuped else "0"])
        if self.mode == "did":
            out.update(grp=[self.group or ""], trt=list(self.treated), agg=[self.aggregation])
        return {k: [x for x in v if x] for k, v in out.items()}

    def describe(self) -> list[tuple[str, str]]:
        """The settings as label/value pairs (review pack, captions)."""
        catalog = self.catalog()
        rows = [("Design", MODES[self.mode]),
                ("KPIs", ", ".join(catalog[k].label for k in self.kpis if k in catalog)),
                ("Conversion", " or ".join(self.conversion) or "not defined"),
                ("Churn", (" or ".join(self.churn) + f", within {self.churn_days} days")
                 if self.churn else "not defined"),
                ("Counted over", f"each customer's first {self.horizon_days} days"
                 if self.horizon_days else "each customer's whole journey")]
        if self.mode == "ab":
            rows += [("Variant column", self.variant or ""), ("Control", self.control or ""),
                     ("Experiment start", self.change.isoformat() if self.change else
                      "the start of the data"), ("CUPED", "on" if self.cuped else "off"),
                     ("Skewed metrics", SKEW[self.skew])]
        else:
            rows.append(("Change date", self.change.isoformat() if self.change else ""))
        if self.mode == "did":
            rows += [("Treated group", f"{self.group} = {', '.join(self.treated)}"),
                     ("Aggregation", AGGREGATIONS[self.aggregation])]
        rows += [("Multiple-testing correction", CORRECTIONS[self.correction]),
                 ("Broken down by", self.segment or "nothing")]
        return rows


# ---------------------------------------------------------------- cached analyses


def _window(filters: Filters, start: date | None, end: date | None) -> Filters:
    """``filters`` narrowed to [start, end] (both optional, inclusive days)."""
    lo = max(d for d in (filters.start, start) if d) if filters.start or start else None
    hi = min(d for d in (filters.end, end) if d) if filters.end or end else None
    return replace(filters, start=lo, end=hi)


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Computing each customer's KPIs…")
def _units(path: str, events_id: str, feedback_id: str | None, filters: Filters,
           population: tuple) -> pd.DataFrame:
    conversion, churn, churn_days, touchpoint, attributes, horizon = population
    events, feedback = data.events_with_feedback(path, events_id, feedback_id, filters)
    if feedback is not None and "customer_id" not in feedback.collect_schema().names():
        feedback = None
    return kpis.customer_kpis(events, feedback, conversion=conversion, churn=churn,
                              churn_days=churn_days, touchpoint=touchpoint,
                              attributes=attributes, horizon_days=horizon or None)


def _population(filters: Filters, s: ExperimentSettings, side: str) -> tuple[Filters, tuple]:
    """The filters of ``side`` and what the per-customer KPIs depend on (their cache key)."""
    if side == "post":
        filters = _window(filters, s.change, None)
    elif side == "pre":
        filters = _window(filters, None, s.change - timedelta(days=1))
    return filters, (s.conversion, s.churn, s.churn_days, s.touchpoint, s.attributes,
                     s.horizon_days)


def units(path: str, events_id: str, feedback_id: str | None, filters: Filters,
          s: ExperimentSettings, side: str = "all") -> pd.DataFrame:
    """Per-customer KPIs (cached on what they depend on only, so changing the KPIs shown or
    the test options reuses them). ``side`` "post"/"pre": events from / before the
    experiment start (A/B mode), "all": every event."""
    return _units(path, events_id, feedback_id, *_population(filters, s, side))


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _available(path: str, events_id: str, feedback_id: str | None, filters: Filters,
               population: tuple) -> list[str]:
    """The KPIs the per-customer table has values for: kept apart, so that a rerun does not
    read the whole table back from the cache (a copy of a row per customer) for this list."""
    table = _units(path, events_id, feedback_id, filters, population)
    _, _, churn_days, touchpoint, _, _ = population
    return kpis.available_kpis(table, kpis.kpi_catalog(touchpoint=touchpoint,
                                                       churn_days=churn_days))


def _side(s: ExperimentSettings) -> str:
    return "post" if s.mode == "ab" and s.change else "all"


def outcome_kpis(ctx: Context, s: ExperimentSettings) -> list[str]:
    """The KPIs the per-customer table (the outcome side) has a value for."""
    fb = ctx.feedback.id if ctx.feedback else None
    return _available(ctx.path, ctx.events.id, fb, *_population(ctx.filters, s, _side(s)))


def effects(path: str, events_id: str, feedback_id: str | None, filters: Filters,
            s: ExperimentSettings) -> compare.Effects:
    """Every KPI tested, cached without the multiple-testing correction: a new correction
    re-adjusts the p-values and runs no test again."""
    tested = _effects(path, events_id, feedback_id, filters, replace(s, correction="holm"))
    return tested if s.correction == "holm" else compare.with_correction(tested, s.correction)


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Testing every KPI…")
def _effects(path: str, events_id: str, feedback_id: str | None, filters: Filters,
             s: ExperimentSettings) -> compare.Effects:
    catalog = s.catalog()
    if s.mode == "ab":
        table = units(path, events_id, feedback_id, filters, s, "post" if s.change else "all")
        pre = (units(path, events_id, feedback_id, filters, s, "pre")
               if s.cuped and s.change else None)
        return compare.ab_effects(
            table, s.kpis, catalog, variant=s.variant, control=s.control,
            correction=s.correction, segment=s.segment, pre=pre,
            winsorize=0.99 if s.skew == "winsorize" else None, rank_test=s.skew == "rank")
    table = units(path, events_id, feedback_id, filters, s)
    if s.mode == "before_after":
        return compare.before_after_effects(table, s.kpis, catalog, change=s.change_at,
                                            correction=s.correction, segment=s.segment)
    return compare.did_effects(table, s.kpis, catalog, treated=treated_flag(table, s),
                               change=s.change_at, correction=s.correction,
                               segment=s.segment, aggregation=s.aggregation, cell=s.group)


def treated_flag(table: pd.DataFrame, s: ExperimentSettings) -> pd.Series:
    """True in the treated group, False in control, None for customers with no (or mixed)
    value."""
    return compare.treated_flag(table[s.group], s.treated)


def groups(table: pd.DataFrame, s: ExperimentSettings) -> pd.Series:
    """The line each customer belongs to on the trend chart."""
    if s.mode == "ab":
        return table[s.variant]
    if s.mode == "did":
        flag = treated_flag(table, s)
        return flag.map({True: compare.TREATED, False: compare.CONTROL})
    return pd.Series(compare.ALL, index=table.index)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Drawing the trend…")
def trend(path: str, events_id: str, feedback_id: str | None, filters: Filters,
          s: ExperimentSettings, kpi: str) -> pd.DataFrame:
    table = units(path, events_id, feedback_id, filters, s)
    table = table[["period", kpi]].assign(group=groups(table, s))
    summary = kpis.kpi_summary(table, [kpi], by=["period", "group"], catalog=s.catalog())
    return summary.drop(columns="kpi")


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Estimating effects month by month…")
def event_study_result(path: str, events_id: str, feedback_id: str | None, filters: Filters,
                       s: ExperimentSettings, kpi: str) -> EventStudyResult:
    table = units(path, events_id, feedback_id, filters, s)
    flag = treated_flag(table, s)
    table = table.assign(_treated=flag.astype(float))
    table = table[table["_treated"].notna() & table[kpi].notna()]
    scale = s.catalog()[kpi].scale
    table = table.assign(_y=table[kpi] * scale)
    change = pd.Timestamp(s.change).to_period("M").to_timestamp()
    return event_study(table, outcome="_y", treated="_treated", time="period",
                                   change=change, leads=4, lags=4)


# ---------------------------------------------------------------- choices


def variant_columns(ctx: Context) -> list[str]:
    """Attribute columns that could hold an assignment (2 to 8 values), likeliest first."""
    attributes: dict = ctx.events.profile.get("attributes", {})
    fit = [c for c, v in attributes.items() if 2 <= len(v) <= MAX_VARIANTS]
    return sorted(fit, key=lambda c: (not VARIANT_NAMES.search(c), c.lower()))


def attribute_values(ctx: Context, column: str | None) -> list[str]:
    if not column:
        return []
    return [str(v) for v in ctx.events.profile.get("attributes", {}).get(column, [])]


def data_range(ctx: Context) -> tuple[date | None, date | None]:
    profile = ctx.events.profile
    return tuple(parse_date(str(profile.get(k, ""))[:10]) for k in ("first", "last"))
