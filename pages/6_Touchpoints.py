"""Touchpoints: which touchpoints make or break the journey, which earn the conversions, which
are losing relevance, where customers finish (online or offline), and the journey map drawn
from the data."""

import streamlit as st

from ui import touchpoint_attribution
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
# Only the open tab is computed and drawn; the others keep their settings from the link.
TABS = {"scorecard": "Scorecard", "attribution": "Attribution", "channels": "Online or offline",
        "map": "Journey map"}
wanted = (ctx.url.get("tab") or ["scorecard"])[0]
tabs = st.tabs(list(TABS.values()), key="t_tab", on_change="rerun",
               default=TABS.get(wanted, TABS["scorecard"]))
channel_params = {key: ctx.url[key] for key in ("on", "off") if ctx.url.get(key)}
if tabs[0].open:
    with tabs[0]:
        settings = sections.render_scorecard(ctx, settings)
if tabs[1].open:
    with tabs[1]:
        settings = touchpoint_attribution.render_attribution(ctx, settings)
if tabs[2].open:
    with tabs[2]:
        channel_params = sections.render_completion(ctx)
if tabs[3].open:
    with tabs[3]:
        settings = sections.render_journey_map(ctx, settings)
shown = next((key for key, tab in zip(TABS, tabs, strict=True) if tab.open), "scorecard")
finish(ctx, {**settings.params(), **channel_params,
             "tab": [shown] if shown != "scorecard" else []})
