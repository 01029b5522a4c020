"""Pain points: the priority quadrant (reach against severity, coloured by churn risk) and the
sentiment of each touchpoint over time.

Touchpoints and topic labels are user text (topic labels come from the comments themselves):
they pass through :func:`plain` before they reach a label, legend or hover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.figures.common import band_outline, require_columns, rgba
from analysis.figures.labels import plain, short_labels
from analysis.figures.survival import empty_figure, group_colors, group_order
from analysis.painpoints.matrix import HR_FULL, MIN_CUSTOMERS_FOR_HR
from analysis.schema import ParameterError

QUADRANT_COLUMNS = ("touchpoint", "topic", "mentions", "customers", "negative_share",
                    "churn_hazard_ratio", "hr_ci_low", "hr_ci_high", "priority")
#: The bubbles with the highest priority carry a label (the rest only a hover).
LABELLED = 8
LABEL_CHARS = 30
NO_RATIO = "No hazard ratio"
NO_RATIO_COLOR = "#AAAAAA"
#: Red for hazard ratios above 1 (raisers churn faster), blue below, white at 1.
HR_COLORSCALE = "RdBu_r"
#: Corner labels: (x anchor, y anchor) → text.
QUADRANTS = {("right", "top"): "Widespread and negative: fix first",
             ("left", "top"): "Niche but negative: fix if cheap",
             ("right", "bottom"): "Widespread, seldom negative: watch",
             ("left", "bottom"): "Niche, seldom negative: leave for now"}
_MAX_BUBBLE = 48  # pixels across the largest bubble
_HR_TICKS = (0.1, 0.2, 0.33, 0.5, 1, 2, 3, 5, 10)
_MARGIN = dict(l=10, r=10, t=40, b=10)
_LEGEND = dict(orientation="h", yanchor="bottom", y=1.01, x=0)
_NOTE_FONT = dict(size=11, color="#666")


def priority_quadrant_chart(matrix: pd.DataFrame, *, top: int = 30,
                            height: int = 520) -> go.Figure:
    """Pain points as bubbles: how many raised them against how negative they are.

    Parameters
    ----------
    matrix : DataFrame
        ``pain_points(...).matrix`` (or ``priority_matrix``), with the columns in
        :data:`QUADRANT_COLUMNS`.
    top : int
        Draw the ``top`` rows of highest priority; a note under the plot says how many were
        left out.
    height : int
        Figure height in pixels (the note adds 30).

    Returns
    -------
    go.Figure
        x is the reach, the customers who raised the row (its mentions when no row has
        customers: feedback without customer ids), y the severity (``negative_share``, 0–1
        shown as %), bubble area the reach. Rows with a hazard ratio of churn form the first
        trace, coloured by log(hazard ratio) on a diverging scale centred at 1 (the colour
        bar reads in ratios); rows without one form the second, grey trace "No hazard
        ratio". Dashed lines at the medians of the drawn rows split four quadrants, each
        named in its corner ("Widespread and negative: fix first" top right). The
        ``LABELLED`` highest-priority bubbles carry a short "touchpoint · topic" label; the
        hover gives touchpoint, topic, mentions, customers, negative share, the hazard ratio
        with its 95% interval and the priority. Rows without a negative share (no rated
        comment) cannot be placed; the note counts them.

    Raises
    ------
    MissingColumnError
        When a column above is missing.
    ParameterError
        When ``top`` is not a positive whole number.
    """
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or top < 1:
        raise ParameterError(f"top must be a positive whole number, got {top!r}.",
                             "Pass e.g. top=30.")
    if matrix.empty:
        return empty_figure("Nothing to draw: there are no pain points.", height)
    require_columns(matrix, QUADRANT_COLUMNS, "priority_quadrant_chart", "pain_points(...).matrix")
    by_customers = bool(pd.to_numeric(matrix["customers"], errors="coerce").max() > 0)
    ranked = matrix.sort_values("priority", ascending=False, kind="stable")
    placeable = ranked[ranked["negative_share"].notna()]
    rows = _quadrant_rows(placeable.head(top), "customers" if by_customers else "mentions")
    if rows.empty:
        return empty_figure("Nothing to draw: no pain point has a rated comment.", height)
    fig = go.Figure()
    sizeref = 2 * max(rows["reach"].max(), 1) / _MAX_BUBBLE**2
    _add_bubbles(fig, rows[rows["log_hr"].notna()], sizeref, _hr_range(rows["log_hr"]))
    _add_bubbles(fig, rows[rows["log_hr"].isna()], sizeref, None)
    _add_quadrants(fig, rows)
    reach_title = ("Reach: customers who raised it" if by_customers
                   else "Reach: mentions (no customer ids)")
    fig.update_layout(
        height=height, margin=_MARGIN, legend=_LEGEND, hovermode="closest",
        xaxis=dict(title=reach_title, range=[0, rows["reach"].max() * 1.12 or 1],
                   zeroline=False),
        yaxis=dict(title="Severity: negative share of rated comments", tickformat=".0%",
                   range=[-0.06, 1.08], zeroline=False))
    note = _left_out_note(len(ranked), len(placeable), len(rows))
    if note:
        fig.add_annotation(text=note, name="left out", x=0, xref="paper", y=0, yref="paper",
                           yshift=-50, xanchor="left", yanchor="top", showarrow=False,
                           font=_NOTE_FONT)
        fig.update_layout(height=height + 30, margin=dict(_MARGIN, b=76))
    return fig


def _quadrant_rows(rows: pd.DataFrame, reach: str) -> pd.DataFrame:
    """The drawn rows with ``reach``, ``severity``, ``log_hr`` (NaN when the hazard ratio is
    not a finite positive number), the bubble ``label`` and the hover texts."""
    hr = pd.to_numeric(rows["churn_hazard_ratio"], errors="coerce").astype(float)
    usable = np.isfinite(hr) & (hr > 0)
    names = [f"{t} · {p}" for t, p in zip(rows["touchpoint"], rows["topic"], strict=True)]
    labels = [plain(s) for s in short_labels(names[:LABELLED], LABEL_CHARS)]
    return pd.DataFrame({
        "reach": pd.to_numeric(rows[reach], errors="coerce").fillna(0).astype(float),
        "severity": rows["negative_share"].astype(float),
        "log_hr": np.log(hr.where(usable)),
        "label": labels + [""] * (len(rows) - len(labels)),
        "touchpoint": rows["touchpoint"].map(plain),
        "topic": rows["topic"].map(plain),
        "mentions": [f"{v:,.0f}" for v in rows["mentions"]],
        "customers": [f"{v:,.0f}" for v in rows["customers"]],
        "share": [f"{v:.0%}" for v in rows["negative_share"]],
        "hr": [_hr_text(*v) for v in zip(hr, rows["hr_ci_low"], rows["hr_ci_high"],
                                         strict=True)],
        "priority": [f"{v:.2f}" for v in rows["priority"]],
    }, index=rows.index)


def _add_bubbles(fig: go.Figure, rows: pd.DataFrame, sizeref: float,
                 hr_range: float | None) -> None:
    """One trace of bubbles: coloured by log(HR) when ``hr_range`` is given, else grey."""
    if rows.empty:
        return
    if hr_range is None:
        marker = dict(color=NO_RATIO_COLOR)
    else:
        ticks = [t for t in _HR_TICKS if abs(math.log(t)) <= hr_range + 1e-9]
        marker = dict(color=rows["log_hr"].tolist(), colorscale=HR_COLORSCALE, cmid=0,
                      cmin=-hr_range, cmax=hr_range, showscale=True,
                      colorbar=dict(title="Hazard ratio<br>of churn", thickness=14,
                                    tickvals=[math.log(t) for t in ticks],
                                    ticktext=[f"{t:g}" for t in ticks]))
    fig.add_scatter(
        x=rows["reach"].tolist(), y=rows["severity"].tolist(), mode="markers+text",
        name=NO_RATIO if hr_range is None else "Hazard ratio of churn",
        showlegend=hr_range is None, text=rows["label"].tolist(), textposition="top center",
        textfont=dict(size=10, color="#444"), cliponaxis=False,
        marker=dict(marker, size=rows["reach"].tolist(), sizemode="area", sizeref=sizeref,
                    sizemin=4, opacity=0.8, line=dict(width=1, color="#FFFFFF")),
        customdata=rows[["touchpoint", "topic", "mentions", "customers", "share", "hr",
                         "priority"]].to_numpy().tolist(),
        hovertemplate="%{customdata[0]}: %{customdata[1]}<br>%{customdata[2]} mentions by "
        "%{customdata[3]} customers<br>Negative: %{customdata[4]}<br>Hazard ratio of churn: "
        "%{customdata[5]}<br>Priority %{customdata[6]}<extra></extra>")


def _hr_range(log_hr: pd.Series) -> float:
    """Half-width of the colour scale in log(HR): at least log(HR_FULL), symmetric about 1."""
    finite = log_hr.dropna().abs()
    return max(math.log(HR_FULL), float(finite.max()) if len(finite) else 0.0)


def _hr_text(hr: float, low: float, high: float) -> str:
    if not (np.isfinite(hr) and hr > 0):
        return f"none (needs {MIN_CUSTOMERS_FOR_HR}+ customers, events and churn)"
    if pd.isna(low) or pd.isna(high):
        return f"{hr:.2f}"
    return f"{hr:.2f} (95% CI {low:.2f} to {high:.2f})"


def _add_quadrants(fig: go.Figure, rows: pd.DataFrame) -> None:
    """Dashed lines at the median reach and severity; each quadrant named in its corner."""
    line = dict(color="#888", dash="dash", width=1)
    fig.add_shape(type="line", name="median reach", x0=rows["reach"].median(),
                  x1=rows["reach"].median(), xref="x", y0=0, y1=1, yref="paper", line=line)
    fig.add_shape(type="line", name="median severity", y0=rows["severity"].median(),
                  y1=rows["severity"].median(), yref="y", x0=0, x1=1, xref="paper",
                  line=line)
    for (x_side, y_side), text in QUADRANTS.items():
        fig.add_annotation(text=text, name="quadrant", x=float(x_side == "right"),
                           y=float(y_side == "top"), xref="paper", yref="paper",
                           xanchor=x_side, yanchor=y_side, showarrow=False,
                           font=dict(size=10, color="#888"))


def _left_out_note(total: int, placeable: int, drawn: int) -> str:
    notes = []
    if placeable > drawn:
        notes.append(f"Showing the {drawn} highest-priority of {placeable} pain points.")
    if total > placeable:
        notes.append(f"{total - placeable} without a rated comment (no negative share) "
                     "cannot be placed.")
    return " ".join(notes)


# --------------------------------------------------------------------------- trends


@dataclass(frozen=True)
class _Measure:
    title: str
    responses: str
    answers: str
    ci: tuple[str, str] | None
    percent: bool


MEASURES = {
    "negative_share": _Measure("Negative share of rated comments", "rated",
                               "rated comments", ("neg_ci_low", "neg_ci_high"), True),
    "nps": _Measure("NPS (points)", "nps_responses", "NPS answers",
                    ("nps_ci_low", "nps_ci_high"), False),
    "csat": _Measure("CSAT: share satisfied (4–5)", "csat_responses", "CSAT answers",
                     ("csat_ci_low", "csat_ci_high"), True),
    "ces": _Measure("CES: mean score", "ces_responses", "CES answers", None, False),
}


def sentiment_trend_chart(trend: pd.DataFrame, *, measure: str = "negative_share",
                          height: int = 420) -> go.Figure:
    """One line per touchpoint over the periods, with its 95% band where the measure has one.

    Parameters
    ----------
    trend : DataFrame
        ``touchpoint_sentiment(...)``: ``touchpoint``, ``period_start``, the measure, its
        number of answers and, for all but CES, its interval columns.
    measure : {"negative_share", "nps", "csat", "ces"}
        Negative share of rated comments (as %), NPS (points), CSAT (share satisfied, as %)
        or CES (mean score).
    height : int
        Figure height in pixels.

    Returns
    -------
    go.Figure
        Per touchpoint (natural order): for measures with an interval, a band trace (a filled
        outline per run of periods with a known interval, ``hoverinfo="skip"``), then the
        line with markers. A period without answers (NaN) leaves a gap. The hover gives the
        touchpoint, period, value, interval and number of answers.

    Raises
    ------
    ParameterError
        When ``measure`` is not one of the four.
    MissingColumnError
        When a column the measure needs is missing.
    """
    if measure not in MEASURES:
        raise ParameterError(f"Unknown measure {measure!r}.",
                             f"Use one of {', '.join(MEASURES)}.")
    spec = MEASURES[measure]
    if trend.empty:
        return empty_figure("Nothing to draw: there is no feedback over time.", height)
    needed = ("touchpoint", "period_start", measure, spec.responses, *(spec.ci or ()))
    require_columns(trend, needed, "sentiment_trend_chart", "touchpoint_sentiment(...)")
    if trend[measure].notna().sum() == 0:
        return empty_figure(f"Nothing to draw: no period has {spec.answers}.", height)
    touchpoints = group_order(trend["touchpoint"].tolist())
    colors = group_colors(touchpoints)
    fig = go.Figure()
    for touchpoint in touchpoints:
        part = trend[trend["touchpoint"] == touchpoint].sort_values("period_start")
        _add_trend(fig, part, measure, spec, plain(touchpoint), colors[touchpoint])
    fig.update_layout(
        height=height, margin=_MARGIN, legend=_LEGEND, hovermode="closest",
        xaxis=dict(title=None),
        yaxis=dict(title=spec.title, tickformat=".0%" if spec.percent else None))
    return fig


def _add_trend(fig: go.Figure, part: pd.DataFrame, measure: str, spec: _Measure, name: str,
               color: str) -> None:
    x = _naive(part["period_start"]).tolist()
    value = part[measure].astype(float)
    low = part[spec.ci[0]].astype(float) if spec.ci else value * np.nan
    high = part[spec.ci[1]].astype(float) if spec.ci else value * np.nan
    if spec.ci:
        band_x, band_y = band_outline(x, low.tolist(), high.tolist())
        fig.add_scatter(x=band_x, y=band_y, mode="lines", fill="toself",
                        name=f"{name} 95% CI", fillcolor=rgba(color, 0.15),
                        line=dict(width=0, color=color), legendgroup=name, showlegend=False,
                        hoverinfo="skip")
    interval = ["" if pd.isna(a) or pd.isna(b) else
                f" (95% CI {_value_text(a, spec)} to {_value_text(b, spec)})"
                for a, b in zip(low, high, strict=True)]
    fig.add_scatter(
        x=x, y=[None if pd.isna(v) else v for v in value], mode="lines+markers", name=name,
        legendgroup=name, connectgaps=False, line=dict(color=color, width=2),
        marker=dict(color=color, size=6),
        customdata=list(zip([name] * len(part), [_value_text(v, spec) for v in value],
                            interval, [f"{n:,.0f}" for n in part[spec.responses]],
                            strict=True)),
        hovertemplate="%{customdata[0]}, period from %{x|%Y-%m-%d}<br>%{customdata[1]}"
        f"%{{customdata[2]}}<br>%{{customdata[3]}} {spec.answers}<extra></extra>")


def _value_text(value: float, spec: _Measure) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:.1%}" if spec.percent else f"{value:,.1f}"


def _naive(stamps: Sequence[object] | pd.Series) -> pd.Series:
    """Period starts without a time zone: Plotly's date axes know no zones."""
    stamps = pd.to_datetime(pd.Series(stamps))
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz else stamps
