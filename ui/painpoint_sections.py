"""Pain points page results: the priority matrix, the quadrant chart, topic cards, the
drill-down to comments and journeys, and sentiment over time."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import paths
from analysis.figures import painpoints as figures
from analysis.figures import paths as path_figures
from analysis.painpoints import PainPoints, events_of_customers
from ui import data, painpoints
from ui.downloads import csv_download
from ui.painpoints import PainSettings
from ui.sidebar import Context
from ui.tables import show
from ui.text import md

MATRIX_LABELS = {
    "touchpoint": "Touchpoint", "topic": "Topic", "mentions": "Comments",
    "customers": "Customers", "negative_share": "Negative", "mean_score": "Mean score",
    "scales": "Scale", "churn_hazard_ratio": "Churn hazard ratio", "hr_interval": "95% CI",
    "conversion_impact": "Conversion vs others", "revenue_at_risk": "Revenue at risk",
    "priority": "Priority",
}
LINK_WORDS = {"explicit": "carry their touchpoint", "preceding event":
              "were tied to the customer's latest event", "unlinked": "could not be tied to a "
              "touchpoint (no customer, no event before them, or too long after it)"}
SHOWN_ROWS = 200


def render_matrix(r: PainPoints) -> None:
    m = r.matrix
    total = int(m["mentions"].sum())
    parts = [f"{n:,} {LINK_WORDS.get(k, k)}" for k, n in sorted(r.links.items())]
    st.caption(md(f"{total:,} comments: " + "; ".join(parts) + "."))
    st.subheader("Priority matrix", anchor=False)
    shown = m.head(SHOWN_ROWS).copy()
    shown["mean_score"] = shown["mean_score"].round(2)
    shown["revenue_at_risk"] = shown["revenue_at_risk"].round(0)
    shown["priority"] = shown["priority"].round(3)
    shown["hr_interval"] = [
        f"{lo:.2f}–{hi:.2f}" if lo == lo and hi == hi else "" for lo, hi in
        zip(shown["hr_ci_low"], shown["hr_ci_high"], strict=True)]
    labels = {c: label for c, label in MATRIX_LABELS.items()
              if c not in shown or shown[c].notna().any()}
    if shown["churn_hazard_ratio"].isna().all():
        labels.pop("hr_interval")
    show(shown, labels, percent=("negative_share", "conversion_impact"),
         ratios=("churn_hazard_ratio",))
    st.caption(md(
        "One row per touchpoint and topic, most urgent first; click a header to sort. "
        "Negative: share of the comments with a known sentiment that are negative (from the "
        "score when there is one, else the words; other languages stay unknown). Churn "
        "hazard ratio: how much faster the customers who raised it churn than everyone else "
        "(Cox; 2.0 = twice as fast). Conversion vs others: their conversion minus that of "
        "the other customers who reached the touchpoint, in points. Revenue at risk: their "
        "revenue × the share of their churn the problem accounts for, (HR − 1) / HR. "
        + r.weights.formula() + "."))
    if len(m) > SHOWN_ROWS:
        st.caption(f"The first {SHOWN_ROWS} of {len(m):,} rows are shown; the download has "
                   "all of them.")
    csv_download(m, "priority_matrix.csv", "Download the priority matrix")


def render_quadrant(r: PainPoints) -> None:
    st.subheader("Reach against severity", anchor=False)
    st.caption("Each bubble is a topic at a touchpoint: further right, more customers raised "
               "it; higher up, more of their comments are negative. Bubble size: customers; "
               "colour: churn hazard ratio (red: those customers churn faster, blue: slower, "
               "grey: no ratio). Top right is what to fix first.")
    st.plotly_chart(figures.priority_quadrant_chart(r.matrix), width="stretch")


def render_topic_cards(r: PainPoints) -> None:
    st.subheader("Topics", anchor=False)
    table = r.topics.table
    if r.topics.chosen_by == "coherence":
        st.caption(f"{r.topics.n_topics} topics, chosen automatically (the count whose top "
                   f"words occur together most); fitted on {r.topics.sample_size:,} comments "
                   "and every comment assigned.")
    cols = st.columns(3)
    for i, row in enumerate(table.itertuples()):
        with cols[i % 3].container(border=True):
            st.markdown(f"**{md(row.label)}**")
            share = f"{row.comments:,} comments ({row.share:.0%})"
            terms = ", ".join(row.top_terms) if len(row.top_terms) else ""
            st.caption(md(share + (f" · words: {terms}" if terms else "")))
            for example in list(row.examples)[:3]:
                st.text(_short(str(example)))


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def render_drilldown(ctx: Context, r: PainPoints, events_id: str | None) -> str:
    """A matrix row's comments and the journeys of the customers who wrote them; returns the
    chosen row (for the URL)."""
    st.subheader("Drill down", anchor=False)
    m = r.matrix
    keys = [f"{t}|{i}" for t, i in zip(m["touchpoint"], m["topic_id"], strict=True)]
    labels = dict(zip(keys, m["touchpoint"].astype(str) + " · " + m["topic"].astype(str),
                      strict=True))
    wanted = (ctx.url.get("row") or [""])[0]
    if st.session_state.get("p_row") not in keys:
        st.session_state["p_row"] = wanted if wanted in keys else keys[0]
    key = st.selectbox("Row of the matrix", keys, key="p_row", format_func=labels.get)
    touchpoint, _, topic_id = key.rpartition("|")
    rows = r.comments[(r.comments["touchpoint"] == touchpoint)
                      & (r.comments["topic_id"].astype(str) == topic_id)]
    cols = [c for c in ("timestamp", "customer_id", "score", "scale", "sentiment", "text",
                        "link") if c in rows]
    show(rows[cols].head(SHOWN_ROWS), {"timestamp": "When", "customer_id": "Customer",
                                       "score": "Score", "scale": "Scale",
                                       "sentiment": "Sentiment", "text": "Comment",
                                       "link": "Tied to the touchpoint by"}, height=300)
    csv_download(rows, "pain_point_comments.csv", "Download these comments", key="dl_pp_rows")
    customers = rows["customer_id"].dropna().astype(str).unique() if "customer_id" in rows \
        else []
    if events_id and len(customers):
        _journeys(ctx, events_id, tuple(sorted(customers)))
    return key


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Drawing their journeys…")
def _links(path: str, events_id: str, filters, customers: tuple[str, ...]) -> pd.DataFrame:
    events = events_of_customers(data.events_frame(path, events_id, filters), customers)
    return paths.sankey_links(events, max_steps=5, top_nodes=8)


def _journeys(ctx: Context, events_id: str, customers: tuple[str, ...]) -> None:
    links = _links(ctx.path, events_id, ctx.filters, customers)
    st.caption(f"The first five steps of the journeys of the {len(customers):,} customers who "
               "wrote these comments (rare steps folded into “Other”).")
    fig = path_figures.sankey_chart(links)
    st.plotly_chart(fig, width="stretch", height=int(fig.layout.height or 400))


def render_trend(ctx: Context, r: PainPoints, s: PainSettings) -> str:
    st.subheader("Sentiment over time", anchor=False)
    measures = {"negative_share": "Negative share", "nps": "NPS", "csat": "CSAT (satisfied)",
                "ces": "CES (mean)"}
    trend = painpoints.weekly_sentiment(ctx, s, r)
    available = [k for k in measures if k in trend and trend[k].notna().any()]
    if trend.empty or not available:
        st.info("No dated comments to follow over time.")
        return ""
    if st.session_state.get("p_measure") not in available:
        wanted = (ctx.url.get("measure") or [""])[0]
        st.session_state["p_measure"] = wanted if wanted in available else available[0]
    measure = st.selectbox("Measure", available, key="p_measure", format_func=measures.get)
    st.caption("Week by week per touchpoint, so a fix shows up; shaded: 95% interval.")
    st.plotly_chart(figures.sentiment_trend_chart(trend, measure=measure), width="stretch")
    csv_download(trend, "touchpoint_sentiment.csv", "Download the weekly figures")
    return measure
