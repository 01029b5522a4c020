"""Funnels: funnel bars, conversion by group with intervals, time histogram, cohorts."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from analysis.figures.common import PALETTE
from analysis.figures.labels import duration_text, plain, short_labels

#: Step names longer than this are shortened on the axis (the hover has them whole).
LABEL_CHARS = 40
#: A bar narrower than this share of the longest one has its label outside.
INSIDE_SHARE = 0.3
SIGNIFICANT = " ★"


def funnel_chart(table: pd.DataFrame, *, by: str | None = None, height: int = 420) -> go.Figure:
    """Horizontal funnel bars from :func:`analysis.funnel.funnel`.

    Without ``by``: customers reaching each step, labelled with the count and conversion from
    the start (a step nobody reached still shows its name and "0"); the hover adds conversion
    from the previous step and its median time. With ``by``: :func:`breakdown_chart`.
    """
    if by is not None:
        return breakdown_chart(table, by=by, height=height)
    names, axis = _step_labels(table)
    keys = _keys(table)
    customers = table["customers"].astype(int).tolist()
    widest = max(customers, default=0) or 1
    inside = [c >= INSIDE_SHARE * widest for c in customers]
    dropped = 1 - table["conversion_from_previous"]
    fig = go.Figure()
    fig.add_bar(
        y=keys, x=customers, orientation="h", name="Customers", marker_color=PALETTE[0],
        text=[_funnel_label(c, r, d, k) for c, r, d, k in zip(
            customers, table["conversion_from_start"], dropped, table["step_index"],
            strict=True)],
        textposition=["inside" if i else "outside" for i in inside],
        insidetextanchor="middle", cliponaxis=False,
        customdata=list(zip(names, _percent(table["conversion_from_start"]),
                            _percent(table["conversion_from_previous"]),
                            table["median_seconds_from_previous"].map(duration_text),
                            strict=True)),
        hovertemplate="%{customdata[0]}<br>%{x:,} customers<br>%{customdata[1]} of the first "
        "step<br>%{customdata[2]} of the previous step<br>Median time from the previous step: "
        "%{customdata[3]}<extra></extra>",
    )
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=False,
        yaxis=_step_axis(keys, axis),
        # Room on the right for the labels of short bars, outside them.
        xaxis=dict(title="Customers", range=[0, widest * (1.05 if all(inside) else 1.35)],
                   tickformat=",d"),
    )
    return fig


def breakdown_chart(table: pd.DataFrame, *, by: str, height: int = 420) -> go.Figure:
    """Conversion from the first step per group, with 95% Wilson intervals as error bars.

    One bar per group and step (``table`` from :func:`analysis.funnel.funnel` with ``by``),
    labelled with its percentage beyond the interval; counts are in the hover. Steps whose
    groups differ significantly (Holm-adjusted p < 0.05) are marked ★ on the axis.
    """
    names, axis = _step_labels(table)
    if "p_adjusted" in table:
        axis = [f"{a}{SIGNIFICANT}" if p < 0.05 else a
                for a, p in zip(axis, table["p_adjusted"], strict=True)]
    table = table.assign(_name=names, _axis=_keys(table))
    ticks = dict(zip(table["_axis"], axis, strict=True))
    keys = sorted(ticks, key=lambda k: int(k.split()[-1]))
    fig = go.Figure()
    groups = list(table.groupby(by, sort=True))
    # Horizontal groups stack upwards: added last to first, the first group is the top bar
    # and (legend reversed) the first in the legend.
    for i, (group, part) in reversed(list(enumerate(groups))):
        _add_group(fig, part, plain(group), PALETTE[i % len(PALETTE)])
    fig.update_layout(
        barmode="group", scattermode="group", height=max(height, 90 + 28 * len(table)),
        margin=dict(l=10, r=10, t=10, b=10), showlegend=True,
        legend=dict(title_text=plain(_title(by)), traceorder="reversed"),
        yaxis=_step_axis(keys, [ticks[k] for k in keys]),
        xaxis=dict(title="Conversion from the first step (95% interval)", tickformat=".0%",
                   range=[0, 1.15]),
    )
    return fig


def _add_group(fig: go.Figure, part: pd.DataFrame, group: str, color: str) -> None:
    """One group's bars with their error bars, and their percentages past the whiskers."""
    rate = part["conversion_from_start"].fillna(0)
    low, high = part["ci_low"].fillna(0), part["ci_high"].fillna(0)
    start = part["customers"].iloc[0] if len(part) else 0
    fig.add_bar(
        y=part["_axis"].tolist(), x=rate.tolist(), orientation="h", name=group,
        legendgroup=group, offsetgroup=group, marker_color=color,
        error_x=dict(type="data", symmetric=False, array=(high - rate).clip(lower=0).tolist(),
                     arrayminus=(rate - low).clip(lower=0).tolist(), color="#444",
                     thickness=1.2, width=3),
        customdata=list(zip(part["_name"], part["customers"], [start] * len(part),
                            _percent(part["conversion_from_start"]), _percent(low),
                            _percent(high), [group] * len(part), strict=True)),
        hovertemplate="%{customdata[6]}<br>%{customdata[0]}<br>%{customdata[1]:,} of "
        "%{customdata[2]:,} customers: %{customdata[3]}<br>95% interval %{customdata[4]} to "
        "%{customdata[5]}<extra></extra>",
    )
    fig.add_scatter(
        y=part["_axis"].tolist(), x=high.tolist(), mode="text", orientation="h",
        legendgroup=group,
        offsetgroup=group, showlegend=False, hoverinfo="skip",
        # Step 1 is 100% by definition: its label gives the group's size instead.
        text=[f"  {t}" if k > 1 else f"  100% of {start:,}" for k, t in zip(
            part["step_index"], _percent(part["conversion_from_start"]), strict=True)],
        textposition="middle right", textfont=dict(size=11),
    )


