"""Experiments: did a change or an A/B test move conversion, NPS, CSAT, CES, churn or revenue?
By how much, how sure are we, and for whom?"""

import streamlit as st

from ui import experiment_sections as sections
from ui.experiment_controls import controls, partial_params
from ui.notes import tied_events_note
from ui.sidebar import finish, page_context
from ui.soon import require_events

ctx = page_context("Experiments", ":material/science:")
st.title("Experiments", anchor=False)
st.caption(
    "Did a change or an A/B test move conversion, NPS, CSAT, CES, churn or revenue? By how "
    "much, how sure are we, and for whom?"
)
require_events(ctx, "Experiments", ":material/science:")
tied_events_note(ctx)

settings = controls(ctx)
if settings is None:
    finish(ctx, {k: [x for x in v if x] for k, v in partial_params().items()})
    st.stop()
result = sections.render_effects(ctx, settings)
trend = ""
if result is not None and not result.table.empty:
    if settings.mode == "ab":
        sections.render_power(result, settings)
    trend = sections.render_over_time(ctx, settings)
    sections.review_pack_button(ctx, settings, result, trend)
finish(ctx, {**settings.params(), "trend": [trend] if trend else []})
