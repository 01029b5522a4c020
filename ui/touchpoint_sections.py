"""Touchpoints page results: the scorecard, attribution by model, online/offline completion
and the journey map."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from analysis.figures import journey_map as map_figures
from analysis.figures import touchpoints as figures
from analysis.touchpoints.journey_map import JourneyMap
from analysis.touchpoints.scorecard import Scorecard
from ui import touchpoint_controls as controls
from ui import touchpoints
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.tables import show
from ui.text import md
from ui.touchpoints import TouchSettings

ROLE_WORDS = {"make": "Make", "break": "Break", "neutral": "Neutral"}
SCORECARD_LABELS = {
    "touchpoint": "Touchpoint", "role": "Role", "role_reason": "Why", "channels": "Channels",
    "customers": "Customers", "reach": "Reach", "conversion_rate_with": "Conversion if touched",
    "conversion_rate_without": "Conversion if not", "lift_pp": "Lift (pp)",
    "lift_interval": "95% CI of lift", "lift_p_adjusted": "Adjusted p",
    "conversion_hazard_ratio": "Conversion hazard ratio",
    "attribution_share": "Markov credit", "churn_hazard_ratio": "Churn hazard ratio",
    "hr_interval": "95% CI of ratio", "feedback": "Feedback", "mean_score": "Mean score (0–100)",
    "negative_share": "Negative feedback", "median_seconds_to_next": "Time to next step",
    "reach_trend": "Reach trend",
}
MODEL_LABELS = {"first": "First touch", "last": "Last touch", "linear": "Linear",
                "position": "Position (40/20/40)", "time_decay": "Time decay",
                "markov": "Markov (removal effect)", "shapley": "Shapley"}
PAIRS = {"online→offline": "Started online, finished offline",
         "offline→online": "Started offline, finished online"}


def _interval(low: pd.Series, high: pd.Series, fmt: str) -> list[str]:
    return [fmt.format(lo, hi) if lo == lo and hi == hi else "" for lo, hi in
            zip(low, high, strict=True)]


def render_scorecard(ctx: Context, s: TouchSettings) -> TouchSettings:
    st.subheader("Scorecard: which touchpoints make or break the journey", anchor=False)
    period, periods, tolerance = controls.scorecard_controls()
    s = replace(s, period=period, periods=periods, tolerance_days=tolerance)
    card = touchpoints.scorecard(ctx, s)
    if card is None:
        return s
    if card.status != "ok" and card.message:
        st.info(md(card.message), icon=":material/info:")
    elif card.message:
        st.caption(md(card.message))
    if card.table.empty:
        return s
    _role_counts(card)
    _scorecard_table(card)
    with st.expander("How a touchpoint gets its role", icon=":material/rule:", expanded=False):
        st.text(card.rule)
    csv_download(card.table, "touchpoint_scorecard.csv", "Download the scorecard")
    _fading(card)
    return s


def _role_counts(card: Scorecard) -> None:
    t = card.table
    cols = st.columns(4)
    cols[0].metric("Touchpoints", f"{len(t):,}", border=True)
    cols[1].metric("Make points", f"{int((t['role'] == 'make').sum()):,}", border=True)
    cols[2].metric("Break points", f"{int((t['role'] == 'break').sum()):,}", border=True)
    fading = int(t["fading"].fillna(False).astype(bool).sum()) if "fading" in t else 0
    cols[3].metric("Losing reach", f"{fading:,}", border=True)


def _scorecard_table(card: Scorecard) -> None:
    t = card.table.copy()
    t["role"] = t["role"].map(ROLE_WORDS).fillna(t["role"])
    t["lift_pp"] = (t["conversion_lift"] * 100).round(1)
    t["lift_interval"] = _interval(t["lift_ci_low"] * 100, t["lift_ci_high"] * 100,
                                   "{:.1f} to {:.1f} pp")
    t["hr_interval"] = _interval(t["hr_ci_low"], t["hr_ci_high"], "{:.2f}–{:.2f}")
    t["mean_score"] = t["mean_score"].round(0)
    labels = {c: label for c, label in SCORECARD_LABELS.items()
              if c in t and (t[c].notna().any() or c in ("touchpoint", "role"))}
    if t["hr_ci_low"].isna().all():
        labels.pop("hr_interval", None)
    if t["lift_ci_low"].isna().all():
        labels.pop("lift_interval", None)
    show(t, labels, percent=("reach", "conversion_rate_with", "conversion_rate_without",
                             "attribution_share", "negative_share", "reach_trend"),
         durations=("median_seconds_to_next",), pvalues=("lift_p_adjusted",),
         ratios=("churn_hazard_ratio", "conversion_hazard_ratio"))
    st.caption(md(
        f"One row per touchpoint, break points first; click a header to sort. Reach: share "
        f"of the {card.customers:,} customers who touched it. Conversion if touched / if "
        "not: converters among customers who had it before their first conversion, against "
        "everyone else; the lift is the difference, with its 95% interval and a p-value "
        "adjusted over all touchpoints (Benjamini–Hochberg). Markov credit: the share of "
        "conversions the touchpoint earns by its removal effect. Churn hazard ratio: how "
        "much faster converters churn once they have touched it, counted from their first "
        "conversion (Cox with the touch as a time-varying covariate; 2.0 = twice as fast); "
        "conversion hazard ratio: the same for converting, from the first event. Mean "
        "score: linked ratings on a common 0–100 scale. Reach trend: the change in reach "
        "between the earlier and the later half of the recent periods."))


def _fading(card: Scorecard) -> None:
    t = card.table
    if "fading" not in t or card.trend.empty:
        return
    fading = t.loc[t["fading"].fillna(False).astype(bool), "touchpoint"].tolist()
    st.subheader("Touchpoints losing relevance", anchor=False)
    if not fading:
        st.caption("No touchpoint lost 30% or more of its reach in the recent periods.")
        return
    more = f" The 8 with most customers are drawn, of {len(fading)}." if len(fading) > 8 else ""
    st.caption("Share of the customers active in each period who touched it. These "
               "touchpoints' share fell by 30% or more between the earlier and the later half "
               "of the recent periods (with at least 20 customers in the earlier half)." + more)
    st.plotly_chart(figures.reach_trend_chart(card.trend, fading[:8]), width="stretch")


def render_completion(ctx: Context) -> dict[str, list[str]]:
    st.subheader("Online or offline: where converters finish", anchor=False)
    if not ctx.definitions.conversion:
        st.caption("Define conversion (above) to see where customers finish.")
        return {}
    online, offline = controls.channel_controls(ctx)
    params = controls.channel_params(ctx, online, offline)
    result = touchpoints.completion(ctx, online, offline)
    if result is None:
        return params
    if result.status != "ok":
        st.info(md(result.message), icon=":material/info:")
        return params
    cols = st.columns(3)
    cols[0].metric("Converting customers", f"{result.converters:,}", border=True)
    cols[1].metric(PAIRS["online→offline"], f"{result.online_to_offline:.1%}", border=True)
    cols[2].metric(PAIRS["offline→online"], f"{result.offline_to_online:.1%}", border=True)
    st.plotly_chart(figures.completion_chart(result), width="stretch")
    st.caption("Converting customers by the kind of channel of their first event (left) and "
               "of their conversion event (right). Unclassified: a channel that is neither "
               "on the online nor on the offline list.")
    left, right = st.columns(2)
    with left:
        st.caption("The channel of the conversion event")
        show(result.finish, {"channel": "Channel", "kind": "Kind", "customers": "Converters",
                             "share": "Share"}, percent=("share",))
    with right:
        st.caption("Channels used before converting (a converter can use several)")
        show(result.before, {"channel": "Channel", "kind": "Kind",
                             "customers": "Converters", "share": "Share"}, percent=("share",))
    return params


def render_journey_map(ctx: Context, s: TouchSettings) -> TouchSettings:
    st.subheader("Journey map", anchor=False)
    segment, a, b = controls.persona_controls(ctx)
    s = replace(s, segment=segment, persona_a=a, persona_b=b)
    maps = touchpoints.journey_maps(ctx, s)
    if not maps:
        return s
    for m in maps:  # (a note such as "columns are journey steps" is drawn in the map)
        if m.status != "ok" and m.message:
            st.info(md(m.message), icon=":material/info:")
    if all(m.cells.empty for m in maps):
        return s
    if len(maps) == 2:
        fig = map_figures.journey_map_pair(maps[0], maps[1], labels=(a or "", b or ""))
    else:
        fig = map_figures.journey_map_chart(maps[0])
    st.plotly_chart(fig, width="stretch")
    st.caption(md(_map_caption(maps[0])))
    _map_downloads(fig, maps, s)
    return s


def _map_caption(m: JourneyMap) -> str:
    columns = ("journey steps (the data has no stage column)" if m.from_steps
               else "journey stages in the order customers reach them")
    return (f"Columns: {columns}; rows: touchpoints grouped by channel. Each cell counts the "
            "customers who entered the stage there, the share of them who went on to the "
            "next stage and the median time they spent in the stage; its colour is the mood "
            "of the feedback tied to it (red: negative, green: positive, grey: no "
            "feedback). Flagged cells carry the top pain points. The line below is the "
            "emotion curve: the mean sentiment of all feedback in each stage, from −1 to 1.")


def _map_downloads(fig, maps: list[JourneyMap], s: TouchSettings) -> None:
    who = " vs ".join(p for p in (s.persona_a, s.persona_b) if p) or "every customer"
    title = f"Journey map: {who}"
    cols = st.columns(3)
    with cols[0]:
        st.download_button("Download as PNG", data=lambda: map_figures.figure_png(fig),
                           file_name="journey_map.png", mime="image/png", key="dl_map_png",
                           icon=":material/image:", on_click="ignore")
    with cols[1]:
        st.download_button("Download as HTML", data=lambda: map_figures.figure_html(
            fig, title=title), file_name="journey_map.html", mime="text/html",
            key="dl_map_html", icon=":material/download:", on_click="ignore")
    with cols[2]:
        cells = pd.concat([m.cells.assign(persona=m.segment or "every customer")
                           for m in maps], ignore_index=True)
        csv_download(cells, "journey_map_cells.csv", "Download the cells")
