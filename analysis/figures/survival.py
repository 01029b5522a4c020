"""Churn: Kaplan–Meier curves with a numbers-at-risk table, a Cox forest plot, cohort retention.

Group and covariate names are user text: they pass through :func:`plain` before they reach a
label, legend or hover, so a name like ``<b>VIP</b>`` reads as typed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.figures.common import PALETTE, rgba
from analysis.figures.labels import plain, short_labels
from analysis.schema import MissingColumnError, ParameterError

CURVE_COLUMNS = ("group", "time", "survival", "ci_lower", "ci_upper", "at_risk")
HAZARD_COLUMNS = ("covariate", "hazard_ratio", "ci_low", "ci_high", "p_adjusted")
COHORT_COLUMNS = ("cohort", "cohort_start", "months_since", "customers", "active",
                  "share_active", "not_observable", "km_survival")
#: Groups drawn in grey: they are not a value anybody chose.
_GREY_GROUPS = ("(missing)", "Other")
#: Pixels per group of the numbers-at-risk table under the curves.
RISK_ROW = 22
#: Pixels between the curves and the table: tick labels, the axis title, the table's title.
GAP = 64
#: Covariate names longer than this are shortened on the axis (the hover has them whole).
COVARIATE_CHARS = 36
RAISES, LOWERS, UNCLEAR = ("Raises churn (CI above 1)", "Lowers churn (CI below 1)",
                           "Unclear (CI includes 1)")
_CLASS_COLORS = {RAISES: "#CC6677", LOWERS: "#117733", UNCLEAR: "#888888"}
_VALUE_TITLES = {"share_active": "Share active",
                 "km_survival": "Still a customer<br>(Kaplan–Meier)"}
_MARGIN = dict(l=10, r=10, t=10, b=10)
_TOP = 36  # room for the legend above the plot


def natural_key(text: object) -> tuple:
    """Sort key reading digit runs as numbers: "2" before "10", "Plan 9" before "Plan 10"."""
    parts = re.split(r"(\d+)", str(text))
    # split() alternates text and digits, so items at one position always compare alike.
    return (tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), str(text))


def group_order(groups: Sequence[object]) -> list[object]:
    """Distinct ``groups`` in natural order, "(missing)" and "Other" last."""
    return sorted(dict.fromkeys(groups),
                  key=lambda g: (str(g) in _GREY_GROUPS, natural_key(g)))


def at_risk_table(curves: pd.DataFrame, ticks: Sequence[float]) -> pd.DataFrame:
    """Customers still at risk (neither churned nor censored before) at each tick, per group.

    ``curves`` is ``KMResult.curves``, whose ``at_risk`` counts those at risk just before the
    row's ``time``: everyone whose lifetime is at least that long. The number at risk at tick
    ``t`` is therefore the ``at_risk`` of the group's first row with ``time ≥ t``, and 0 past
    its last row (every lifetime ended before ``t``).

    Returns
    -------
    DataFrame
        One row per group (index ``group``, natural order), one column per tick; whole numbers
        as int64 unless the curves were weighted.
    """
    ticks = [float(t) for t in ticks]
    rows = {}
    parts = _by_group(curves)
    for group in group_order(list(parts)):
        part = parts[group].sort_values("time")
        times = part["time"].to_numpy(dtype=float)
        counts = np.r_[part["at_risk"].to_numpy(dtype=float), 0.0]
        rows[group] = counts[np.searchsorted(times, ticks, side="left")]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=ticks)
    table.index.name = "group"
    whole = table.size and np.allclose(table.to_numpy(), np.round(table.to_numpy()))
    return table.round().astype("int64") if whole or table.empty else table


def _by_group(curves: pd.DataFrame) -> dict[object, pd.DataFrame]:
    """Each group's rows, split in one pass (a comparison per group costs a scan of all)."""
    return dict(iter(curves.groupby("group", sort=False, dropna=False)))


