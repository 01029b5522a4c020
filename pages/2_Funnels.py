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
# Only the open tab is computed and drawn; the others keep their settings from the link.
TABS = {"time": "Time to convert", "drop": "Where drop-offs went", "trend": "Over time"}
wanted = (ctx.url.get("tab") or ["time"])[0]
tabs = st.tabs(list(TABS.values()), key="f_tab", on_change="rerun",
               default=TABS.get(wanted, TABS["time"]))
drop, period = ctx.url.get("drop", []), ctx.url.get("per", [])
if tabs[0].open:
    with tabs[0]:
        funnels.render_timing(ctx, settings)
if tabs[1].open:
    with tabs[1]:
        drop = [str(funnels.render_drop_off(ctx, settings))]
if tabs[2].open:
    with tabs[2]:
        period = [funnels.render_over_time(ctx, settings)]
shown = next((key for key, tab in zip(TABS, tabs, strict=True) if tab.open), "time")
finish(ctx, {**settings.params(), "drop": drop, "per": period,
             "tab": [shown] if shown != "time" else []})
