"""The empty state of a view that needs an events dataset."""

from __future__ import annotations

import streamlit as st

from ui.sidebar import Context, finish


def require_events(ctx: Context, view: str, icon: str) -> None:
    """Stop the page with an empty state when no events dataset is picked."""
    if ctx.events is not None:
        return
    st.info(
        f"{view} need a journey (events) dataset. Pick one in the sidebar, or upload one on "
        "the Data page.", icon=icon,
    )
    st.page_link("pages/7_Data.py", label="Upload data", icon=":material/upload_file:")
    finish(ctx)
    st.stop()