def risk_ticks(max_time: float, horizons: Sequence[float] = (30, 90, 180, 365)) -> list[float]:
    """Times of the numbers-at-risk table and of the x axis' ticks.

    0 and the horizons up to ``max_time`` when at least two fit and they reach half of it;
    otherwise about six evenly spaced round numbers (1, 2, 2.5 or 5 × 10^k apart).
    """
    inside = sorted(float(h) for h in horizons if 0 < h <= max_time)
    if len(inside) >= 2 and inside[-1] >= max_time / 2:
        return [0.0, *inside]
    if not max_time > 0:
        return [0.0]
    raw = max_time / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [float(t) for t in np.arange(0, max_time + step * 1e-9, step)]


def survival_chart(
    curves: pd.DataFrame, *, horizons: Sequence[float] = (30, 90, 180, 365), height: int = 460,
    x_title: str = "Days since first event",
) -> go.Figure:
    """Kaplan–Meier step curves per group with 95% bands, over a numbers-at-risk table.

    ``curves`` is ``KMResult.curves``. Each group is three traces, in this order: the band's
    upper edge, its lower edge (filled up to the upper one in the group's colour) and the
    curve; all are steps (``line_shape="hv"``), drawn at the screen's resolution
    (:func:`drawn_steps`). The hover gives the group, the day, survival,
    its 95% interval and the number at risk. The last trace is the table under the plot: the
    number at risk per group (rows, natural order) at each tick of the x axis
    (:func:`risk_ticks`: 0 and the ``horizons`` within range, or even steps), as in
    :func:`at_risk_table`. ``height`` is the curves' panel; the figure's
    ``layout.height`` adds the table (``RISK_ROW`` pixels per group) and the room above it.
    """
    if curves.empty:
        return empty_figure("Nothing to draw: there are no survival curves.", height)
    _require(curves, CURVE_COLUMNS, "survival_chart", "kaplan_meier(...).curves")
    parts = _by_group(curves)
    groups = group_order(list(parts))
    colors = group_colors(groups)
    max_time = float(curves["time"].max())
    ticks = risk_ticks(max_time, horizons)
    table_px, plot_px = RISK_ROW * len(groups) + 6, height + RISK_ROW * len(groups) + 6 + GAP
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True)
    for group in groups:
        part = parts[group].sort_values("time", kind="stable")
        _add_curve(fig, drawn_steps(part, max_time), plain(group), colors[group])
    _add_risk_table(fig, at_risk_table(curves, ticks), colors)
    fig.update_layout(height=plot_px + _TOP + _MARGIN["b"], margin=dict(_MARGIN, t=_TOP),
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0))
    fig.update_xaxes(range=[-max_time * 0.02, max_time * 1.03 or 1], tickvals=ticks,
                     ticktext=[f"{t:,g}" for t in ticks])
    fig.update_xaxes(title=plain(x_title), showticklabels=True, row=1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=2, col=1)
    # Between the panels: the curves' tick labels, the axis title and the table's title.
    fig.update_yaxes(title="Share still a customer", range=[0, 1.02], tickformat=".0%",
                     domain=[(table_px + GAP) / plot_px, 1], row=1, col=1)
    fig.update_yaxes(range=[len(groups) - 0.5, -0.5], showgrid=False, zeroline=False,
                     domain=[0, table_px / plot_px], tickvals=list(range(len(groups))),
                     ticktext=[plain(g) for g in short_labels([str(g) for g in groups], 24)],
                     row=2, col=1)
    fig.add_annotation(text="Number at risk", x=0, xref="paper", xanchor="left",
                       y=table_px / plot_px, yref="paper", yanchor="bottom", showarrow=False,
                       font=dict(size=11, color="#666"))
    return fig


