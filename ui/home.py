"""Home page blocks: dataset summary, headline KPIs, activity chart, links to every view."""

from __future__ import annotations

import streamlit as st

from analysis import figures
from analysis.overview import Overview
from ui import data
from ui.sidebar import PAGES, Context
from ui.text import md, md_list


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def empty_state() -> None:
    st.info(
        "There is no dataset in this workspace yet. Upload your journey events (and, if you "
        "have them, feedback and customer tables) to get started.",
        icon=":material/upload_file:",
    )
    st.page_link("pages/6_Data.py", label="Upload data", icon=":material/upload_file:")


def kpi_definitions(ctx: Context) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """Let the user say which touchpoints mean conversion and churn (kept in the URL)."""
    touchpoints = sorted(ctx.dataset.profile.get("touchpoints", {})) if ctx.dataset else []
    chosen: list[tuple[str, ...] | None] = []
    with st.expander("KPI definitions: which touchpoints count as conversion and churn"):
        for key, label, help_text in (
            ("conv", "Conversion touchpoints",
             "A customer converts when they have any of these touchpoints."),
            ("churn", "Churn touchpoints",
             "A customer churned when they have any of these touchpoints."),
        ):
            if key in ctx.url:
                st.session_state.setdefault(
                    f"home_{key}", [t for t in ctx.url[key] if t in touchpoints]
                )
            picked = st.multiselect(
                label, touchpoints, key=f"home_{key}", help=help_text,
                placeholder="Detected from touchpoint names",
            )
            chosen.append(tuple(picked) or None)
    return chosen[0], chosen[1]


def _compact(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:,.0f}"


def summary(ov: Overview, feedback_name: str | None) -> None:
    if ov.first and ov.last:
        st.caption(f"Events from {ov.first:%Y-%m-%d} to {ov.last:%Y-%m-%d} (UTC), after filters.")
    cols = st.columns(5)
    cols[0].metric("Customers", f"{ov.customers:,}", border=True)
    cols[1].metric("Events", f"{ov.events:,}", border=True)
    cols[2].metric("Touchpoints", f"{ov.touchpoints:,}", border=True)
    cols[3].metric("Channels", "–" if ov.channels is None else f"{ov.channels:,}", border=True)
    cols[4].metric(
        "Feedback", "–" if ov.feedback is None else f"{ov.feedback:,}", border=True,
        help=f"From the linked table {md(feedback_name)}." if feedback_name else
        "No feedback table is linked to this dataset.",
    )


def kpis(ov: Overview) -> None:
    st.subheader("Headline KPIs", anchor=False)
    conv = md_list(ov.conversion_touchpoints) or "none found"
    churn = md_list(ov.churn_touchpoints) or "none found"
    tiles = [
        ("Conversion", _pct(ov.conversion_rate),
         f"Share of customers with a conversion touchpoint ({conv})."),
        ("Churn", _pct(ov.churn_rate),
         f"Share of customers with a churn touchpoint ({churn})."),
    ]
    if ov.nps_responses:
        tiles.append(("NPS", f"{ov.nps:+.0f}",
                      f"% promoters (9–10) − % detractors (0–6); {ov.nps_responses:,} answers."))
    if ov.csat_responses:
        tiles.append(("CSAT", _pct(ov.csat),
                      f"Share of CSAT answers scoring 4–5; {ov.csat_responses:,} answers."))
    if ov.ces_responses:
        tiles.append(("CES", f"{ov.ces:.2f} / 7",
                      f"Mean customer-effort answer (1–7); {ov.ces_responses:,} answers."))
    if ov.revenue is not None:
        tiles.append(("Revenue", _compact(ov.revenue),
                      "Sum of the revenue column over the filtered events."))
    for col, (label, value, help_text) in zip(st.columns(6), tiles, strict=False):
        col.metric(label, value, border=True, help=help_text)
    for message in ov.messages:
        st.caption(md(message))
    if ov.feedback is None:
        st.caption("Link a feedback table with scores (Data page) to see NPS, CSAT and CES.")


def activity(ctx: Context) -> None:
    weekly = data.weekly_activity(ctx.path, ctx.events.id, ctx.filters)
    if weekly.empty:
        return
    st.subheader("Activity over time", anchor=False)
    st.caption(
        "Each bar is one week's events (weeks start on Monday, UTC), split by channel. "
        "Dips and spikes show campaigns, outages and seasonality."
    )
    st.plotly_chart(figures.activity_chart(weekly, metric="events"), width="stretch")


def views(params: dict[str, list[str]]) -> None:
    st.subheader("Explore", anchor=False)
    cols = st.columns(3)
    for i, (script, label, icon, question) in enumerate(PAGES[1:]):
        with cols[i % 3].container(border=True):
            st.page_link(script, label=label, icon=icon, query_params=params)
            st.caption(question)


def feedback_only(ctx: Context) -> None:
    fb = data.feedback_kpis(ctx.path, ctx.dataset.id, ctx.filters)
    profile = ctx.dataset.profile
    cols = st.columns(4)
    cols[0].metric("Feedback items", f"{fb['feedback']:,}", border=True)
    cols[1].metric("NPS", "–" if fb["nps"] is None else f"{fb['nps']:+.0f}", border=True)
    cols[2].metric("CSAT", _pct(fb["csat"]), border=True)
    cols[3].metric("CES", "–" if fb["ces"] is None else f"{fb['ces']:.2f} / 7", border=True)
    st.caption(
        f"A feedback table on its own ({len(profile.get('touchpoints', {}))} touchpoints, "
        f"{profile.get('first', '?')[:10]} → {profile.get('last', '?')[:10]}). "
        "Link it to an events dataset on the Data page to join feedback to journeys."
    )
    for message in fb["messages"]:
        st.caption(md(message))
