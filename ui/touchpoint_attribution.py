"""Touchpoints page, Attribution tab: conversions credited by every model.

The journeys are followed once per dataset, filters, conversion, key and lookback
(:func:`analysis.touchpoints.attribution.model_credit`, cached); the half-life only weighs
the touches again (:func:`compare_models_from_credit`), so changing it recomputes time decay
alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pandas as pd
import streamlit as st

from analysis.figures import touchpoints as figures
from analysis.frames import Filters
from analysis.schema import AnalysisError
from analysis.touchpoints.attribution import (
    ModelCredit,
    compare_models_from_credit,
    model_credit,
)
from ui import data
from ui import definitions as definition_controls
from ui import touchpoint_controls as controls
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.tables import show
from ui.text import md
from ui.touchpoint_sections import MODEL_LABELS
from ui.touchpoints import BY, TouchSettings


@st.cache_data(max_entries=4, ttl=3600, show_spinner="Crediting conversions by every model…")
def _credit(path: str, events_id: str, filters: Filters, conversion: tuple[str, ...], by: str,
            lookback_days: int) -> ModelCredit:
    events = data.events_frame(path, events_id, filters)
    return model_credit(events, conversion=list(conversion), by=by,  # type: ignore[arg-type]
                        lookback=timedelta(days=lookback_days) if lookback_days else None)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _compared(path: str, events_id: str, filters: Filters, conversion: tuple[str, ...], by: str,
              lookback_days: int, half_life_days: int) -> pd.DataFrame:
    credit = _credit(path, events_id, filters, conversion, by, lookback_days)
    return compare_models_from_credit(credit, half_life_days=float(half_life_days))


def attribution(ctx: Context, s: TouchSettings) -> pd.DataFrame | None:
    """Every model's credit (None, with a message on the page, for a bad input)."""
    try:
        return _compared(ctx.path, ctx.events.id, ctx.filters, tuple(ctx.definitions.conversion),
                         s.by, s.lookback_days, s.half_life_days)
    except AnalysisError as error:
        st.error(f"{md(error.problem)} {md(error.hint)}")
        return None


def render_attribution(ctx: Context, s: TouchSettings) -> TouchSettings:
    st.subheader("Which touchpoints earn the conversions", anchor=False)
    if not ctx.definitions.conversion:
        definition_controls.missing(ctx, "conversion", key="tp_attr",
                                    reason="to credit conversions to touchpoints")
        return s
    by, lookback, half_life = controls.attribution_controls()
    s = replace(s, by=by, lookback_days=lookback, half_life_days=half_life)
    table = attribution(ctx, s)
    if table is None:
        return s
    models = [m for m in MODEL_LABELS if m in table]
    if table.empty or float(table[models[0]].sum()) == 0:
        st.info("No customer converted under these filters, so there is nothing to credit.")
        return s
    st.plotly_chart(figures.attribution_chart(table, by=by, top=10), width="stretch")
    st.caption(md(
        "Each bar is the share of conversions a model credits to the touchpoint. First and "
        "last touch give everything to one end of the journey; linear, position and time "
        "decay spread it by rules; Markov credits what conversion loses when the touchpoint "
        "is removed from the journeys; Shapley shares each conversion equally among its "
        "touchpoints. Where the models agree, the credit is robust; where they differ, the "
        "touchpoint's role depends on its place in the journey."))
    shown = table.sort_values("markov", ascending=False) if "markov" in table else table.copy()
    converters = float(shown[models[0]].sum())
    for m in models:
        shown[m] = shown[m] / converters
    show(shown, {by: BY[by], **{m: MODEL_LABELS[m] for m in models}}, percent=tuple(models))
    csv_download(table, f"attribution_by_{by}.csv", "Download the model comparison")
    return s