def drawn_steps(part: pd.DataFrame, max_time: float, resolution: int = 1000) -> pd.DataFrame:
    """The steps of one group's curve worth drawing: a step is kept when its survival, or
    either edge of its band, has moved by 1/``resolution`` of the y axis (0.1 pp) since the
    last kept step, or its time by 1/``resolution`` of the x axis; the first and last steps
    are always kept. Below a pixel on any screen, so the chart looks the same, while a curve
    of a million customers (a step per churn day and hour) stays a few thousand points, not
    megabytes of JSON that take seconds to build and send."""
    if len(part) <= 2 * resolution:
        return part
    span = max_time / resolution or 1.0
    bins = np.column_stack([np.floor(part[c].to_numpy(dtype=float) * resolution)
                            for c in ("survival", "ci_lower", "ci_upper")]
                           + [np.floor(part["time"].to_numpy(dtype=float) / span)])
    bins = np.nan_to_num(bins, nan=-1.0)
    moved = np.r_[True, (np.diff(bins, axis=0) != 0).any(axis=1)]
    moved[-1] = True
    return part[moved]


def _add_curve(fig: go.Figure, part: pd.DataFrame, name: str, color: str) -> None:
    """One group's band (two edges, the lower filled up to the upper) and step curve.

    Columns go in as numpy arrays: plotly validates a list point by point (seconds for a few
    curves of thousands of points) but copies an array whole."""
    x = part["time"].to_numpy(dtype=float)
    band = dict(x=x, mode="lines", line=dict(width=0, shape="hv", color=color),
                legendgroup=name, showlegend=False, hoverinfo="skip")
    fig.add_scatter(y=part["ci_upper"].to_numpy(dtype=float), name=f"{name} upper", **band,
                    row=1, col=1)
    fig.add_scatter(y=part["ci_lower"].to_numpy(dtype=float), name=f"{name} lower",
                    fill="tonexty", fillcolor=rgba(color, 0.18), **band, row=1, col=1)
    # Numbers only (the name comes from the trace): an object array is deep-copied item by
    # item each time plotly copies the figure.
    custom = part[["ci_lower", "ci_upper", "at_risk"]].to_numpy(dtype=float)
    fig.add_scatter(
        x=x, y=part["survival"].to_numpy(dtype=float), mode="lines", name=name,
        legendgroup=name, line=dict(shape="hv", color=color, width=2), customdata=custom,
        hovertemplate="%{fullData.name}<br>Day %{x:,.1~f}: %{y:.1%} still customers<br>95% "
        "interval %{customdata[0]:.1%} to %{customdata[1]:.1%}<br>%{customdata[2]:,.0f} at "
        "risk<extra></extra>", row=1, col=1,
    )


def _add_risk_table(fig: go.Figure, table: pd.DataFrame, colors: dict[object, str]) -> None:
    """The numbers at risk as one text trace: a row per group, a column per tick."""
    rows = [(t, i, f"{v:,.0f}", colors[g]) for i, (g, values) in enumerate(table.iterrows())
            for t, v in values.items()]
    fig.add_scatter(
        x=[r[0] for r in rows], y=[r[1] for r in rows], text=[r[2] for r in rows],
        mode="text", textfont=dict(size=11, color=[r[3] for r in rows]), name="At risk",
        showlegend=False, hoverinfo="skip", cliponaxis=False, row=2, col=1,
    )


def group_colors(groups: Sequence[object]) -> dict[object, str]:
    """A colour per group in the given order; "(missing)" and "Other" grey."""
    palette = PALETTE + px.colors.qualitative.Vivid
    regular = [g for g in groups if str(g) not in _GREY_GROUPS]
    out = {g: palette[i % len(palette)] for i, g in enumerate(regular)}
    return out | {g: "#999999" for g in groups if str(g) in _GREY_GROUPS}


