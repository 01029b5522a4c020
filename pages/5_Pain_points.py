"""Pain points: what customers complain about, at which touchpoint, and which problems cost
the most customers and revenue."""

import streamlit as st

from ui import painpoint_sections as sections
from ui import painpoints
from ui.painpoint_controls import controls, topic_editor
from ui.sidebar import finish, page_context
from ui.text import md

ctx = page_context("Pain points", ":material/report:")
st.title("Pain points", anchor=False)
st.caption(
    "What are customers complaining about, at which touchpoint, and which of those problems "
    "cost us the most customers and revenue? What do we fix first?"
)
feedback_id, events_id = painpoints.sources(ctx)
if feedback_id is None:
    st.info("Pain points come from feedback: comments or ratings. Link a feedback table to "
            "this dataset, or upload one, on the Data page.", icon=":material/forum:")
    st.page_link("pages/7_Data.py", label="Upload data", icon=":material/upload_file:")
    finish(ctx)
    st.stop()
if events_id is None:
    st.caption("Feedback only: without journeys there are no churn hazard ratios, conversion "
               "or revenue, and comments count at the touchpoint they name.")

settings = controls(ctx, has_events=events_id is not None)
result = painpoints.analyse(ctx, settings)
row = measure = ""
if result is not None and result.matrix.empty:
    st.info(md(result.message or "No feedback matches the filters: widen the date range."))
elif result is not None:
    if result.status != "ok" and result.message:
        st.warning(md(result.message), icon=":material/info:")
    sections.render_matrix(result)
    sections.render_quadrant(result)
    sections.render_topic_cards(result)
    topic_editor(result.topics)
    row = sections.render_drilldown(ctx, result, events_id)
    measure = sections.render_trend(ctx, result, settings)
finish(ctx, {**settings.params(), "row": [row] if row else [],
             "measure": [measure] if measure and measure != "negative_share" else []})
