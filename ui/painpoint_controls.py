"""Pain points page controls: topic source and count, link tolerance, priority weights and
topic edits, seeded from the URL when the page is entered."""

from __future__ import annotations

import streamlit as st

from analysis.painpoints import Topics, Weights
from ui.painpoints import AUTO, WEIGHT_NAMES, PainSettings, has_category, settings_from_url
from ui.sidebar import Context
from ui.text import md

WEIGHT_LABELS = {"reach": "Reach", "severity": "Negative share", "churn": "Churn risk",
                 "revenue": "Revenue at risk"}


def _seed(ctx: Context) -> None:
    ss = st.session_state
    if "p_src" in ss:
        return
    s = settings_from_url(ctx.url)
    ss["p_src"] = "category" if s.use_categories else "text"
    ss["p_k"] = s.n_topics
    ss["p_tol"] = s.tolerance_days
    for name, value in zip(WEIGHT_NAMES, s.weights, strict=True):
        ss[f"p_w_{name}"] = float(value)
    ss["p_rn"] = list(s.renames)
    ss["p_mg"] = list(s.merges)


def _forget_stale_edits(ctx: Context, source: str, k: int) -> None:
    """Topic ids mean nothing once topics are refitted: edits made for one dataset, filter,
    source or topic count are dropped when any of them changes."""
    ss = st.session_state
    basis = (ctx.dataset.id if ctx.dataset else None, ctx.filters, source, k)
    if ss.get("p_basis") not in (None, basis):
        ss["p_rn"], ss["p_mg"] = [], []
    ss["p_basis"] = basis


def controls(ctx: Context, has_events: bool) -> PainSettings:
    _seed(ctx)
    ss = st.session_state
    cols = st.columns([1.3, 1, 1])
    options = ["text", "category"] if has_category(ctx) else ["text"]
    if ss["p_src"] not in options:
        ss["p_src"] = "text"
    source = cols[0].radio(
        "Topics", options, key="p_src", horizontal=True,
        format_func=lambda o: "Found in the comments" if o == "text" else "The category column",
        help="Found in the comments: TF-IDF and NMF group comments that use the same words. "
        "The category column: the labels a person or a survey tool gave each comment.")
    k = cols[1].selectbox("Number of topics", [AUTO, *range(3, 21)], key="p_k",
                          format_func=lambda v: "Automatic" if v == AUTO else str(v),
                          disabled=source == "category",
                          help="Automatic picks the count whose topics' top words occur "
                          "together most (NPMI coherence).")
    tol = cols[2].number_input(
        "Tie feedback to the journey within (days)", 0, 365, key="p_tol",
        disabled=not has_events,
        help="Feedback without a touchpoint is tied to the customer's latest event at most "
        "this long before it; anything else stays “unlinked”, and is counted.")
    _forget_stale_edits(ctx, source, int(k))
    with st.expander("Priority formula", icon=":material/functions:"):
        wcols = st.columns(4)
        weights = tuple(float(wcols[i].number_input(
            WEIGHT_LABELS[name], 0.0, 10.0, step=0.5, key=f"p_w_{name}"))
            for i, name in enumerate(WEIGHT_NAMES))
        if sum(weights) <= 0:
            st.warning("At least one weight must be above 0; using equal weights.")
            weights = (1.0, 1.0, 1.0, 1.0)
        st.caption(md(Weights(*weights).formula()) + ".")
    return PainSettings(source == "category", int(k), int(tol), weights,  # type: ignore[arg-type]
                        tuple(ss["p_rn"]), tuple(ss["p_mg"]))


def topic_editor(topics: Topics) -> None:
    """Rename and merge topics; the edits go into the link."""
    table = topics.table[topics.table["topic"] >= 0]
    if table.empty:
        return
    ids = [int(t) for t in table["topic"]]
    labels = dict(zip(ids, table["label"], strict=True))
    with st.expander("Rename or merge topics", icon=":material/edit:"):
        cols = st.columns([1, 1.4, 0.6])
        which = cols[0].selectbox("Topic", ids, format_func=lambda i: labels[i], key="p_ren_id")
        name = cols[1].text_input("New name", key="p_ren_text", max_chars=60,
                                  placeholder="e.g. Card declined at checkout")
        if cols[2].button("Rename", key="p_ren_go", disabled=not name.strip()):
            ss = st.session_state
            ss["p_rn"] = [(i, t) for i, t in ss["p_rn"] if i != which] + [(which, name.strip())]
            st.rerun()
        cols = st.columns([2.4, 0.6])
        group = cols[0].multiselect("Topics to merge into one", ids, key="p_mg_ids",
                                    format_func=lambda i: labels[i],
                                    placeholder="Pick two topics or more")
        if cols[1].button("Merge", key="p_mg_go", disabled=len(group) < 2):
            _merge(group)
            st.rerun()
        edited = st.session_state["p_rn"] or st.session_state["p_mg"]
        if edited and st.button("Undo all edits", key="p_edit_reset", icon=":material/undo:"):
            st.session_state["p_rn"], st.session_state["p_mg"] = [], []
            st.rerun()


def _merge(group: list[int]) -> None:
    """Add a merge; groups sharing a topic become one (a topic is in one group at most), and
    renames of topics merged away are dropped."""
    ss = st.session_state
    touching = [g for g in ss["p_mg"] if set(g) & set(group)]
    combined = tuple(dict.fromkeys([*(i for g in touching for i in g), *group]))
    ss["p_mg"] = [g for g in ss["p_mg"] if g not in touching] + [combined]
    gone = set(combined[1:])
    ss["p_rn"] = [(i, t) for i, t in ss["p_rn"] if i not in gone]