def hazard_forest(table: pd.DataFrame, *, height: int | None = None) -> go.Figure:
    """Forest plot of Cox hazard ratios with their 95% intervals, on a log axis.

    ``table`` is ``CoxResult.table``. Covariates are sorted by hazard ratio, the largest on
    top, and coloured by what the interval says: raises churn (entirely above 1), lowers it
    (entirely below 1) or unclear (it contains 1, or is unknown). A dashed line marks 1 (no
    effect). Long names are shortened on the axis; the hover gives the full name, the hazard
    ratio, its interval and the Benjamini–Hochberg adjusted p. Rows without a finite positive
    hazard ratio cannot be placed on a log axis; a note under the plot counts them. The
    height (default) grows by 28 pixels per covariate.
    """
    if table.empty:
        return empty_figure("Nothing to draw: the model has no covariates.", height or 300)
    _require(table, HAZARD_COLUMNS, "hazard_forest", "cox_hazards(...).table")
    hr = pd.to_numeric(table["hazard_ratio"], errors="coerce")
    drawable = np.isfinite(hr) & (hr > 0)
    rows = table[drawable].assign(_class=lambda t: [
        hazard_class(lo, hi) for lo, hi in zip(t["ci_low"], t["ci_high"], strict=True)])
    rows = rows.sort_values("hazard_ratio", kind="stable").reset_index(drop=True)
    height = height or max(220, 110 + 28 * len(rows))
    if rows.empty:
        return empty_figure("Nothing to draw: no covariate has a finite hazard ratio.", height)
    names = rows["covariate"].astype(str).tolist()
    ticks = [plain(s) for s in short_labels(names, COVARIATE_CHARS)]
    fig = go.Figure()
    fig.add_scatter(x=[1, 1], y=[-0.6, len(rows) - 0.4], mode="lines", showlegend=False,
                    line=dict(color="#666", dash="dash", width=1), hoverinfo="skip")
    for label, color in _CLASS_COLORS.items():
        _add_hazards(fig, rows[rows["_class"] == label], label, color)
    fig.update_layout(
        height=height, margin=dict(_MARGIN, t=_TOP),
        legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0),
        xaxis=dict(type="log", title="Hazard ratio (95% interval, log scale)",
                   range=_log_range(rows)),
        yaxis=dict(tickvals=list(range(len(rows))), ticktext=ticks, title=None,
                   range=[-0.6, len(rows) - 0.4], automargin=True),
    )
    left_out = int((~drawable).sum())
    if left_out:
        fig.add_annotation(
            text=f"{left_out} covariate(s) without a finite hazard ratio are not shown.",
            x=0, xref="paper", y=0, yref="paper", yshift=-50, xanchor="left", yanchor="top",
            showarrow=False, font=dict(size=11, color="#666"))
        fig.update_layout(margin=dict(_MARGIN, t=_TOP, b=76), height=height + 30)
    return fig


def hazard_class(ci_low: float, ci_high: float) -> str:
    """RAISES when the interval lies above 1, LOWERS when below, UNCLEAR otherwise."""
    if pd.notna(ci_low) and ci_low > 1:
        return RAISES
    if pd.notna(ci_high) and ci_high < 1:
        return LOWERS
    return UNCLEAR


def _add_hazards(fig: go.Figure, rows: pd.DataFrame, label: str, color: str) -> None:
    if rows.empty:
        return
    hr = rows["hazard_ratio"].astype(float)
    low = rows["ci_low"].astype(float).fillna(hr)
    high = rows["ci_high"].astype(float).fillna(hr)
    fig.add_scatter(
        x=hr.tolist(), y=rows.index.tolist(), mode="markers", name=label,
        marker=dict(color=color, size=9, symbol="square"),
        error_x=dict(type="data", symmetric=False, array=(high - hr).clip(lower=0).tolist(),
                     arrayminus=(hr - low).clip(lower=0).tolist(), color=color, thickness=1.5,
                     width=4),
        customdata=list(zip(rows["covariate"].map(plain), [_ratio(v) for v in hr],
                            [_ratio(v) for v in rows["ci_low"]],
                            [_ratio(v) for v in rows["ci_high"]],
                            [_p_text(p) for p in rows["p_adjusted"]], strict=True)),
        hovertemplate="%{customdata[0]}<br>Hazard ratio %{customdata[1]} (95% interval "
        "%{customdata[2]} to %{customdata[3]})<br>Adjusted p (Benjamini–Hochberg) "
        "%{customdata[4]}<extra></extra>",
    )


def _log_range(rows: pd.DataFrame) -> list[float]:
    """log10 range holding 1 and every drawn interval, with a little room."""
    values = pd.concat([rows["hazard_ratio"], rows["ci_low"], rows["ci_high"]]).astype(float)
    values = values[np.isfinite(values) & (values > 0)]
    low, high = math.log10(min(values.min(), 1.0)), math.log10(max(values.max(), 1.0))
    pad = max(high - low, 0.3) * 0.08
    return [low - pad, high + pad]


