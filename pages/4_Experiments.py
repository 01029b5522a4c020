"""Experiments: the view, with an honest empty state until its analysis lands."""

import streamlit as st

from ui.sidebar import page_context
from ui.soon import arrives_soon

ctx = page_context("Experiments", ":material/science:")
st.title("Experiments", anchor=False)
arrives_soon(
    ctx,
    "Did a change or an A/B test move conversion, NPS, CSAT, CES, churn or revenue?",
    [
        "Before/after with difference-in-differences against a control group",
        "A/B comparisons with confidence intervals and sound p-values",
        "Effects on every KPI side by side",
    ],
)
