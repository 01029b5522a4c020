"""Pain points: the view, with an honest empty state until its analysis lands."""

import streamlit as st

from ui.sidebar import page_context
from ui.soon import arrives_soon

ctx = page_context("Pain points", ":material/report:")
st.title("Pain points", anchor=False)
arrives_soon(
    ctx,
    "Which complaints, tied to touchpoints, hurt most and should be fixed first?",
    [
        "Topics found in feedback text, tied to touchpoints",
        "A sortable priority matrix: mentions, negative share, scores and churn hazard",
        "Example comments for every topic",
    ],
)