def _ratio(value: float) -> str:
    return "–" if pd.isna(value) or not math.isfinite(float(value)) else f"{float(value):.2f}"


def _p_text(p: float) -> str:
    if pd.isna(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def cohort_heatmap(
    table: pd.DataFrame,
    *,
    value: Literal["share_active", "km_survival"] = "share_active",
    height: int | None = None,
) -> go.Figure:
    """Cohort retention: a row per cohort (earliest on top), a column per month since start.

    Cell colour and text are ``value``: ``"share_active"`` (active ÷ customers of the cohort)
    or ``"km_survival"`` (the Kaplan–Meier estimate, which accounts for customers not yet
    observable that long). Cells without a value stay empty. The hover adds customers,
    active, those not yet observable and the Kaplan–Meier estimate. Months run from 0 to the
    largest ``months_since`` in ``table``. The height (default) grows by 28 pixels per cohort.
    """
    if value not in _VALUE_TITLES:
        raise ParameterError(f"value must be 'share_active' or 'km_survival', not {value!r}.",
                             "Pass value='share_active' or value='km_survival'.")
    if table.empty:
        return empty_figure("Nothing to draw: there are no cohorts.", height or 300)
    _require(table, COHORT_COLUMNS, "cohort_heatmap", "the cohort retention table")
    cohorts = (table.drop_duplicates("cohort").sort_values(["cohort_start", "cohort"])
               ["cohort"].tolist())
    months = list(range(int(table["months_since"].max()) + 1))

    def grid(column: str) -> np.ndarray:
        wide = table.pivot_table(index="cohort", columns="months_since", values=column,
                                 aggfunc="first", dropna=False)
        return wide.reindex(index=cohorts, columns=months).to_numpy(dtype=float)

    z = grid(value)
    custom = np.dstack([
        np.array([[plain(c)] * len(months) for c in cohorts], dtype=object),
        *(np.vectorize(_count_text, otypes=[object])(grid(c))
          for c in ("customers", "active", "not_observable")),
        *(np.vectorize(_share_text, otypes=[object])(grid(c), "–")
          for c in ("share_active", "km_survival")),
    ])
    fig = go.Figure(go.Heatmap(
        z=z, x=months, y=list(range(len(cohorts))), customdata=custom,
        text=np.vectorize(_share_text, otypes=[object])(z), texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=1, hoverongaps=False, xgap=1, ygap=1,
        colorbar=dict(title=_VALUE_TITLES[value], tickformat=".0%"),
        hovertemplate="Cohort %{customdata[0]}, month %{x}<br>Customers: %{customdata[1]}"
        "<br>Active: %{customdata[2]} (%{customdata[4]})<br>Not yet observable: "
        "%{customdata[3]}<br>Kaplan–Meier estimate: %{customdata[5]}<extra></extra>",
    ))
    fig.update_layout(
        height=height or max(260, 120 + 28 * len(cohorts)), margin=_MARGIN,
        xaxis=dict(title="Months since first event", tickmode="array", tickvals=months),
        yaxis=dict(title="Cohort (month of first event)", autorange="reversed",
                   tickmode="array", tickvals=list(range(len(cohorts))),
                   ticktext=[plain(c) for c in cohorts]),
    )
    return fig


def _count_text(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:,.0f}"


def _share_text(value: float, missing: str = "") -> str:
    return missing if pd.isna(value) else f"{value:.0%}"


def empty_figure(message: str, height: int) -> go.Figure:
    """A blank figure that says why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font=dict(size=14, color="#666"))
    fig.update_layout(height=height, margin=_MARGIN, xaxis=dict(visible=False),
                      yaxis=dict(visible=False))
    return fig


def _require(table: pd.DataFrame, columns: Sequence[str], what: str, source: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MissingColumnError(f"{what} needs the column(s) {', '.join(missing)}.",
                                 f"Pass {source} unchanged.")
