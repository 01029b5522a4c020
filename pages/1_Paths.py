"""Paths: the view, with an honest empty state until its analysis lands."""

import streamlit as st

from ui.sidebar import page_context
from ui.soon import arrives_soon

ctx = page_context("Paths", ":material/route:")
st.title("Paths", anchor=False)
arrives_soon(
    ctx,
    "Which ways do customers actually move through touchpoints "
    "and channels, and how do converting journeys differ?",
    [
        "Sankey diagram of the first steps of every journey, by touchpoint, channel or stage",
        "Most common paths with their conversion and churn shares",
        "Transition and channel-switching heatmaps",
        "Segment comparison with significance tests",
    ],
)
