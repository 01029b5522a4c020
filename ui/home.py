"""Home page blocks: dataset summary, headline KPIs, activity chart, links to every view."""

from __future__ import annotations

import streamlit as st

from analysis import figures
from analysis.overview import Overview
from ui import data, definitions, home_feedback
from ui.sidebar import PAGES, Context, page_settings
from ui.text import md, md_list


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def empty_state() -> None:
    st.info(
        "There is no dataset in this workspace yet. Upload your journey events (and, if you "
        "have them, feedback and customer tables) to get started.",
        icon=":material/upload_file:",
    )
    st.page_link("pages/7_Data.py", label="Upload data", icon=":material/upload_file:")


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


def kpis(ctx: Context, ov: Overview) -> None:
    st.subheader("Headline KPIs", anchor=False)
    conv = md_list(ov.conversion_touchpoints) or "not defined"
    churn = md_list(ov.churn_touchpoints)
    if ov.inactivity_days is not None:
        churn = (churn + " or " if churn else "") + f"no activity for {ov.inactivity_days} days"
    tiles = [
        ("Conversion", _pct(ov.conversion_rate),
         f"Share of customers with a conversion touchpoint ({conv})."),
        ("Churn", _pct(ov.churn_rate),
         f"Share of customers who churned ({churn or 'not defined'}); inactivity is counted "
         "up to the last event in the data."),
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
    if not ov.conversion_touchpoints:
        definitions.missing(ctx, "conversion", key="home_conv",
                            reason="to see the conversion rate")
    if not ctx.definitions.churn_defined:
        definitions.missing(ctx, "churn", key="home_churn", reason="to see the churn rate")
    if ov.feedback is None:
        st.caption("Link a feedback table with scores (Data page) to see NPS, CSAT and CES.")


def activity(ctx: Context) -> None:
    with st.spinner("Counting each week's customers and events…"):  # seconds on 10M events
        weekly = data.weekly_activity(ctx.path, ctx.events.id, ctx.filters)
    if weekly.empty:
        return
    st.subheader("Activity over time", anchor=False)
    st.caption(
        "Each bar is one week's events (weeks start on Monday, UTC), split by channel. "
        "Dips and spikes show campaigns, outages and seasonality."
    )
    st.plotly_chart(figures.activity_chart(weekly, metric="events"), width="stretch")


def views(ctx: Context) -> None:
    st.subheader("Explore", anchor=False)
    cols = st.columns(3)
    for i, (script, label, icon, question) in enumerate(PAGES[1:]):
        with cols[i % 3].container(border=True):
            st.page_link(script, label=label, icon=icon,
                         query_params={**page_settings(label, ctx), **ctx.params()})
            st.caption(question)


def feedback_only(ctx: Context) -> dict[str, list[str]]:
    """Home for a feedback table on its own; returns the page's URL parameters."""
    return home_feedback.render(ctx)
