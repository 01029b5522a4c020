"""Experiments: a forest chart of effects per KPI, a KPI's trend around a change, the event
study's pre-trend check.

KPI, comparison, group and unit names are user text: they pass through :func:`plain` before
they reach a label, legend or hover, so a name like ``<b>VIP</b>`` reads as typed.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.experiments.compare import ALL, Effects
from analysis.figures.common import PALETTE, band_outline, require_columns, rgba
from analysis.figures.labels import plain
from analysis.figures.survival import empty_figure, group_colors, group_order
from analysis.schema import ParameterError

EFFECT_COLUMNS = ("kpi", "comparison", "estimate", "ci_low", "ci_high", "unit", "p_adjusted",
                  "higher_is_better")
TREND_COLUMNS = ("period", "group", "value", "ci_low", "ci_high", "units")
EVENT_COLUMNS = ("relative_period", "estimate", "ci_low", "ci_high", "p_value")
BETTER, WORSE, UNCLEAR = "Better", "Worse", "Unclear"
#: Adjusted p-values at or above this make a difference "Unclear".
ALPHA = 0.05
VERDICT_COLORS = {BETTER: "#117733", WORSE: "#CC6677", UNCLEAR: "#888888"}
LEADS, LAGS = "Before the change (should be near 0)", "After the change (the effect)"
LEAD_COLOR, LAG_COLOR = PALETTE[6], PALETTE[4]
#: Pixels of one comparison row, and around each KPI panel (its title and x-axis ticks).
EFFECT_ROW, PANEL_EXTRA = 32, 80
_PERIOD_NAMES = {"day": "Days", "week": "Weeks", "month": "Months", "quarter": "Quarters",
                 "year": "Years", "period": "Periods"}
_MARGIN = dict(l=10, r=10, t=10, b=10)
_TOP = 36  # room for the legend above the plot
_LEGEND = dict(orientation="h", yanchor="bottom", y=1.01, x=0)
_CHANGE_LINE = dict(color="#444", dash="dash", width=1.5)


def effect_verdict(ci_low: float, ci_high: float, higher_is_better: bool) -> str:
    """What a 95% interval of a difference says: BETTER, WORSE or UNCLEAR.

    The interval excludes 0 on the good side (above 0 when ``higher_is_better``, below 0
    otherwise): BETTER; on the bad side: WORSE; it contains 0 or is unknown: UNCLEAR.
    """
    if pd.notna(ci_low) and ci_low > 0:
        return BETTER if bool(higher_is_better) else WORSE
    if pd.notna(ci_high) and ci_high < 0:
        return WORSE if bool(higher_is_better) else BETTER
    return UNCLEAR


def effect_forest_chart(effects: pd.DataFrame, *, height: int | None = None) -> go.Figure:
    """Forest chart of effects with their 95% intervals: one panel per KPI, stacked.

    Parameters
    ----------
    effects : DataFrame
        One row per KPI × comparison: ``kpi`` (display name), ``comparison`` ("B vs A",
        "Treated vs control"), ``estimate``, ``ci_low``, ``ci_high`` (the difference in the
        KPI's display unit: percentage points, points, days, currency), ``unit`` (a suffix
        such as " pp", the same for a KPI's rows), ``p_adjusted`` and ``higher_is_better``.
    height : int, optional
        Figure height in pixels; by default ``PANEL_EXTRA`` per KPI, ``EFFECT_ROW`` per row.

    Returns
    -------
    go.Figure
        KPIs in order of first appearance, each on its own x axis (units differ) with a line
        at 0; comparisons top to bottom in order of appearance. Points are coloured by
        :func:`effect_verdict` with one legend entry per verdict used. Rows without a finite
        estimate are not drawn; a note under the plot counts them.

    Raises
    ------
    MissingColumnError
        When a column above is missing.
    """
    if effects.empty:
        return empty_figure("Nothing to draw: there are no effects to compare.", height or 300)
    require_columns(effects, EFFECT_COLUMNS, "effect_forest_chart", "a table of effects per KPI")
    estimate = pd.to_numeric(effects["estimate"], errors="coerce")
    rows = effects[np.isfinite(estimate.astype(float))]
    # A difference whose adjusted p-value is not significant is not called better or worse,
    # even when its own interval excludes 0 (many tests were run).
    rows = rows.assign(_verdict=[
        effect_verdict(lo, hi, good) if not p >= ALPHA else UNCLEAR
        for lo, hi, good, p in zip(rows["ci_low"], rows["ci_high"], rows["higher_is_better"],
                                   pd.to_numeric(rows["p_adjusted"], errors="coerce"),
                                   strict=True)])
    kpis = list(dict.fromkeys(rows["kpi"].tolist()))
    if not kpis:
        return empty_figure("Nothing to draw: no effect has a finite estimate.", height or 300)
    sizes = [int((rows["kpi"] == k).sum()) for k in kpis]
    height = height or sum(PANEL_EXTRA + EFFECT_ROW * n for n in sizes) + _TOP + 24
    fig = make_subplots(
        rows=len(kpis), cols=1, shared_xaxes=False, row_heights=[n + 1 for n in sizes],
        vertical_spacing=min(55 / height, 0.9 / max(len(kpis) - 1, 1)),
        subplot_titles=[_kpi_title(k, rows.loc[rows["kpi"] == k, "unit"].iloc[0])
                        for k in kpis])
    shown, axes = set(), {}
    for i, kpi in enumerate(kpis, start=1):
        part = rows[rows["kpi"] == kpi].reset_index(drop=True)
        axes.update(_add_effect_panel(fig, part, i, shown))
    # Every panel's line at 0 and axes in one layout update (plotly validates each call).
    fig.update_layout(shapes=[dict(type="line", x0=0, x1=0, y0=0, y1=1, xref=f"x{n}",
                                   yref=f"y{n} domain", line=dict(color="#666", dash="dash",
                                   width=1)) for n in ["", *range(2, len(kpis) + 1)]], **axes)
    dropped = len(effects) - len(rows)
    top, bottom, height = _TOP + 24, 46 if dropped else 10, height + (30 if dropped else 0)
    # The legend sits above the first KPI's title, not on it.
    fig.update_layout(height=height, margin=dict(_MARGIN, t=top, b=bottom),
                      legend=dict(_LEGEND, y=1 + 24 / max(height - top - bottom, 1)))
    if dropped:
        fig.add_annotation(
            text=f"{dropped} effect(s) without a finite estimate are not shown.",
            x=0, xref="paper", y=0, yref="paper", yshift=-30, xanchor="left", yanchor="top",
            showarrow=False, font=dict(size=11, color="#666"))
    return fig


def _add_effect_panel(fig: go.Figure, part: pd.DataFrame, row: int, shown: set[str]) -> dict:
    """One KPI's comparisons (a trace per verdict); returns its axes' layout."""
    unit = plain(part["unit"].iloc[0])
    for verdict, color in VERDICT_COLORS.items():
        rows = part[part["_verdict"] == verdict]
        if rows.empty:
            continue
        est, low, high = _interval(rows)
        fig.add_scatter(
            x=est.tolist(), y=rows.index.tolist(), mode="markers", name=verdict,
            legendgroup=verdict, showlegend=verdict not in shown,
            marker=dict(color=color, size=10, symbol="square"),
            error_x=dict(type="data", symmetric=False, array=(high - est).clip(lower=0).tolist(),
                         arrayminus=(est - low).clip(lower=0).tolist(), color=color,
                         thickness=1.5, width=4),
            customdata=list(zip(
                rows["kpi"].map(plain), rows["comparison"].map(plain),
                [_number_text(v, unit, signed=True) for v in est],
                [_number_text(v, unit, signed=True) for v in rows["ci_low"]],
                [_number_text(v, unit, signed=True) for v in rows["ci_high"]],
                [_p_text(p) for p in rows["p_adjusted"]], strict=True)),
            hovertemplate="%{customdata[0]}: %{customdata[1]}<br>Difference %{customdata[2]} "
            "(95% CI %{customdata[3]} to %{customdata[4]})<br>Adjusted p %{customdata[5]}"
            "<extra></extra>", row=row, col=1)
        shown.add(verdict)
    n = "" if row == 1 else row  # subplot axes are x, x2, x3…
    return {f"xaxis{n}": dict(range=_padded_range(part), zeroline=False),
            f"yaxis{n}": dict(tickvals=list(range(len(part))), automargin=True,
                                    ticktext=part["comparison"].map(plain).tolist(),
                                    range=[len(part) - 0.5, -0.5])}


def _interval(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Estimate and interval ends as floats; an unknown end sits on the estimate (no bar)."""
    est = rows["estimate"].astype(float)
    return est, rows["ci_low"].astype(float).fillna(est), rows["ci_high"].astype(float).fillna(est)


def _kpi_title(kpi: object, unit: object) -> str:
    unit = str(unit).strip() if pd.notna(unit) else ""
    return f"{plain(kpi)} ({plain(unit)})" if unit else plain(kpi)


def _padded_range(part: pd.DataFrame) -> list[float]:
    """x range holding 0 and every drawn interval, with a little room."""
    values = pd.concat([part["estimate"], part["ci_low"], part["ci_high"]]).astype(float)
    values = values[np.isfinite(values)]
    low, high = min(values.min(), 0.0), max(values.max(), 0.0)
    pad = (high - low) * 0.08 or 1.0
    return [low - pad, high + pad]


def kpi_trend_chart(
    series: pd.DataFrame, *, kpi: str, unit: str = "", change_date: object = None,
    height: int = 420,
) -> go.Figure:
    """A KPI per period and group with its 95% band, the change marked by a dashed line.

    Parameters
    ----------
    series : DataFrame
        One row per period × group: ``period`` (period start), ``group`` ("Treated",
        "Control" or variant names), ``value``, ``ci_low``, ``ci_high`` (in the KPI's display
        unit) and ``units`` (customers in the cell). A NaN value (no customers) leaves a gap.
    kpi, unit : str
        The KPI's name and unit suffix (" pp", " days"), for the y-axis title and the hover.
    change_date : date-like, optional
        When given, a vertical dashed line at that date, labelled "Change" at the top.
    height : int
        Figure height in pixels.

    Returns
    -------
    go.Figure
        Per group (natural order), two traces: the band (a filled outline, one closed shape
        per run of periods with a known interval; ``hoverinfo="skip"``) and the line with
        markers, whose hover gives the period, value, interval and number of customers.

    Raises
    ------
    MissingColumnError
        When a column above is missing.
    """
    if series.empty:
        return empty_figure(f"Nothing to draw: there is no data over time for {plain(kpi)}.",
                            height)
    require_columns(series, TREND_COLUMNS, "kpi_trend_chart",
                    "a table of the KPI per period and group")
    unit_text = plain(unit)
    groups = group_order(series["group"].tolist())
    colors = group_colors(groups)
    fig = go.Figure()
    for group in groups:
        part = series[series["group"] == group].assign(period=lambda t: _naive(t["period"]))
        part = part.sort_values("period", kind="stable")
        _add_trend(fig, part, plain(group), colors[group], unit_text)
    fig.update_layout(
        height=height, margin=dict(_MARGIN, t=_TOP), legend=_LEGEND, hovermode="closest",
        xaxis=dict(title=None), yaxis=dict(title=_kpi_title(kpi, unit)))
    if change_date is not None:
        when = _naive(pd.Series([pd.Timestamp(change_date)])).iloc[0]
        fig.add_shape(type="line", xref="x", yref="paper", x0=when, x1=when, y0=0, y1=1,
                      line=_CHANGE_LINE)
        fig.add_annotation(text="Change", x=when, xref="x", y=1, yref="paper", xanchor="left",
                           yanchor="top", xshift=4, showarrow=False,
                           font=dict(size=12, color="#444"))
    return fig


def _add_trend(fig: go.Figure, part: pd.DataFrame, name: str, color: str, unit: str) -> None:
    """One group's band (filled outline of each run of known intervals) and line."""
    x = part["period"].tolist()
    band_x, band_y = band_outline(x, part["ci_low"].astype(float).tolist(),
                           part["ci_high"].astype(float).tolist())
    fig.add_scatter(x=band_x, y=band_y, mode="lines", fill="toself", name=f"{name} 95% CI",
                    fillcolor=rgba(color, 0.18), line=dict(width=0, color=color),
                    legendgroup=name, showlegend=False, hoverinfo="skip")
    value = part["value"].astype(float)
    fig.add_scatter(
        x=x, y=value.tolist(), mode="lines+markers", name=name, legendgroup=name,
        line=dict(color=color, width=2), marker=dict(color=color, size=7), connectgaps=False,
        customdata=list(zip(
            [name] * len(part), [_number_text(v, unit) for v in value],
            [_number_text(v, unit) for v in part["ci_low"]],
            [_number_text(v, unit) for v in part["ci_high"]],
            ["–" if pd.isna(v) else f"{v:,.0f}" for v in part["units"]], strict=True)),
        hovertemplate="%{customdata[0]}, %{x|%Y-%m-%d}<br>%{customdata[1]} (95% CI "
        "%{customdata[2]} to %{customdata[3]})<br>%{customdata[4]} customers<extra></extra>")


def _naive(stamps: pd.Series) -> pd.Series:
    """Timestamps without a time zone (UTC wall time): Plotly's date axes know no zones."""
    stamps = pd.to_datetime(stamps)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz else stamps


def event_study_chart(
    table: pd.DataFrame, *, kpi: str, unit: str = "",
    period: Literal["day", "week", "month", "quarter", "year", "period"] = "month",
    pretrend_p: float | None = None, height: int = 420,
) -> go.Figure:
    """The event study's effects per period relative to the change: the pre-trend check.

    Leads (k < 0) should sit near 0 if treated and control moved in parallel before the
    change; lags (k ≥ 0) are the effect as it builds up. k = −1 is the reference, fixed at 0.

    Parameters
    ----------
    table : DataFrame
        ``EventStudyResult.table``: ``relative_period`` (k), ``estimate`` (treated − control
        difference relative to k = −1, in the KPI's display unit), ``ci_low``, ``ci_high``,
        ``p_value``.
    kpi, unit : str
        The KPI's name and unit suffix, for the y-axis title and the hover.
    period : {"day", "week", "month", "quarter", "year", "period"}
        What one step of k is, for the x-axis title ("Months relative to the change").
    pretrend_p : float, optional
        ``EventStudyResult.pretrend_p``; when given, written above the plot.
    height : int
        Figure height in pixels.

    Returns
    -------
    go.Figure
        Traces in order: leads (k < −1), lags (k ≥ 0), each markers with vertical 95% error
        bars, then the hollow reference point (k = −1). Lines at 0 and, dashed, at k = −0.5.

    Raises
    ------
    ParameterError
        When ``period`` is not one of the above.
    MissingColumnError
        When a column above is missing.
    """
    if period not in _PERIOD_NAMES:
        raise ParameterError(f"period must be one of {', '.join(_PERIOD_NAMES)}, not "
                             f"{period!r}.", "Pass the period the event study binned by.")
    if table.empty:
        return empty_figure("Nothing to draw: the event study has no periods.", height)
    require_columns(table, EVENT_COLUMNS, "event_study_chart", "event_study(...).table")
    rows = table.assign(relative_period=lambda t: t["relative_period"].astype(int))
    rows = rows.sort_values("relative_period", kind="stable")
    k = rows["relative_period"]
    unit_text = plain(unit)
    fig = go.Figure()
    step = _PERIOD_NAMES[period][:-1]
    _add_periods(fig, rows[k < -1], LEADS, LEAD_COLOR, unit_text, step)
    _add_periods(fig, rows[k >= 0], LAGS, LAG_COLOR, unit_text, step)
    reference = rows[k == -1]
    if not reference.empty:
        fig.add_scatter(
            x=reference["relative_period"].tolist(), y=reference["estimate"].tolist(),
            mode="markers", name="Reference period", showlegend=False,
            marker=dict(symbol="circle-open", size=10, color=LEAD_COLOR, line=dict(width=2)),
            hovertemplate="Reference period (set to 0)<extra></extra>")
    fig.add_hline(y=0, line=dict(color="#666", width=1))
    fig.add_shape(type="line", xref="x", yref="paper", x0=-0.5, x1=-0.5, y0=0, y1=1,
                  line=_CHANGE_LINE)
    fig.add_annotation(text="Change", x=-0.5, xref="x", y=1, yref="paper", xanchor="left",
                       yanchor="top", xshift=4, showarrow=False, font=dict(size=12, color="#444"))
    low, high = int(k.min()), int(k.max())
    fig.update_layout(
        height=height, margin=dict(_MARGIN, t=_TOP + (24 if pretrend_p is not None else 0)),
        legend=_LEGEND, xaxis=dict(
            title=f"{_PERIOD_NAMES[period]} relative to the change", tickmode="linear",
            tick0=0, dtick=max(1, math.ceil((high - low) / 12)), range=[low - 0.6, high + 0.6],
            zeroline=False),
        yaxis=dict(title=f"Treated − control, {_kpi_title(kpi, unit)}", zeroline=False))
    if pretrend_p is not None:
        fig.add_annotation(text=_pretrend_text(pretrend_p), x=0, xref="paper", y=1,
                           yref="paper", yanchor="bottom", xanchor="left", yshift=28,
                           showarrow=False, font=dict(size=12, color="#444"))
    return fig


def _add_periods(fig: go.Figure, rows: pd.DataFrame, name: str, color: str, unit: str,
                 step: str) -> None:
    """Markers with vertical 95% error bars for one side of the change; ``step`` names one
    period ("Month") in the hover."""
    if rows.empty:
        return
    est, low, high = _interval(rows)
    fig.add_scatter(
        x=rows["relative_period"].tolist(), y=est.tolist(), mode="markers", name=name,
        marker=dict(color=color, size=9), text=[f"{step} {k:+d}" for k in rows["relative_period"]],
        error_y=dict(type="data", symmetric=False, array=(high - est).clip(lower=0).tolist(),
                     arrayminus=(est - low).clip(lower=0).tolist(), color=color,
                     thickness=1.5, width=4),
        customdata=list(zip(
            [_number_text(v, unit, signed=True) for v in est],
            [_number_text(v, unit, signed=True) for v in rows["ci_low"]],
            [_number_text(v, unit, signed=True) for v in rows["ci_high"]],
            [_p_text(p) for p in rows["p_value"]], strict=True)),
        hovertemplate="%{text} relative to the change<br>Treated − control %{customdata[0]} "
        "(95% CI %{customdata[1]} to %{customdata[2]})<br>p %{customdata[3]}<extra></extra>")


def _pretrend_text(p: float) -> str:
    if pd.isna(p):
        return "Pre-trend test: not possible (no periods before the change)"
    text = _p_text(p)
    return f"Pre-trend test p {text}" if text.startswith("<") else f"Pre-trend test p = {text}"


def _number_text(value: float, unit: str, *, signed: bool = False) -> str:
    """A value in its display unit: 2 decimals under 10, 1 under 100, none above; "–" if
    unknown. ``signed`` writes "+" and "−" (a difference)."""
    if pd.isna(value) or not math.isfinite(float(value)):
        return "–"
    size = abs(float(value))
    text = f"{size:,.{2 if size < 10 else 1 if size < 100 else 0}f}"
    if float(text.replace(",", "")) == 0:
        return f"{text}{unit}"
    sign = ("+" if value > 0 else "−") if signed else ("−" if value < 0 else "")
    return f"{sign}{text}{unit}"


def _p_text(p: float) -> str:
    """"< 0.001", 3 decimals under 0.1 (near the usual thresholds), else 2; "–" if unknown."""
    if pd.isna(p):
        return "–"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def forest_rows(effects: Effects) -> pd.DataFrame:
    """An effects table (``compare.ab_effects`` and friends) in the columns
    :func:`effect_forest_chart` reads; segment rows are named "comparison · segment"."""
    t = effects.table
    comparison = t["comparison"].where(t["segment"] == ALL, t["comparison"] + " · " + t["segment"])
    return pd.DataFrame({"kpi": t["label"], "comparison": comparison,
                         "estimate": t["difference"], "ci_low": t["ci_low"],
                         "ci_high": t["ci_high"], "unit": t["unit"],
                         "p_adjusted": t["p_adjusted"], "higher_is_better": t["higher_is_better"]})
