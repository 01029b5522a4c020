"""Dataset definitions: the editor on the Data page and the in-place control of each view.

A dataset's definitions (conversion, churn, stage order, segment column, online and offline
channels) are guessed at import and saved in the workspace. Every page reads them through its
context; links carry them, so a link reproduces its numbers after the saved ones change.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from analysis import definitions as defs
from analysis.definitions import Definitions
from ui import data, state
from ui.sidebar import Context
from ui.text import md

#: What each definition is called on screen, and what it is for.
WHAT = {
    "conversion": ("Conversion", "the touchpoints that count as a conversion (a purchase, a "
                   "sign-up, a completed case)"),
    "churn": ("Churn", "the touchpoints that mean a customer left (cancel, unsubscribe), or a "
              "number of days without activity"),
    "stages": ("Stage order", "the order of the journey stages"),
    "segment": ("Segment", "the column that holds the persona or segment"),
}


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Measuring the usual gaps between visits…")
def suggested_inactivity(path: str, events_id: str) -> int | None:
    """90% of the gaps between a customer's events are shorter than this many days."""
    return defs.suggest_inactivity_days(data.events_frame(path, events_id, data.Filters()))


def save(ctx: Context, new: Definitions) -> None:
    """Save a dataset's definitions and put them in the URL; the caller reruns."""
    kept = ctx.workspace.set_definitions(ctx.events.id, new)
    for key in [k for k in st.query_params if state.is_definition_key(k)]:
        del st.query_params[key]
    for key, values in state.definitions_to_params(kept).items():
        st.query_params[key] = values
    st.session_state["_definitions_saved"] = True


def _options(ctx: Context, key: str) -> list[str]:
    profile = ctx.events.profile
    return sorted(profile.get(key, {}), key=str.lower)


def editor(ctx: Context) -> None:
    """The Data page's form: every definition of the selected events dataset."""
    if ctx.events is None:
        st.info("Definitions belong to an events dataset: pick one in the sidebar.")
        return
    saved = ctx.workspace.definitions(ctx.events.id)
    if st.session_state.pop("_definitions_saved", False):
        st.success("Definitions saved. Every view now uses them.", icon=":material/check:")
    if ctx.definitions != saved:
        st.warning(
            "This link carries its own definitions, which differ from the ones saved with the "
            "dataset. The views show the link's. Saving below replaces the dataset's.",
            icon=":material/link:",
        )
        if st.button("Use the dataset's saved definitions"):
            save(ctx, saved)
            st.rerun()
    with st.form(f"definitions_{ctx.events.id}", border=True):
        st.caption(
            md(f"For {ctx.events.name}. Guessed from names at import; every view (Home, Paths, "
               "Funnels…) uses them, and shared links carry them.")
        )
        new = _fields(ctx, ctx.definitions)
        submitted = st.form_submit_button("Save definitions", type="primary")
    if submitted:
        save(ctx, new)
        st.rerun()


def _fields(ctx: Context, current: Definitions) -> Definitions:
    touchpoints, channels = _options(ctx, "touchpoints"), _options(ctx, "channels")
    stages = list(current.stages) + [s for s in _options(ctx, "stages")
                                     if s not in current.stages]
    attributes = sorted(ctx.events.profile.get("attributes", {}), key=str.lower)
    suggestion = suggested_inactivity(ctx.path, ctx.events.id)
    left, right = st.columns(2)
    conversion = left.multiselect(
        "Conversion touchpoints", touchpoints, default=list(current.conversion),
        help="A customer converts when they reach any of these.",
        placeholder="Pick the conversion touchpoints",
    )
    order = left.multiselect(
        "Stage order (pick in order)", stages, default=list(current.stages),
        help="Funnels by stage follow this order: pick the stages in the order customers go "
             "through them.", placeholder="Pick" if stages else "No stage column",
        disabled=not stages,
    )
    segment = left.selectbox(
        "Persona or segment column", ["", *attributes],
        index=attributes.index(current.segment) + 1 if current.segment in attributes else 0,
        format_func=lambda c: c or "None",
        help="Paths compare segments on it; Funnels offer it first as a breakdown.",
    )
    churn = right.multiselect(
        "Churn touchpoints", touchpoints, default=list(current.churn), placeholder="None",
        help="A customer churned when they have any of these (cancel, unsubscribe…).",
    )
    days = right.number_input(
        "Churn after this many days without activity (0 = off)", min_value=0, max_value=3650,
        step=1, value=current.inactivity_days or 0,
        help=(f"Suggested: {suggestion} days (90% of the gaps between a customer's events are "
              "shorter)." if suggestion else "No customer has two events to learn from."),
    )
    online = right.multiselect("Online channels", channels, default=list(current.online),
                               placeholder="None")
    offline = right.multiselect("Offline channels", channels, default=list(current.offline),
                                placeholder="None")
    return Definitions(
        conversion=tuple(conversion), churn=tuple(churn), inactivity_days=int(days) or None,
        stages=tuple(order), segment=segment or None, online=tuple(online),
        offline=tuple(c for c in offline if c not in online),
    )


def missing(ctx: Context, what: str, *, key: str, reason: str) -> None:
    """Say which definition a block needs and offer its control right here.

    ``what``: "conversion", "churn", "stages" or "segment"; ``reason``: what the block will
    show once it is set ("to see converted shares per path").
    """
    label, meaning = WHAT[what]
    with st.container(border=True):
        st.markdown(f"**{label} is not defined for this dataset.** Set {meaning} {reason}.")
        if what in ("conversion", "churn"):
            picked = st.multiselect(f"{label} touchpoints", _options(ctx, "touchpoints"),
                                    key=f"def_{key}", placeholder="Pick touchpoints")
            new = replace(ctx.definitions, **{what: tuple(picked)})
        elif what == "segment":
            columns = sorted(ctx.events.profile.get("attributes", {}), key=str.lower)
            picked = st.selectbox("Segment column", columns, key=f"def_{key}", index=None,
                                  placeholder="Pick a column")
            new = replace(ctx.definitions, segment=picked)
        else:
            picked = st.multiselect("Stages, in order", _options(ctx, "stages"),
                                    key=f"def_{key}", placeholder="Pick stages in order")
            new = replace(ctx.definitions, stages=tuple(picked))
        cols = st.columns([1, 3])
        if cols[0].button("Save for this dataset", key=f"def_save_{key}", disabled=not picked,
                          type="primary"):
            save(ctx, new)
            st.rerun()
        with cols[1]:
            st.page_link("pages/7_Data.py", label="All definitions", icon=":material/tune:",
                         query_params={**ctx.params(), "tab": "definitions"})
