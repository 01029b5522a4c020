"""Funnels: funnel bars, time-to-convert histogram, conversion by cohort."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from analysis.figures.common import PALETTE


def funnel_chart(table: pd.DataFrame, *, by: str | None = None, height: int = 420) -> go.Figure:
    """Horizontal funnel bars from :func:`analysis.funnel.funnel`.

    Each bar is labelled with its customers and conversion from the start; the drop-off from
    the previous step is in the hover. With ``by``, one bar per group and step, and steps
    whose difference between groups is significant (Holm-adjusted p < 0.05) are marked ★.
    """
    fig = go.Figure()
    labels = [f"{i}. {s}" for i, s in zip(table["step_index"], table["step"], strict=True)]
    table = table.assign(_label=labels)
    order = list(dict.fromkeys(table["_label"]))
    groups = [(None, table)] if by is None else list(table.groupby(by, sort=True))
    for i, (name, part) in enumerate(groups):
        dropped = 1 - part["conversion_from_previous"]
        fig.add_bar(
            y=part["_label"].tolist(), x=part["customers"].tolist(), orientation="h",
            name="customers" if name is None else str(name),
            marker_color=PALETTE[i % len(PALETTE)],
            text=[_funnel_label(c, r, d, k) for c, r, d, k in zip(
                part["customers"], part["conversion_from_start"], dropped,
                part["step_index"], strict=True)],
            textposition="auto",
            customdata=list(zip(part["conversion_from_previous"].fillna(0), dropped.fillna(0),
                                strict=True)),
            hovertemplate="%{y}<br>%{x:,} customers<br>%{customdata[0]:.1%} of the previous "
            "step (%{customdata[1]:.1%} dropped)<extra>%{fullData.name}</extra>",
        )
    if by is not None and "p_adjusted" in table:
        significant = table.loc[table["p_adjusted"] < 0.05, "_label"].unique()
        order = [f"{lab} ★" if lab in significant else lab for lab in order]
        mapping = dict(zip(list(dict.fromkeys(table["_label"])), order, strict=True))
        for trace in fig.data:
            trace.y = [mapping[y] for y in trace.y]
    fig.update_layout(
        barmode="group", height=height, margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(categoryorder="array", categoryarray=order[::-1], title=None),
        xaxis=dict(title="Customers"), showlegend=by is not None, legend_title_text=by or "",
    )
    return fig


def _funnel_label(customers: int, rate: float, dropped: float, step: int) -> str:
    text = f"{customers:,}" if pd.isna(rate) else f"{customers:,} · {rate:.0%}"
    if step > 1 and pd.notna(dropped):
        text += f" (−{dropped:.0%} from previous)"
    return text


def time_histogram(histogram: pd.DataFrame, *, height: int = 340) -> go.Figure:
    """Customers by time taken for each step (bars per step, bins in time order)."""
    fig = px.bar(
        histogram.sort_values(["step_index", "bin_order"]), x="bin", y="customers",
        color="step", barmode="group", color_discrete_sequence=PALETTE,
        labels={"bin": "Time from the previous step", "customers": "Customers", "step": "Step"},
    )
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def conversion_trend_chart(over_time: pd.DataFrame, *, height: int = 340) -> go.Figure:
    """Conversion from step 1 to the last step per cohort, with 95% Wilson bands."""
    last = over_time[over_time["step_index"] == over_time["step_index"].max()]
    fig = go.Figure()
    fig.add_scatter(x=last["period"], y=last["ci_high"], mode="lines", line_width=0,
                    showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=last["period"], y=last["ci_low"], mode="lines", line_width=0,
                    fill="tonexty", fillcolor="rgba(46,94,170,0.15)", showlegend=False,
                    hoverinfo="skip")
    fig.add_scatter(
        x=last["period"], y=last["conversion_from_start"], mode="lines+markers",
        line_color="#2E5EAA", name="conversion",
        customdata=last["customers"],
        hovertemplate="%{x|%Y-%m-%d}: %{y:.1%} (%{customdata:,} customers)<extra></extra>",
    )
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(title="Conversion from step 1", tickformat=".0%"),
                      xaxis=dict(title="Cohort (first step)"), showlegend=False)
    return fig
