"""Tables as people read them: human column labels and units; downloads keep canonical names."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.figures.labels import duration_text


def duration(seconds: float | None) -> str:
    """A duration read at a glance: 45 s, 12 min, 3.5 h, 2.1 days ("–" when unknown)."""
    return duration_text(None if seconds is None or pd.isna(seconds) else float(seconds))


def show(df: pd.DataFrame, labels: dict[str, str], *, percent: tuple[str, ...] = (),
         durations: tuple[str, ...] = (), pvalues: tuple[str, ...] = (),
         ratios: tuple[str, ...] = (), height: int | str = "auto") -> None:
    """Show the ``labels`` columns of ``df`` under their human names, in that order.

    Percent columns are shown as 33.3%, durations as "1.3 days", p-values with 2 significant
    digits, ratios as "1.25×" and whole numbers with thousands separators.
    """
    shown = df[[c for c in labels if c in df.columns]].copy()
    for col in durations:
        if col in shown:
            shown[col] = shown[col].map(duration)
    config = {}
    for col, label in labels.items():
        if col in percent:
            config[col] = st.column_config.NumberColumn(label, format="percent")
        elif col in pvalues:
            config[col] = st.column_config.NumberColumn(label, format="%.2g")
        elif col in ratios:
            config[col] = st.column_config.NumberColumn(label, format="%.2f×")
        elif col in shown and pd.api.types.is_integer_dtype(shown[col]):
            # Counts read as 3,406, not 3406.
            config[col] = st.column_config.NumberColumn(label, format="localized")
        else:
            config[col] = st.column_config.Column(label)
    st.dataframe(shown, hide_index=True, column_config=config, height=height)
