"""Short notes a view adds about the dataset it shows."""

from __future__ import annotations

import streamlit as st

from ui.sidebar import Context

#: From this share of tied events on, Paths and Funnels say how ties are ordered.
TIE_SHARE = 0.05


def tied_events_note(ctx: Context) -> None:
    """Say how events at the same instant are ordered when many of them are."""
    info = ctx.events
    tied = (info.report or {}).get("tied_events") if info is not None else None
    if not tied or not info.rows or tied / info.rows < TIE_SHARE:
        return
    st.caption(
        f":material/schedule: {tied / info.rows:.0%} of this dataset's events share their "
        "customer and timestamp with another event (for example, dates without times). Events "
        "at the same instant are taken in the order of the file, so steps on the same day "
        "follow the export's order."
    )
