"""Churn page: the churn definition (kept in the URL), cached survival analyses and the
survival section; the other sections are in ui/churn_sections.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analysis import survival
from analysis.figures import survival as survival_figures
from analysis.frames import Filters
from analysis.schema import AnalysisError
from analysis.survival import words
from analysis.survival.at_risk import covariate_label
from ui import data
from ui import definitions as definition_controls
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.state import parse_date, parse_int
from ui.tables import show
from ui.text import md

MAX_GROUPS = 8
OTHER = "Other"
CLOCKS = {"first": "Their first event", "conversion": "Their first conversion"}
BASE_COLUMNS = ("customer_id", "start", "end", "duration_days", "churned")


@dataclass(frozen=True)
class ChurnSettings:
    """The churn definition and the population of the page (the cache key of every result)."""

    churn: tuple[str, ...]
    inactivity_days: int
    as_of: date | None
    start_at: tuple[str, ...]
    suggested: bool = False

    @property
    def defined(self) -> bool:
        return bool(self.churn) or self.inactivity_days > 0

    @property
    def days(self) -> int | None:
        return self.inactivity_days or None

    @property
    def clock_title(self) -> str:
        return ("Days since first " + " or ".join(self.start_at) if self.start_at
                else "Days since first event")

    def params(self) -> dict[str, list[str]]:
        return {"ct": list(self.churn), "cin": [str(self.inactivity_days)],
                "asof": [self.as_of.isoformat()] if self.as_of else [],
                "clock": ["conversion" if self.start_at else "first"]}

    def rule(self) -> str:
        """The definition in words, for the caption under the controls."""
        parts = []
        if self.churn:
            parts.append("had " + " or ".join(self.churn))
        if self.inactivity_days:
            parts.append(f"had no activity for {self.inactivity_days} days")
        when = self.as_of.isoformat() if self.as_of else "the end of the data"
        start = ("their first " + " or ".join(self.start_at)) if self.start_at else (
            "their first event")
        return (f"A customer churned when they {' or '.join(parts)} before {when}; everyone "
                f"else is still a customer as far as the data can tell (censored at {when}). "
                f"Lifetimes start at {start}.")


# ---------------------------------------------------------------- cached analyses


def population_events(path: str, events_id: str, filters: Filters, s: ChurnSettings):
    events = data.events_frame(path, events_id, filters)
    return survival.from_first(events, s.start_at) if s.start_at else events


# The lifetimes, their curves and the churn model are read on every rerun: kept as objects
# (cache_resource), not pickled copies, which took seconds to read back at a million
# customers. Nothing changes them: every caller derives new frames (assign, copies).
@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Measuring each customer's lifetime…")
def churn_table(path: str, events_id: str, feedback_id: str | None, filters: Filters,
                s: ChurnSettings) -> pd.DataFrame:
    feedback = None
    if feedback_id is not None:
        _, feedback = data.events_with_feedback(path, events_id, feedback_id, filters)
    return survival.churn_table(data.events_frame(path, events_id, filters),
                                churn_touchpoints=list(s.churn) or None,
                                inactivity_days=s.days, as_of=s.as_of, feedback=feedback,
                                start_at=s.start_at)


def grouped(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """The lifetimes with a ``group`` column: ``by``'s value, small groups folded into Other
    so a chart keeps at most MAX_GROUPS curves."""
    if not by:
        return table.assign(group="All customers")
    values = table[by]
    if by.startswith(survival.TOUCHED_PREFIX):
        name = by[len(survival.TOUCHED_PREFIX):]
        labels = values.map({1: f"Had {name}", 0: f"Never had {name}"})
        return table.assign(group=labels.astype(str).to_numpy())
    # Each distinct value is written as text once (not once per customer), then counted.
    codes, uniques = pd.factorize(values)
    names = pd.Series(uniques).astype("string").fillna("(missing)").tolist()
    labels = np.array([*names, "(missing)"], dtype=object)[codes]
    label_codes, label_names = pd.factorize(labels)
    label_names = pd.Index(label_names)
    if len(label_names) > MAX_GROUPS:
        counts = pd.Series(np.bincount(label_codes), index=label_names)
        top = counts.sort_values(ascending=False).index[:MAX_GROUPS - 1]
        labels = np.where(np.isin(label_codes, label_names.get_indexer(top)), labels, OTHER)
    return table.assign(group=labels)


@st.cache_resource(max_entries=32, ttl=3600, show_spinner="Drawing survival curves…")
def km_result(path: str, events_id: str, feedback_id: str | None, filters: Filters,
              s: ChurnSettings, by: str) -> tuple[survival.KMResult, survival.CoxResult | None]:
    table = grouped(churn_table(path, events_id, feedback_id, filters, s), by)
    # The pairs of groups are tested only when their expander is opened (km_pairwise).
    km = survival.kaplan_meier(table, by="group" if by else None, pairwise=False)
    hazard = None
    if table["group"].nunique() == 2 and km.status == "ok":
        hazard = survival.cox_hazards(table, covariates=["group"])
    return km, hazard


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Testing each pair of groups…")
def km_pairwise(path: str, events_id: str, feedback_id: str | None, filters: Filters,
                s: ChurnSettings, by: str) -> pd.DataFrame:
    """The pairwise log-rank tests of :func:`km_result`'s groups."""
    table = grouped(churn_table(path, events_id, feedback_id, filters, s), by)
    return survival.pairwise_logrank(table, by="group")


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Drawing survival curves…")
def km_chart(path: str, events_id: str, feedback_id: str | None, filters: Filters,
             s: ChurnSettings, by: str) -> go.Figure:
    """The chart of :func:`km_result`, kept: building thousands of curve points per group
    takes seconds on a large dataset, on every rerun otherwise."""
    km, _ = km_result(path, events_id, feedback_id, filters, s, by)
    return survival_figures.survival_chart(km.curves, x_title=s.clock_title)


