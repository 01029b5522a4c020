"""Home: weekly activity."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from analysis.figures.common import PALETTE


def activity_chart(weekly: pd.DataFrame, *, metric: str = "customers") -> go.Figure:
    """Stacked weekly bars of active customers (or events) per channel.

    ``weekly`` is the result of :func:`analysis.overview.weekly_activity`.
    """
    color = "channel" if "channel" in weekly else None
    label = {"customers": "Active customers", "events": "Events"}[metric]
    fig = px.bar(
        weekly,
        x="week",
        y=metric,
        color=color,
        color_discrete_sequence=PALETTE,
        labels={"week": "Week starting (UTC)", metric: label, "channel": "Channel"},
    )
    fig.update_layout(
        barmode="stack",
        bargap=0.1,
        legend_title_text="Channel",
        margin=dict(l=10, r=10, t=10, b=10),
        height=320,
        hovermode="x unified",
    )
    return fig
