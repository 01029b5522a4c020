"""The honest empty state of a view whose analysis has not landed yet."""

from __future__ import annotations

import streamlit as st

from ui.sidebar import Context, finish


def arrives_soon(ctx: Context, question: str, features: list[str]) -> None:
    st.caption(question)
    st.info(
        "This view arrives soon. It is not built yet, so it shows no numbers rather than "
        "made-up ones.",
        icon=":material/construction:",
    )
    st.markdown("**What it will show**")
    for feature in features:
        st.markdown(f"- {feature}")
    st.page_link("app.py", label="Back to the overview", icon=":material/home:",
                 query_params=ctx.params())
    finish(ctx)


def require_events(ctx: Context, view: str, icon: str) -> None:
    """Stop the page with an empty state when no events dataset is picked."""
    if ctx.events is not None:
        return
    st.info(
        f"{view} need a journey (events) dataset. Pick one in the sidebar, or upload one on "
        "the Data page.", icon=icon,
    )
    st.page_link("pages/6_Data.py", label="Upload data", icon=":material/upload_file:")
    finish(ctx)
    st.stop()
