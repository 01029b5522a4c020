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
# Only the open tab is computed and drawn; the others keep their settings from the link.
TABS = {"top": "Top paths", "moves": "Transitions", "channels": "Channel switching",
        "compare": "Compare segments"}
wanted = (ctx.url.get("tab") or ["top"])[0]
tabs = st.tabs(list(TABS.values()), key="p_tab", on_change="rerun",
               default=TABS.get(wanted, TABS["top"]))
if tabs[0].open:
    with tabs[0]:
        paths.render_top_paths(ctx, settings)
if tabs[1].open:
    with tabs[1]:
        paths.render_transitions(ctx, settings)
if tabs[2].open:
    with tabs[2]:
        paths.render_switching(ctx, settings)
if tabs[3].open:
    with tabs[3]:
        settings = paths.compare_widgets(ctx, settings)
        paths.render_comparison(ctx, settings)
else:
    settings = paths.compare_from_url(ctx, settings)
shown = next((key for key, tab in zip(TABS, tabs, strict=True) if tab.open), "top")
finish(ctx, {**settings.params(), "tab": [shown] if shown != "top" else []})
