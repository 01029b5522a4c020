"""Funnels page: settings (kept in the URL), cached analysis calls and the rendered blocks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from datetime import timedelta

import streamlit as st

from analysis import figures, funnel, paths
from analysis.frames import Filters
from analysis.schema import AnalysisError
from ui import data
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.tables import show
from ui.text import md, md_list

STAGE_ORDER = ("awareness", "consideration", "conversion", "usage", "retention", "advocacy")
MODE_LABELS = {"ordered": "In order (others may happen between)",
               "strict": "Strictly consecutive", "any_order": "In any order"}
SEPARATOR = " | "


@dataclass(frozen=True)
class FunnelSettings:
    steps: tuple[tuple[str, ...], ...]
    step_col: str = "touchpoint"
    window_days: int = 0
    mode: str = "ordered"
    by: str | None = None

    @property
    def window(self) -> timedelta | None:
        return timedelta(days=self.window_days) if self.window_days else None

    @property
    def unbroken(self) -> FunnelSettings:
        """These settings without the breakdown: the cache key of results that ignore it."""
        return replace(self, by=None)

    @property
    def step_list(self) -> list[list[str]]:
        return [list(s) for s in self.steps]

    def params(self) -> dict[str, list[str]]:
        return {"steps": [SEPARATOR.join(s) for s in self.steps], "on": [self.step_col],
                "win": [str(self.window_days)] if self.window_days else [],
                "mode": [self.mode], "bd": [self.by] if self.by else []}


def _default_steps(ctx: Context, step_col: str) -> list[str]:
    profile = ctx.events.profile
    if step_col == "stage":
        present = list(profile.get("stages", {}))
        ordered = [s for s in STAGE_ORDER if s in present]
        return (ordered or present)[:5]
    top = _most_common_path(ctx.path, ctx.events.id)
    return top.split(paths.PATH_SEPARATOR)[:4] if top else []


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _most_common_path(path: str, events_id: str) -> str:
    lf = data.events_frame(path, events_id, Filters())
    top = paths.top_paths(lf, max_steps=4, limit=1, conversion=[], churn=[])
    return str(top["path"].iloc[0]) if len(top) else ""


def controls(ctx: Context) -> FunnelSettings | None:
    url, profile = ctx.url, ctx.events.profile
    has_stages = bool(profile.get("stages"))
    on_options = ["touchpoint"] + (["stage"] if has_stages else [])
    if "f_on" not in st.session_state:
        wanted = (url.get("on") or [""])[0]
        st.session_state["f_on"] = wanted if wanted in on_options else (
            "stage" if has_stages else "touchpoint")
    cols = st.columns([1, 1, 1.4, 1.2])
    step_col = cols[0].radio("Steps are", on_options, key="f_on", horizontal=True,
                             format_func=str.capitalize)
    names = sorted(profile.get("touchpoints" if step_col == "touchpoint" else "stages", {}))
    if "f_steps" not in st.session_state or st.session_state.get("_f_on_was") != step_col:
        from_url = url.get("steps") if st.session_state.get("_f_on_was") is None else None
        st.session_state["f_steps"] = "\n".join(from_url or _default_steps(ctx, step_col))
    st.session_state["_f_on_was"] = step_col
    st.session_state.setdefault("f_win", int((url.get("win") or ["0"])[0] or 0)
                                if (url.get("win") or ["0"])[0].isdigit() else 0)
    mode_url = (url.get("mode") or ["ordered"])[0]
    st.session_state.setdefault("f_mode", mode_url if mode_url in MODE_LABELS else "ordered")
    breakdowns = [""] + (["channel"] if profile.get("channels") else []) + sorted(
        profile.get("attributes", {}))
    bd_url = (url.get("bd") or [""])[0]
    st.session_state.setdefault("f_bd", bd_url if bd_url in breakdowns else "")
    window = cols[1].number_input("Window (days)", 0, 3650, key="f_win",
                                  help="Each step must happen within this many days of the "
                                  "first step. 0 means no limit.")
    mode = cols[2].selectbox("Order", list(MODE_LABELS), format_func=MODE_LABELS.get,
                             key="f_mode")
    by = cols[3].selectbox("Break down by", breakdowns, key="f_bd",
                           format_func=lambda b: b or "No breakdown")
    text = st.text_area(
        "Steps, one per line", key="f_steps", height=130,
        help="Write several names on one line, separated by “ | ”, for a step that any of "
        "them completes.",
    )
    steps = [tuple(n.strip() for n in line.split("|") if n.strip())
             for line in text.splitlines() if line.strip()]
    unknown = sorted({n for s in steps for n in s if n not in names})
    if unknown:
        hints = "; ".join(
            f"“{md(n)}”" + (f" (did you mean “{md(m[0])}”?)" if (m := difflib.get_close_matches(
                n, names, n=1)) else "") for n in unknown)
        st.warning(f"Not in this dataset: {hints}. Available: {md_list(names)}.")
        return None
    if len(steps) < 2:
        st.info("Write at least two steps, one per line, to draw a funnel.")
        return None
    return FunnelSettings(tuple(steps), step_col, int(window), mode, by or None)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Following customers through the steps…")
def funnel_table(path: str, events_id: str, filters: Filters, s: FunnelSettings):
    return funnel.funnel(data.events_frame(path, events_id, filters), s.step_list,
                         window=s.window, by=s.by, mode=s.mode, step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Timing each step…")
def timing(path: str, events_id: str, filters: Filters, s: FunnelSettings):
    return funnel.time_to_convert(data.events_frame(path, events_id, filters), s.step_list,
                                  window=s.window, mode=s.mode, step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Finding where they went…")
def drop_offs(path: str, events_id: str, filters: Filters, s: FunnelSettings, k: int):
    return funnel.drop_off(data.events_frame(path, events_id, filters), s.step_list, k,
                           window=s.window, mode=s.mode, step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Reading their feedback…")
def drop_off_feedback(path: str, events_id: str, feedback_id: str, filters: Filters,
                      s: FunnelSettings, k: int):
    ev, fb = data.events_with_feedback(path, events_id, feedback_id, filters)
    return funnel.drop_off_feedback(ev, fb, s.step_list, k, window=s.window, mode=s.mode,
                                    step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Building cohorts…")
def over_time(path: str, events_id: str, filters: Filters, s: FunnelSettings, period: str):
    return funnel.funnel_over_time(data.events_frame(path, events_id, filters), s.step_list,
                                   period=period, window=s.window, mode=s.mode,
                                   step_col=s.step_col)


FUNNEL_LABELS = {
    "step_index": "Step", "step": "Name", "customers": "Customers",
    "conversion_from_start": "Conversion from start",
    "conversion_from_previous": "Conversion from previous step",
    "median_seconds_from_previous": "Median time from previous step",
    "ci_low": "95% CI low", "ci_high": "95% CI high", "test": "Test", "p_value": "p-value",
    "p_adjusted": "Adjusted p (Holm)", "note": "Note",
}


def render_funnel(ctx: Context, s: FunnelSettings) -> None:
    try:
        table = funnel_table(ctx.path, ctx.events.id, ctx.filters, s)
    except AnalysisError as error:
        st.error(f"{md(error.problem)} {md(error.hint)}")
        return
    if table["customers"].sum() == 0:
        st.info("Nobody did the first step with these filters: pick another first step.")
        return
    st.caption(
        "Bars show customers reaching each step; the label is conversion from the first step. "
        "Hover for conversion from the previous step."
        + (" ★ marks steps where the groups' conversion from the previous step differs "
           "significantly (chi-square, or Fisher for two small groups; p < 0.05 after Holm's "
           "correction for the number of steps tested). Intervals are 95% Wilson."
           if s.by else "")
    )
    st.plotly_chart(figures.funnel_chart(table, by=s.by), width="stretch")
    labels = ({s.by: "Group"} if s.by else {}) | FUNNEL_LABELS
    show(table, labels, percent=("conversion_from_start", "conversion_from_previous", "ci_low",
                                 "ci_high"),
         durations=("median_seconds_from_previous",), pvalues=("p_value", "p_adjusted"))
    csv_download(table, "funnel.csv", "Download the funnel")


def render_timing(ctx: Context, s: FunnelSettings) -> None:
    result = timing(ctx.path, ctx.events.id, ctx.filters, s.unbroken)
    if result.status != "ok":
        st.info(result.message)
        return
    st.caption("Time from the previous step, for the customers who made the step.")
    show(result.summary, {
        "step_index": "Step", "step": "Name", "customers": "Customers",
        "p25_seconds": "Fastest quarter within", "median_seconds": "Median",
        "p75_seconds": "Three quarters within", "p90_seconds": "90% within",
    }, durations=("p25_seconds", "median_seconds", "p75_seconds", "p90_seconds"))
    st.plotly_chart(figures.time_histogram(result.histogram), width="stretch")
    csv_download(result.summary, "time_to_convert.csv", "Download time to convert")


def render_drop_off(ctx: Context, s: FunnelSettings) -> int:
    """Where drop-offs went; returns the chosen step (for the URL)."""
    labels = [SEPARATOR.join(step) for step in s.steps]
    options = list(range(1, len(s.steps)))
    wanted = (ctx.url.get("drop") or ["1"])[0]
    st.session_state.setdefault("f_drop", int(wanted) if wanted.isdigit() and int(wanted)
                                in options else 1)
    if st.session_state["f_drop"] not in options:
        st.session_state["f_drop"] = 1
    k = st.selectbox("Customers who reached", options, key="f_drop",
                     format_func=lambda i: f"{i}. {labels[i - 1]} but not {labels[i]}")
    result = drop_offs(ctx.path, ctx.events.id, ctx.filters, s.unbroken, k)
    st.caption(
        f"{result.dropped:,} customers stopped here ({result.continued:,} went on). What "
        "they did next instead (their next event, in journey order):"
    )
    show(result.table, {"next_touchpoint": "Next touchpoint", "customers": "Customers",
                        "share": "Share of drop-offs"}, percent=("share",))
    csv_download(result.table, "drop_off.csv", "Download where they went")
    if ctx.feedback is None:
        st.caption("Link a feedback table to see what drop-offs said.")
        return k
    said = drop_off_feedback(ctx.path, ctx.events.id, ctx.feedback.id, ctx.filters,
                             s.unbroken, k)
    if said.status != "ok":
        st.caption(said.message)
        return k
    st.markdown("**What they said after reaching the step, compared with those who "
                "continued**")
    show(said.table, {
        "topic": "Topic", "dropped_mentions": "Drop-off mentions",
        "dropped_share": "Share of drop-off feedback", "continued_mentions": "Others' mentions",
        "continued_share": "Share of others' feedback",
        "dropped_mean_score": "Drop-offs' mean score",
        "continued_mean_score": "Others' mean score",
    }, percent=("dropped_share", "continued_share"))
    csv_download(said.table, "drop_off_feedback.csv", "Download their feedback topics")
    return k


def render_over_time(ctx: Context, s: FunnelSettings) -> str:
    """Conversion by cohort; returns the chosen period (for the URL)."""
    wanted = (ctx.url.get("per") or ["month"])[0]
    st.session_state.setdefault("f_period", wanted if wanted in ("month", "week") else "month")
    period = st.radio("Cohorts by", ["month", "week"], horizontal=True, key="f_period")
    table = over_time(ctx.path, ctx.events.id, ctx.filters, s.unbroken, period)
    if table.empty:
        st.info("No cohort to show.")
        return period
    st.caption(
        "Customers grouped by when they did the first step; the line is the share who reached "
        "the last step (band: 95% interval). A change shows up as a step in the line; recent "
        "cohorts have had less time to convert."
    )
    st.plotly_chart(figures.conversion_trend_chart(table), width="stretch")
    csv_download(table, "funnel_over_time.csv", "Download cohorts")
    return period
