"""Funnels: the view, with an honest empty state until its analysis lands."""

import streamlit as st

from ui.sidebar import page_context
from ui.soon import arrives_soon

ctx = page_context("Funnels", ":material/filter_alt:")
st.title("Funnels", anchor=False)
arrives_soon(
    ctx,
    "How many customers get from awareness to purchase to loyalty, and where do we lose them?",
    [
        "Ordered stage funnels with conversion windows and breakdowns by channel or segment",
        "Time to convert per step",
        "Where drop-offs went instead, and what their feedback said",
        "Conversion over time, so a change shows up",
    ],
)
