"""Churn: the view, with an honest empty state until its analysis lands."""

import streamlit as st

from ui.sidebar import page_context
from ui.soon import arrives_soon

ctx = page_context("Churn", ":material/trending_down:")
st.title("Churn", anchor=False)
arrives_soon(
    ctx,
    "How fast do customers churn, and what makes them churn faster?",
    [
        "Kaplan–Meier survival curves with confidence bands, censoring handled",
        "Median lifetime per segment with a log-rank test",
        "Hazard ratios of touchpoints and attributes (Cox model)",
    ],
)