# ---------------------------------------------------------------- controls


def suggested_inactivity(ctx: Context) -> int | None:
    """The dataset's suggested inactivity threshold, kept in the workspace once counted: a
    quantile of the gaps between ten million events takes a second, on every first render
    otherwise, and the events of a dataset stored in the workspace never change ("" = none).
    """
    info = ctx.events
    key = f"suggested_inactivity_days:{info.id}"
    kept = info.location is None
    stored = ctx.workspace.get_meta(key) if kept else None
    if stored is not None:
        return int(stored) if stored else None
    days = definition_controls.suggested_inactivity(ctx.path, info.id)
    if kept and not ctx.workspace.read_only:
        ctx.workspace.set_meta(key, "" if days is None else str(days))
    return days


def _seed(ctx: Context, touchpoints: list[str], suggested: int | None) -> None:
    """Widget values from the URL (or the dataset's definitions) when the page is entered."""
    url, d = ctx.url, ctx.definitions
    if "c_ct" not in st.session_state:
        wanted = [t for t in url.get("ct", []) if t in touchpoints]
        st.session_state["c_ct"] = wanted if "ct" in url or "cin" in url else [
            t for t in d.churn if t in touchpoints]
    if "c_cin" not in st.session_state:
        days = (url.get("cin") or [""])[0]
        if parse_int(days, 0, 3650) is not None:
            st.session_state["c_cin"] = parse_int(days, 0, 3650)
        elif d.inactivity_days:
            st.session_state["c_cin"] = int(d.inactivity_days)
        else:
            no_rule = not st.session_state["c_ct"]
            st.session_state["c_cin"] = int(suggested or 0) if no_rule else 0
    if "c_asof" not in st.session_state:
        st.session_state["c_asof"] = parse_date((url.get("asof") or [None])[0])
    if "c_clock" not in st.session_state:
        clock = (url.get("clock") or [""])[0]
        st.session_state["c_clock"] = clock if clock in CLOCKS else (
            "conversion" if d.conversion else "first")


def controls(ctx: Context) -> ChurnSettings | None:
    """The churn definition row; None (with what to do) when there is no churn rule."""
    profile = ctx.events.profile
    touchpoints = sorted(profile.get("touchpoints", {}), key=str.lower)
    suggested = suggested_inactivity(ctx)
    _seed(ctx, touchpoints, suggested)
    first, last = (parse_date(str(profile.get(k, ""))[:10]) for k in ("first", "last"))
    cols = st.columns([1.6, 0.9, 1, 1.1])
    churn = cols[0].multiselect(
        "Churned when they had", touchpoints, key="c_ct", placeholder="No churn touchpoint",
        help="Touchpoints that mean a customer left: cancel, close account, unsubscribe.")
    days = cols[1].number_input(
        "…or inactive for (days)", 0, 3650, key="c_cin",
        help="Churn after this many days without any event before the as-of date; 0 = off. "
        + (f"Suggested for this data: {suggested} days (90% of the gaps between a "
           "customer's events are shorter)." if suggested else ""))
    chosen = st.session_state.get("c_asof")
    if chosen is not None and first and last and not first <= chosen <= last:
        st.session_state["c_asof"] = None  # from another dataset, or a bad link
    as_of = cols[2].date_input("As of", key="c_asof", min_value=first, max_value=last,
                               format="YYYY-MM-DD",
                               help="The observation date: events after it are ignored, as "
                               "if the data ended there. Empty = the last event.")
    conversion = ctx.definitions.conversion
    clock_options = list(CLOCKS) if conversion else ["first"]
    if st.session_state["c_clock"] not in clock_options:
        st.session_state["c_clock"] = "first"
    clock = cols[3].selectbox(
        "Lifetime starts at", clock_options, key="c_clock",
        format_func=lambda c: CLOCKS[c] if c == "first" else
        f"First {' or '.join(conversion)}",
        help="From the first conversion, only customers who converted are counted: the "
        "usual view of a subscription's lifetime.")
    settings = ChurnSettings(
        tuple(churn), int(days), as_of if isinstance(as_of, date) else None,
        tuple(conversion) if clock == "conversion" else (),
        suggested=bool(suggested) and not churn and int(days) == suggested
        and not ctx.definitions.inactivity_days)
    if not settings.defined:
        definition_controls.missing(ctx, "churn", key="churn_page",
                                    reason="to measure how long customers stay")
        return None
    st.caption(md(settings.rule()))
    if settings.suggested:
        st.info(f"No churn touchpoint is defined for this data, so churn is proposed as "
                f"{suggested} days without activity: 90% of the gaps between a customer's "
                "events are shorter. Change it above, or save a churn definition on the Data "
                "page.", icon=":material/lightbulb:")
    return settings


