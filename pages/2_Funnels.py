"""Funnels: how many customers get from one stage to the next, and where we lose them."""

import streamlit as st

from ui import funnels
from ui.sidebar import finish, page_context

ctx = page_context("Funnels", ":material/filter_alt:")
st.title("Funnels", anchor=False)
st.caption(
    "How many customers get from awareness to purchase to loyalty, where do we lose them, how "
    "long does each step take, and does that differ by channel, segment or persona?"
)
if ctx.events is None:
    st.info(
        "Funnels need a journey (events) dataset. Pick one in the sidebar, or upload one on "
        "the Data page.", icon=":material/filter_alt:",
    )
    st.page_link("pages/6_Data.py", label="Upload data", icon=":material/upload_file:")
    finish(ctx)
    st.stop()

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
