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
