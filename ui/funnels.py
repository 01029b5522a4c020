"""Funnels page: settings (kept in the URL), cached analysis calls and the rendered blocks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import streamlit as st

from analysis import figures, funnel
from analysis.frames import Filters
from analysis.schema import AnalysisError
from ui import data, funnel_steps
from ui import definitions as definition_controls
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.state import parse_int
from ui.tables import show
from ui.text import md

MODE_LABELS = {"ordered": "In order (others may happen between)",
               "strict": "Strictly consecutive", "any_order": "In any order"}
SEPARATOR = funnel_steps.SEPARATOR


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


def _seed(ctx: Context, on_options: list[str], breakdowns: list[str]) -> None:
    """Widget values from the URL when the page is entered."""
    url, d = ctx.url, ctx.definitions
    if "f_on" not in st.session_state:
        wanted = (url.get("on") or [""])[0]
        # The usual path to conversion opens the page; the stage order when only it is set.
        fallback = "stage" if "stage" in on_options and not d.conversion and len(
            d.stages) >= 2 else "touchpoint"
        st.session_state["f_on"] = wanted if wanted in on_options else fallback
    win = (url.get("win") or ["0"])[0]
    st.session_state.setdefault("f_win", parse_int(win, 0, 3650) or 0)
    mode_url = (url.get("mode") or ["ordered"])[0]
    st.session_state.setdefault("f_mode", mode_url if mode_url in MODE_LABELS else "ordered")
    bd_url = (url.get("bd") or [""])[0]
    st.session_state.setdefault("f_bd", bd_url if bd_url in breakdowns else "")
    # Another dataset may not have the column or stages picked for the previous one.
    if st.session_state["f_bd"] not in breakdowns:
        st.session_state["f_bd"] = ""
    if st.session_state["f_on"] not in on_options:
        st.session_state["f_on"] = "touchpoint"


def _title(column: str) -> str:
    """A column as a label: "persona" -> "Persona" (the user's own spelling otherwise)."""
    return column[:1].upper() + column[1:]


def _breakdowns(ctx: Context) -> list[str]:
    """"" (none), the segment column first, channel, then the other attributes."""
    profile = ctx.events.profile
    columns = (["channel"] if profile.get("channels") else []) + sorted(
        profile.get("attributes", {}), key=str.lower)
    segment = ctx.definitions.segment
    return ["", *([segment] if segment in columns else []),
            *[c for c in columns if c != segment]]


def controls(ctx: Context) -> FunnelSettings | None:
    """The settings row, then the step picker; None (with a message) until two steps."""
    profile = ctx.events.profile
    on_options = ["touchpoint"] + (["stage"] if profile.get("stages") else [])
    breakdowns = _breakdowns(ctx)
    _seed(ctx, on_options, breakdowns)
    # "Steps are" only when there is a choice (the data has stages).
    cols = st.columns([1, 1, 1.4, 1.2] if len(on_options) > 1 else [1, 1.4, 1.2])
    step_col = "touchpoint"
    if len(on_options) > 1:
        step_col = cols.pop(0).radio("Steps are", on_options, key="f_on", horizontal=True,
                                     format_func=str.capitalize)
    window = cols[0].number_input("Window (days)", 0, 3650, key="f_win",
                                  help="Each step must happen within this many days of the "
                                  "first step. 0 means no limit.")
    mode = cols[1].selectbox("Order", list(MODE_LABELS), format_func=MODE_LABELS.get,
                             key="f_mode")
    segment = ctx.definitions.segment
    by = cols[2].selectbox(
        "Break down by", breakdowns, key="f_bd",
        format_func=lambda b: "No breakdown" if not b else (
            f"{_title(b)} (segment)" if b == segment else _title(b)))
    names = sorted(profile.get("touchpoints" if step_col == "touchpoint" else "stages", {}),
                   key=str.lower)
    default = funnel_steps.prepare(ctx, step_col, names)
    steps = funnel_steps.picker(names, step_col)
    if steps is None:
        return None
    if steps == default:
        st.caption(funnel_steps.default_rule(ctx, step_col, steps))
        _missing_definition(ctx, step_col)
    if len(steps) < 2:
        st.info("Pick at least two steps to draw a funnel.")
        return None
    return FunnelSettings(steps, step_col, int(window), mode, by or None)


def _missing_definition(ctx: Context, step_col: str) -> None:
    """The in-place control of the definition the default funnel would have used."""
    if step_col == "touchpoint" and not ctx.definitions.conversion:
        definition_controls.missing(ctx, "conversion", key="funnel_conversion",
                                    reason="to open the funnel on the usual path to it")
    elif step_col == "stage" and len(ctx.definitions.stages) < 2:
        definition_controls.missing(ctx, "stages", key="funnel_stages",
                                    reason="to open the funnel on the stages in that order")


@st.cache_data(max_entries=4, ttl=3600, show_spinner="Reading the steps' events…")
def step_events(path: str, events_id: str, filters: Filters, s: FunnelSettings):
    """The steps' events (a few columns, no ids): the one read of the events behind the
    funnel in every mode and window. Keyed without them (``s`` has the defaults)."""
    return funnel.step_events(data.events_frame(path, events_id, filters), s.step_list,
                              by=s.by, step_col=s.step_col)


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Following customers through the steps…")
def step_times(path: str, events_id: str, filters: Filters, s: FunnelSettings):
    """Each customer's step times, behind the funnel, its timing and its cohorts, which only
    aggregate it (a small table: no ids, one row a customer). A new mode or window follows
    the customers again over the same step events."""
    table = step_events(path, events_id, filters, replace(s, mode="ordered", window_days=0))
    return funnel.step_times_from_events(table, s.step_list, window=s.window, mode=s.mode)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def funnel_table(path: str, events_id: str, filters: Filters, s: FunnelSettings):
    return funnel.funnel_from_times(step_times(path, events_id, filters, s), s.step_list,
                                    by=s.by)


# Timing and cohorts ignore the breakdown: keyed without it (``s.unbroken``; Streamlit does
# not hash ``_by``), they aggregate the step times the funnel already computed with it.
@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def timing(path: str, events_id: str, filters: Filters, s: FunnelSettings, _by: str | None):
    times = step_times(path, events_id, filters, replace(s, by=_by))
    return funnel.time_to_convert_from_times(times, s.step_list)


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


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def over_time(path: str, events_id: str, filters: Filters, s: FunnelSettings, period: str,
              _by: str | None):
    times = step_times(path, events_id, filters, replace(s, by=_by))
    return funnel.funnel_over_time_from_times(times, s.step_list, period=period)


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
    if s.by:
        st.caption(
            "Bars show each group's conversion from the first step, with its 95% Wilson "
            "interval as an error bar; hover for the customers behind it. ★ marks steps where "
            "the groups' conversion from the previous step differs significantly (chi-square, "
            "or Fisher for two small groups; p < 0.05 after Holm's correction for the number "
            "of steps tested)."
        )
    else:
        st.caption(
            "Bars show customers reaching each step; the label is conversion from the first "
            "step. Hover for conversion from the previous step and the time it took."
        )
    st.plotly_chart(figures.funnel_chart(table, by=s.by), width="stretch")
    labels = ({s.by: _title(s.by)} if s.by else {}) | FUNNEL_LABELS
    show(table, labels, percent=("conversion_from_start", "conversion_from_previous", "ci_low",
                                 "ci_high"),
         durations=("median_seconds_from_previous",), pvalues=("p_value", "p_adjusted"))
    csv_download(table, "funnel.csv", "Download the funnel")


def render_timing(ctx: Context, s: FunnelSettings) -> None:
    result = timing(ctx.path, ctx.events.id, ctx.filters, s.unbroken, s.by)
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
    st.session_state.setdefault("f_drop", parse_int(wanted, 1, len(options)) or 1)
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
    table = over_time(ctx.path, ctx.events.id, ctx.filters, s.unbroken, period, s.by)
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
