"""Funnels page: settings (kept in the URL), cached analysis calls and the rendered blocks."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import streamlit as st

from analysis import figures, frames, funnel, funnel_details, paths
from analysis.frames import Filters
from analysis.schema import AnalysisError
from ui import data
from ui.downloads import csv_download
from ui.sidebar import Context

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
    lf = frames.load(data._open_workspace(path), events_id)
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
            f"“{n}”" + (f" (did you mean “{m[0]}”?)" if (m := difflib.get_close_matches(
                n, names, n=1)) else "") for n in unknown)
        st.warning(f"Not in this dataset: {hints}. Available: {', '.join(names[:40])}.")
        return None
    if len(steps) < 2:
        st.info("Write at least two steps, one per line, to draw a funnel.")
        return None
    return FunnelSettings(tuple(steps), step_col, int(window), mode, by or None)


def _events(path: str, events_id: str, filters: Filters):
    return frames.load(data._open_workspace(path), events_id, filters)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Following customers through the steps…")
def funnel_table(path: str, events_id: str, filters: Filters, s: FunnelSettings):
    return funnel.funnel(_events(path, events_id, filters), s.step_list, window=s.window,
                         by=s.by, mode=s.mode, step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Timing each step…")
def timing(path: str, events_id: str, filters: Filters, s: FunnelSettings):
    return funnel_details.time_to_convert(_events(path, events_id, filters), s.step_list,
                                          window=s.window, mode=s.mode, step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Finding where they went…")
def drop_offs(path: str, events_id: str, filters: Filters, s: FunnelSettings, k: int):
    return funnel_details.drop_off(_events(path, events_id, filters), s.step_list, k,
                                   window=s.window, mode=s.mode, step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Reading their feedback…")
def drop_off_feedback(path: str, events_id: str, feedback_id: str, filters: Filters,
                      s: FunnelSettings, k: int):
    ev, fb = frames.load_with_feedback(data._open_workspace(path), events_id, feedback_id,
                                       filters)
    return funnel_details.drop_off_feedback(ev, fb, s.step_list, k, window=s.window,
                                            mode=s.mode, step_col=s.step_col)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Building cohorts…")
def over_time(path: str, events_id: str, filters: Filters, s: FunnelSettings, period: str):
    return funnel_details.funnel_over_time(_events(path, events_id, filters), s.step_list,
                                           period=period, window=s.window, mode=s.mode,
                                           step_col=s.step_col)


def _duration(seconds: float) -> str:
    """A duration a person reads at a glance: 45 s, 12 min, 3.5 h, 2.1 days."""
    if pd.isna(seconds):
        return "–"
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.attrs = {}
    return out


def render_funnel(ctx: Context, s: FunnelSettings) -> None:
    try:
        table = funnel_table(ctx.path, ctx.events.id, ctx.filters, s)
    except AnalysisError as error:
        st.error(f"{error.problem} {error.hint}")
        return
    if table["customers"].sum() == 0:
        st.info("Nobody did the first step with these filters: pick another first step.")
        return
    st.caption(
        "Bars show customers reaching each step; the label is conversion from the first step. "
        "Hover for conversion from the previous step."
        + (" ★ marks steps where groups differ significantly (chi-square, p < 0.05); "
           "intervals are 95% Wilson." if s.by else "")
    )
    st.plotly_chart(figures.funnel_chart(table, by=s.by), width="stretch")
    pct = st.column_config.NumberColumn(format="percent")
    st.dataframe(_plain(table), hide_index=True, column_config={
        "conversion_from_start": pct, "conversion_from_previous": pct, "ci_low": pct,
        "ci_high": pct, "median_seconds_from_previous": st.column_config.NumberColumn(
            "median s from previous", format="%.0f"),
        "p_value": st.column_config.NumberColumn(format="%.3g"),
    })
    csv_download(table, "funnel.csv", "Download the funnel")


def render_timing(ctx: Context, s: FunnelSettings) -> None:
    summary, histogram = timing(ctx.path, ctx.events.id, ctx.filters, s)
    st.caption("Time from the previous step, for the customers who made the step.")
    shown = summary.copy()
    for col in ("p25_seconds", "median_seconds", "p75_seconds", "p90_seconds"):
        shown[col.replace("_seconds", "")] = shown.pop(col).map(_duration)
    st.dataframe(shown, hide_index=True)
    if len(histogram):
        st.plotly_chart(figures.time_histogram(histogram), width="stretch")
    csv_download(summary, "time_to_convert.csv", "Download time to convert")


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
    table = drop_offs(ctx.path, ctx.events.id, ctx.filters, s, k)
    st.caption(
        f"{table.attrs['dropped']:,} customers stopped here ({table.attrs['continued']:,} went "
        "on). What they did next instead:"
    )
    st.dataframe(_plain(table), hide_index=True,
                 column_config={"share": st.column_config.NumberColumn(format="percent")})
    csv_download(table, "drop_off.csv", "Download where they went")
    if ctx.feedback is None:
        st.caption("Link a feedback table to see what drop-offs said.")
        return k
    said = drop_off_feedback(ctx.path, ctx.events.id, ctx.feedback.id, ctx.filters, s, k)
    if said.empty:
        st.caption("The feedback has no customer ids, so it cannot be matched to drop-offs.")
        return k
    st.markdown("**What their feedback was about, compared with those who continued**")
    pct = st.column_config.NumberColumn(format="percent")
    st.dataframe(said, hide_index=True, column_config={
        "dropped_share": pct, "continued_share": pct,
        "dropped_mean_score": st.column_config.NumberColumn(format="%.2f"),
        "continued_mean_score": st.column_config.NumberColumn(format="%.2f")})
    csv_download(said, "drop_off_feedback.csv", "Download their feedback topics")
    return k


def render_over_time(ctx: Context, s: FunnelSettings) -> str:
    """Conversion by cohort; returns the chosen period (for the URL)."""
    wanted = (ctx.url.get("per") or ["month"])[0]
    st.session_state.setdefault("f_period", wanted if wanted in ("month", "week") else "month")
    period = st.radio("Cohorts by", ["month", "week"], horizontal=True, key="f_period")
    table = over_time(ctx.path, ctx.events.id, ctx.filters, s, period)
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
