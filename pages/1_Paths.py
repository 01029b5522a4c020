"""Paths: which ways customers move through touchpoints and channels."""

import streamlit as st

from ui import paths
from ui.notes import tied_events_note
from ui.sidebar import finish, page_context
from ui.soon import require_events

ctx = page_context("Paths", ":material/route:")
st.title("Paths", anchor=False)
st.caption(
    "Which ways do customers actually move through our touchpoints and channels, and where "
    "do the journeys that convert differ from the ones that don't?"
)
require_events(ctx, "Paths", ":material/route:")
tied_events_note(ctx)

settings = paths.controls(ctx)
paths.render_sankey(ctx, settings)
tabs = st.tabs(["Top paths", "Transitions", "Channel switching", "Compare segments"])
with tabs[0]:
    paths.render_top_paths(ctx, settings)
with tabs[1]:
    paths.render_transitions(ctx, settings)
with tabs[2]:
    paths.render_switching(ctx, settings)
with tabs[3]:
    settings = paths.compare_widgets(ctx, settings)
    paths.render_comparison(ctx, settings)
finish(ctx, settings.params())
