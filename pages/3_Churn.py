"""Churn: how long customers stay, who leaves faster and why, who is about to leave, and who
comes back."""

import streamlit as st

from ui import churn, churn_sections
from ui.notes import tied_events_note
from ui.sidebar import finish, page_context
from ui.soon import require_events

ctx = page_context("Churn", ":material/trending_down:")
st.title("Churn", anchor=False)
st.caption(
    "How long do customers stay, who leaves faster, which touchpoints, channels and segments "
    "predict churn, who is about to leave, and who comes back?"
)
require_events(ctx, "Churn curves", ":material/trending_down:")
tied_events_note(ctx)

settings = churn.controls(ctx)
if settings is None:
    finish(ctx)
    st.stop()
by = churn.render_survival(ctx, settings)
# Only the open tab is computed and drawn; the others keep their settings from the link.
TABS = {"drivers": "What drives churn", "risk": "Who is at risk", "cohorts": "Cohorts",
        "winback": "Win-back"}
wanted = (ctx.url.get("tab") or ["drivers"])[0]
tabs = st.tabs(list(TABS.values()), key="c_tab", on_change="rerun",
               default=TABS.get(wanted, TABS["drivers"]))
covariates, cohort_view = ctx.url.get("cov", []), ctx.url.get("coh", [])
if tabs[0].open:
    with tabs[0]:
        covariates = churn_sections.render_drivers(ctx, settings)
if tabs[1].open:
    with tabs[1]:
        churn_sections.render_at_risk(ctx, settings)
if tabs[2].open:
    with tabs[2]:
        cohort_view = churn_sections.render_cohorts(ctx, settings)
if tabs[3].open:
    with tabs[3]:
        suggested = churn.suggested_inactivity(ctx)
        churn_sections.render_winback(ctx, settings, suggested)
shown = next((key for key, tab in zip(TABS, tabs, strict=True) if tab.open), "drivers")
finish(ctx, {**settings.params(), "by": [by] if by else [], "cov": covariates,
             "coh": cohort_view, "tab": [shown] if shown != "drivers" else []})