def _step_labels(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(full names for the hover: "Step 2: Add to cart", short names for the axis), inert."""
    full = [f"Step {i}: {s}" for i, s in zip(table["step_index"], table["step"], strict=True)]
    short = short_labels(table["step"].astype(str).tolist(), LABEL_CHARS)
    return [plain(f) for f in full], [plain(a) for a in short]


def _keys(table: pd.DataFrame) -> list[str]:
    """One category per step ("step 2"): a step may repeat a name, so names are only the
    axis' text."""
    return [f"step {i}" for i in table["step_index"]]


def _step_axis(keys: list[str], text: list[str]) -> dict:
    """A y axis with the first step on top, each step shown by its name."""
    return dict(categoryorder="array", categoryarray=keys[::-1], tickvals=keys,
                ticktext=text, title=None)


def _percent(values: pd.Series) -> list[str]:
    return ["–" if pd.isna(v) else f"{v:.1%}" for v in values]


def _title(column: str) -> str:
    return column[:1].upper() + column[1:]


def _funnel_label(customers: int, rate: float, dropped: float, step: int) -> str:
    text = f"{customers:,}" if pd.isna(rate) else f"{customers:,} · {rate:.0%}"
    if step > 1 and pd.notna(dropped) and round(dropped, 2) > 0:
        text += f" (−{dropped:.0%} from previous)"
    return text


def time_histogram(histogram: pd.DataFrame, *, height: int = 340) -> go.Figure:
    """Customers by time taken for each step (bars per step, bins in time order)."""
    shown = histogram.sort_values(["step_index", "bin_order"]).assign(
        step=[plain(f"{i}. {s}") for i, s in zip(histogram["step_index"], histogram["step"],
                                                 strict=True)]
        if len(histogram) else histogram["step"])
    fig = px.bar(
        shown, x="bin", y="customers", color="step", barmode="group",
        color_discrete_sequence=PALETTE,
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
