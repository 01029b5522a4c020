"""Funnels: how many customers get from one stage to the next, and where we lose them."""

import streamlit as st

from ui import funnels
from ui.notes import tied_events_note
from ui.sidebar import finish, page_context
from ui.soon import require_events

ctx = page_context("Funnels", ":material/filter_alt:")
st.title("Funnels", anchor=False)
st.caption(
    "How many customers get from awareness to purchase to loyalty, where do we lose them, how "
    "long does each step take, and does that differ by channel, segment or persona?"
)
require_events(ctx, "Funnels", ":material/filter_alt:")
tied_events_note(ctx)

settings = funnels.controls(ctx)
if settings is None:
    finish(ctx)
    st.stop()
funnels.render_funnel(ctx, settings)
tabs = st.tabs(["Time to convert", "Where drop-offs went", "Over time"])
with tabs[0]:
    funnels.render_timing(ctx, settings)
with tabs[1]:
    drop = funnels.render_drop_off(ctx, settings)
with tabs[2]:
    period = funnels.render_over_time(ctx, settings)
finish(ctx, {**settings.params(), "drop": [str(drop)], "per": [period]})
