"""Download buttons whose CSV cannot run formulas in a spreadsheet."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.exports import safe_csv


def csv_download(df: pd.DataFrame, file_name: str, label: str, *, key: str | None = None):
    st.download_button(
        label,
        data=lambda: safe_csv(df),  # built on click, not on every rerun
        file_name=file_name,
        mime="text/csv",
        key=key or f"dl_{file_name}",
        icon=":material/download:",
        on_click="ignore",
    )
