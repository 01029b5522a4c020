"""Touchpoints: which touchpoints make or break the journey, which earn the conversions, which
are losing relevance, where customers finish (online or offline), and the journey map drawn
from the data."""

import streamlit as st

from ui import touchpoint_sections as sections
from ui.notes import tied_events_note
from ui.sidebar import finish, page_context
from ui.soon import require_events
from ui.touchpoint_controls import seed

ctx = page_context("Touchpoints", ":material/hub:")
st.title("Touchpoints", anchor=False)
st.caption(
    "Which touchpoints matter, where are the make-or-break points, which ones drive "
    "conversion and which ones do customers hate? Which are losing relevance, and do "
    "customers finish online or offline?"
)
require_events(ctx, "Touchpoints", ":material/hub:")
tied_events_note(ctx)

settings = seed(ctx)
settings = sections.render_scorecard(ctx, settings)
st.divider()
settings = sections.render_attribution(ctx, settings)
st.divider()
channel_params = sections.render_completion(ctx)
st.divider()
settings = sections.render_journey_map(ctx, settings)
finish(ctx, {**settings.params(), **channel_params})