# ---------------------------------------------------------------- survival section


def _group_options(table: pd.DataFrame, segment: str | None) -> list[str]:
    """"" (everyone), the segment first, the other text covariates, then touchpoint flags."""
    skip = {*BASE_COLUMNS, "n_channels", "mean_score"}
    text = [c for c in table.columns if c not in skip
            and not c.startswith(survival.TOUCHED_PREFIX)]
    flags = [c for c in table.columns if c.startswith(survival.TOUCHED_PREFIX)]
    text = ([segment] if segment in text else []) + [c for c in text if c != segment]
    return ["", *text, *flags]


def group_label(column: str) -> str:
    return "Everyone together" if not column else covariate_label(column)


def render_survival(ctx: Context, s: ChurnSettings) -> str:
    """KM curves by a chosen column, their summary and the log-rank verdict; returns the
    column (for the URL)."""
    fb_id = ctx.feedback.id if ctx.feedback else None
    try:
        table = churn_table(ctx.path, ctx.events.id, fb_id, ctx.filters, s)
    except AnalysisError as error:
        st.error(f"{md(error.problem)} {md(error.hint)}")
        return ""
    if table.empty:
        st.info("No customer is left with these filters and settings. Widen the date range, "
                "clear filters or start lifetimes at the first event.")
        return ""
    options = _group_options(table, ctx.definitions.segment)
    wanted = (ctx.url.get("by") or [None])[0]
    st.session_state.setdefault(
        "c_by", wanted if wanted in options else (ctx.definitions.segment or "")
        if ctx.definitions.segment in options else "")
    if st.session_state["c_by"] not in options:
        st.session_state["c_by"] = ""
    st.subheader("How long customers stay", anchor=False)
    by = st.selectbox("Compare", options, key="c_by", format_func=group_label)
    km, hazard = km_result(ctx.path, ctx.events.id, fb_id, ctx.filters, s, by)
    if km.status == "empty":
        st.info(km.message)
        return by
    if km.status == "degenerate":
        st.warning(md(km.message), icon=":material/info:")
    st.caption(
        "Each line is the share of customers still a customer after so many days "
        "(Kaplan–Meier): customers who are still active count until the as-of date and then "
        "leave the count without being called churned (censoring), so recent customers do "
        "not look loyal or lost. Shaded: 95% confidence band. Under the chart: how many "
        "customers were still observed at each time.")
    st.plotly_chart(km_chart(ctx.path, ctx.events.id, fb_id, ctx.filters, s, by),
                    width="stretch")
    sentence = words.group_comparison(km, hazard)
    if sentence and km.status == "ok":
        st.markdown(md(sentence))
    _summary(km, lambda: km_pairwise(ctx.path, ctx.events.id, fb_id, ctx.filters, s, by))
    return by


SUMMARY_LABELS = {
    "group": "Group", "customers": "Customers", "churned": "Churned",
    "median_text": "Median lifetime", "rmst_text": "Mean lifetime (restricted)",
}


def _summary(km: survival.KMResult, pairs: Callable[[], pd.DataFrame]) -> None:
    summary = km.summary.copy()
    summary["median_text"] = summary["median_time"].map(words.days_text)
    summary["rmst_text"] = summary["rmst"].map(words.days_text)
    labels = dict(SUMMARY_LABELS)
    for h in km.horizons:
        labels[f"survival_at_{h:g}"] = f"Still a customer at {h:g} days"
    show(summary, labels, percent=tuple(f"survival_at_{h:g}" for h in km.horizons))
    st.caption(
        f"Median lifetime: the time by which half the group churned (“not reached” while "
        f"more than half are still customers). Restricted mean: the average time as a "
        f"customer within the first {words.days_text(km.rmst_horizon)}, the longest time "
        f"every group is observed, so groups compare fairly. Empty cells: not observed that "
        f"long yet.")
    # 3+ groups have pairs to test, only once they are asked for (a test per pair).
    if len(km.summary) > 2:
        with st.expander("Which pairs of groups differ (log-rank, Holm-adjusted)",
                         key="c_pairs", on_change="rerun") as expander:
            if expander.open:
                show(pairs(), {"group_a": "Group", "group_b": "Against",
                               "p_value": "p-value", "p_adjusted": "Adjusted p (Holm)"},
                     pvalues=("p_value", "p_adjusted"))
    cols = st.columns(2)
    with cols[0]:
        csv_download(km.summary, "survival_summary.csv", "Download the summary")
    with cols[1]:
        csv_download(km.curves, "survival_curves.csv", "Download the curves")
