"""Home: what the dataset holds, headline KPIs, and where to go next."""

import streamlit as st

from ui import data, home
from ui.sidebar import finish, page_context
from ui.text import md

ctx = page_context("Home", ":material/home:")
st.title("Customer journey analytics", anchor=False)
st.caption(
    "Journeys, feedback, churn and experiments on the same customers. "
    "Pick a dataset and filters in the sidebar; every view keeps them in its link."
)

if ctx.dataset is None:
    home.empty_state()
    finish(ctx)
    st.stop()

st.header(md(ctx.dataset.name), anchor=False)
if ctx.events is None and ctx.dataset.kind == "feedback":
    page_params = home.feedback_only(ctx)
    home.views(ctx)
    finish(ctx, page_params)
    st.stop()
if ctx.events is None:
    st.info(
        f"{md(ctx.dataset.name)} is a customers table ({ctx.dataset.rows:,} rows). Link it to an "
        "events dataset on the Data page, or pick an events dataset in the sidebar."
    )
    finish(ctx)
    st.stop()

d = ctx.definitions
overview = data.dataset_overview(
    ctx.path, ctx.events.id, ctx.feedback.id if ctx.feedback else None, ctx.filters,
    d.conversion, d.churn, d.inactivity_days,
)
home.summary(overview, ctx.feedback.name if ctx.feedback else None)
home.kpis(ctx, overview)
home.activity(ctx)
home.views(ctx)
finish(ctx)
