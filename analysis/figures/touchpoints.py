"""Touchpoints: attribution models side by side, where converters start and finish (online or
offline), the channels they finish on and use before, and the reach of touchpoints over time.

Touchpoint and channel names are user text: they pass through :func:`plain` before they reach
a label, legend or hover, so a name like ``<b>x</b>`` reads as typed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.figures.common import PALETTE, require_columns
from analysis.figures.labels import plain, short_labels
from analysis.figures.survival import empty_figure, group_colors
from analysis.results import OTHER
from analysis.schema import ParameterError
from analysis.touchpoints.attribution import BY, MODELS
from analysis.touchpoints.completion import KINDS, Completion

#: Human names of the attribution models, in :data:`MODELS` order.
MODEL_NAMES = {
    "first": "First touch", "last": "Last touch", "linear": "Linear",
    "position": "Position (40/20/40)", "time_decay": "Time decay",
    "markov": "Markov (removal effect)", "shapley": "Shapley",
}
MODEL_COLORS = {m: PALETTE[i] for i, m in enumerate(MODELS)}
KIND_COLORS = {"online": PALETTE[0], "offline": PALETTE[1], "unclassified": "#B0B0B0"}
KIND_NAMES = {"online": "Online", "offline": "Offline", "unclassified": "Unclassified"}
FINISHED, BEFORE = "Finished (converted) here", "Used before converting"
TREND_COLUMNS = ("touchpoint", "period", "reach")
#: Names longer than this are shortened on the axis (the hover has them whole).
LABEL_CHARS = 32
_MARGIN = dict(l=10, r=10, t=10, b=10)
_TOP = 36  # room for the legend above the plot
_LEGEND = dict(orientation="h", yanchor="bottom", y=1.01, x=0)
_BAR_PX = 7  # pixels per bar of a grouped row


def attribution_chart(compare: pd.DataFrame, *, by: str = "touchpoint", top: int = 12,
                      height: int | None = None) -> go.Figure:
    """Share of conversions each model credits to each touchpoint (or channel), side by side.

    Parameters
    ----------
    compare : DataFrame
        :func:`analysis.touchpoints.attribution.compare_models` output: the ``by`` column and
        one column of credited conversions per model (any of :data:`MODELS`).
    by : {"touchpoint", "channel"}
        The column that names the rows.
    top : int
        Rows shown: the ``top`` most credited by the Markov model (by the first model when
        Markov is absent); the rest are summed into one "Other" row at the bottom.
    height : int, optional
        Figure height in pixels; by default it grows with rows and models.

    Returns
    -------
    go.Figure
        Horizontal grouped bars, one trace per model (in ``compare``'s column order, named
        as in :data:`MODEL_NAMES`), x = share of the converting journeys (each model's
        column divided by its sum), y = row positions ticked with the (escaped, shortened)
        names, most credited on top. An empty table, or no credit at all, gives a note.

    Raises
    ------
    ParameterError
        When ``by`` or ``top`` is invalid.
    MissingColumnError
        When ``by`` or every model column is missing.
    """
    if by not in BY:
        raise ParameterError(f"Unknown attribution key {by!r}.", f"Use one of {', '.join(BY)}.")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ParameterError(f"top must be a positive whole number, got {top!r}.",
                             "Pass e.g. top=12.")
    require_columns(compare, [by], "attribution_chart", "compare_models(...) output")
    models = [c for c in compare.columns if c in MODEL_NAMES]
    if not models:
        require_columns(compare, ["markov"], "attribution_chart", "compare_models(...) output")
    credit = compare[models].astype(float).fillna(0.0)
    totals = credit.sum()
    if compare.empty or not (totals > 0).any():
        return empty_figure("Nothing to draw: no journey converted, so there is no credit "
                            "to share. Check the conversion touchpoints and the filters.",
                            height or 300)
    shares = credit / totals.where(totals > 0, 1.0)
    shares.index = compare[by].astype(str)
    shares = _top_rows(shares, "markov" if "markov" in models else models[0], top)
    names = shares.index.tolist()
    labels = short_labels([plain(n) for n in names], LABEL_CHARS)
    fig = go.Figure()
    for model in models:
        values = shares[model].to_numpy()
        count = (values * totals[model]).tolist()
        fig.add_bar(
            x=values.tolist(), y=list(range(len(names))), orientation="h",
            name=MODEL_NAMES[model], marker_color=MODEL_COLORS[model],
            customdata=list(zip([plain(n) for n in names], [_pct(v) for v in values],
                                [f"{c:,.1f}" for c in count], strict=True)),
            hovertemplate=f"%{{customdata[0]}}<br>{MODEL_NAMES[model]}: %{{customdata[1]}} "
            "of conversions (%{customdata[2]} credited)<extra></extra>")
    row_px = max(24, _BAR_PX * len(models) + 12)
    fig.update_layout(
        barmode="group", bargap=0.2, bargroupgap=0.0, legend=_LEGEND,
        height=height or _TOP + 70 + row_px * len(names) + (24 if len(models) > 4 else 0),
        margin=dict(_MARGIN, t=_TOP + (24 if len(models) > 4 else 0)),
        xaxis=dict(title="Share of conversions credited", tickformat=".0%", rangemode="tozero"),
        yaxis=dict(tickvals=list(range(len(names))), ticktext=labels, automargin=True,
                   range=[len(names) - 0.5, -0.5], title=None, ticklabelstandoff=6))
    return fig


def _top_rows(shares: pd.DataFrame, rank_by: str, top: int) -> pd.DataFrame:
    """The ``top`` rows by ``rank_by`` (ties by name), the rest summed into "Other"."""
    order = sorted(range(len(shares)), key=lambda i: (-shares[rank_by].iloc[i],
                                                      shares.index[i]))
    kept = shares.iloc[order[:top]]
    rest = shares.iloc[order[top:]]
    if rest.empty:
        return kept
    return pd.concat([kept, rest.sum().to_frame(OTHER).T])


def completion_chart(c: Completion, *, height: int = 300) -> go.Figure:
    """Where converters start (rows) and finish (stacked segments): online or offline.

    Parameters
    ----------
    c : Completion
        :func:`analysis.touchpoints.completion.online_offline` output.
    height : int
        Figure height in pixels.

    Returns
    -------
    go.Figure
        One horizontal bar per start kind that occurs ("Started online", "Started offline",
        "Started unclassified"), its length the share of converters who started there, split
        into one trace per finish kind ("Finished online", ...; colours by kind), labelled
        with customers and share. The two cross-over shares are written above the plot.
        A Completion with no paths (status "empty" or no channel column) gives a note with
        its message.
    """
    if c.paths.empty or c.converters == 0:
        return empty_figure(_wrap(plain(c.message or "Nothing to draw: no customer converted."))
                            , height)
    starts = [k for k in KINDS if k in set(c.paths["start_kind"])]
    fig = go.Figure()
    for finish in KINDS:
        part = c.paths[c.paths["finish_kind"] == finish].set_index("start_kind")
        if part.empty:
            continue
        customers = [int(part["customers"].get(s, 0)) for s in starts]
        share = [float(part["share"].get(s, 0.0)) for s in starts]
        fig.add_bar(
            x=share, y=list(range(len(starts))), orientation="h",
            name=f"Finished {finish}", marker_color=KIND_COLORS[finish],
            text=[_segment_text(finish, n, s) for n, s in zip(customers, share, strict=True)],
            textposition="inside", insidetextanchor="middle", textfont=dict(color="#222"),
            customdata=list(zip([KIND_NAMES[s] for s in starts], customers,
                                [_pct(s) for s in share], strict=True)),
            hovertemplate=f"Started %{{customdata[0]}}, finished {finish}<br>"
            "%{customdata[1]:,} converters (%{customdata[2]} of all)<extra></extra>")
    fig.update_layout(
        barmode="stack", bargap=0.35, height=height, showlegend=True,
        legend=dict(_LEGEND, traceorder="normal"), uniformtext=dict(minsize=11, mode="show"),
        margin=dict(_MARGIN, t=_TOP + 26),
        xaxis=dict(title=f"Share of the {c.converters:,} converters", tickformat=".0%",
                   range=[0, 1]),
        yaxis=dict(tickvals=list(range(len(starts))), range=[len(starts) - 0.5, -0.5],
                   ticktext=[f"Started {s}" for s in starts], title=None, automargin=True,
                   ticklabelstandoff=6))
    fig.add_annotation(
        text=(f"Started online, finished offline: <b>{_pct(c.online_to_offline)}</b> · "
              f"Started offline, finished online: <b>{_pct(c.offline_to_online)}</b>"),
        x=0, xref="paper", y=1, yref="paper", yanchor="bottom", xanchor="left", yshift=30,
        showarrow=False, font=dict(size=13, color="#333"))
    return fig


def _segment_text(finish: str, customers: int, share: float) -> str:
    """A segment's label: its kind as well when the segment is wide enough to hold it."""
    if not customers:
        return ""
    count = f"{customers:,} ({_pct(share)})"
    return f"Finished {finish}: {count}" if share >= 0.3 else count


def channel_mix_chart(c: Completion, *, top: int = 12, height: int | None = None) -> go.Figure:
    """Per channel: the share of converters who finished on it and who used it before.

    Parameters
    ----------
    c : Completion
        :func:`analysis.touchpoints.completion.online_offline` output.
    top : int
        Channels shown, most used first (finish plus before); the rest are left out and a
        note says how many.
    height : int, optional
        Figure height in pixels; by default it grows with the channels.

    Returns
    -------
    go.Figure
        Horizontal grouped bars, two traces (:data:`FINISHED`, :data:`BEFORE`), x = share of
        converters, y ticked "channel (kind)". An empty Completion gives a note with its
        message.
    """
    if c.converters == 0 or (c.finish.empty and c.before.empty):
        return empty_figure(_wrap(plain(c.message or "Nothing to draw: no customer converted."))
                            , height or 300)
    finish = c.finish.set_index("channel")
    before = c.before.set_index("channel")
    kinds = pd.concat([finish["kind"], before["kind"]])
    kinds = kinds[~kinds.index.duplicated()]
    used = finish["customers"].reindex(kinds.index, fill_value=0) + before["customers"].reindex(
        kinds.index, fill_value=0)
    channels = sorted(kinds.index, key=lambda ch: (-used[ch], ch))
    shown = channels[:top]
    labels = short_labels([plain(ch) for ch in shown], LABEL_CHARS)
    fig = go.Figure()
    for name, table, color in ((FINISHED, finish, PALETTE[4]), (BEFORE, before, PALETTE[6])):
        share = table["share"].reindex(shown, fill_value=0.0).astype(float).tolist()
        customers = table["customers"].reindex(shown, fill_value=0).astype(int).tolist()
        fig.add_bar(
            x=share, y=list(range(len(shown))), orientation="h", name=name, marker_color=color,
            text=[_pct(s) for s in share], textposition="outside", cliponaxis=False,
            customdata=list(zip([plain(ch) for ch in shown],
                                [KIND_NAMES[kinds[ch]].lower() for ch in shown], customers,
                                [_pct(s) for s in share], strict=True)),
            hovertemplate=f"%{{customdata[0]}} (%{{customdata[1]}})<br>{name}: "
            "%{customdata[2]:,} converters (%{customdata[3]})<extra></extra>")
    left_out = len(channels) - len(shown)
    fig.update_layout(
        barmode="group", bargap=0.25, legend=_LEGEND,
        height=height or _TOP + 80 + 44 * len(shown) + (24 if left_out else 0),
        margin=dict(_MARGIN, t=_TOP, b=34 if left_out else 10),
        xaxis=dict(title="Share of converters", tickformat=".0%",
                   range=[0, min(1.0, max(finish["share"].max(), before["share"].max(),
                                          0.05) * 1.15)]),
        yaxis=dict(tickvals=list(range(len(shown))), range=[len(shown) - 0.5, -0.5],
                   ticktext=[f"{label} ({KIND_NAMES[kinds[ch]].lower()})"
                             for label, ch in zip(labels, shown, strict=True)],
                   automargin=True, title=None, ticklabelstandoff=6))
    if left_out:
        fig.add_annotation(text=f"{left_out} less used channel(s) are not shown.", x=0,
                           xref="paper", y=0, yref="paper", yshift=-44, xanchor="left",
                           yanchor="top", showarrow=False, font=dict(size=11, color="#666"))
    return fig


def reach_trend_chart(trend: pd.DataFrame, touchpoints: Sequence[str], *,
                      height: int = 380) -> go.Figure:
    """Reach of some touchpoints per period: lines, in % of the active customers.

    Parameters
    ----------
    trend : DataFrame
        One row per touchpoint × period: ``touchpoint``, ``period`` (period start),
        ``reach`` (share of that period's active customers who had the touchpoint, 0–1) and,
        for the hover when present, ``customers`` and ``active``.
    touchpoints : sequence of str
        The touchpoints to draw, in legend order; names absent from ``trend`` are skipped.
    height : int
        Figure height in pixels.

    Returns
    -------
    go.Figure
        One line with markers per touchpoint drawn, sorted by period; y in % from 0.
        Nothing to draw gives a note.
    """
    if isinstance(touchpoints, str):
        raise ParameterError(f"touchpoints must be a list, got the text {touchpoints!r}.",
                             f"Write [{touchpoints!r}].")
    if trend.empty or not touchpoints:
        return empty_figure("Nothing to draw: pick touchpoints that have data over time.",
                            height)
    require_columns(trend, TREND_COLUMNS, "reach_trend_chart",
                    "a table of reach per touchpoint and period")
    present = [t for t in dict.fromkeys(touchpoints) if (trend["touchpoint"] == t).any()]
    if not present:
        return empty_figure("Nothing to draw: none of these touchpoints has data over time.",
                            height)
    colors = group_colors(present)
    fig = go.Figure()
    for name in present:
        part = trend[trend["touchpoint"] == name].sort_values("period", kind="stable")
        reach = part["reach"].astype(float)
        fig.add_scatter(
            x=_naive(part["period"]).tolist(), y=reach.tolist(), mode="lines+markers",
            name=plain(name), line=dict(color=colors[name], width=2),
            marker=dict(color=colors[name], size=6),
            customdata=list(zip([plain(name)] * len(part), [_pct(r, 1) for r in reach],
                                _counts(part), strict=True)),
            hovertemplate="%{customdata[0]}, %{x|%Y-%m-%d}<br>Reach %{customdata[1]}"
            "%{customdata[2]}<extra></extra>")
    top = float(np.nanmax(trend.loc[trend["touchpoint"].isin(present), "reach"].astype(float)))
    fig.update_layout(
        height=height, legend=_LEGEND, margin=dict(_MARGIN, t=_TOP), hovermode="closest",
        showlegend=True,  # plotly hides the legend of a single line: it names the touchpoint
        xaxis=dict(title=None),
        yaxis=dict(title="Reach: share of active customers", tickformat=".0%",
                   range=[0, min(1.0, top * 1.1) if np.isfinite(top) and top > 0 else 1.0]))
    return fig


def _counts(part: pd.DataFrame) -> list[str]:
    """" (12 of 340 active customers)" per row when the counts are there."""
    if not {"customers", "active"} <= set(part.columns):
        return [""] * len(part)
    return [f" ({int(c):,} of {int(a):,} active customers)" if pd.notna(c) and pd.notna(a)
            else "" for c, a in zip(part["customers"], part["active"], strict=True)]


def _naive(stamps: pd.Series) -> pd.Series:
    """Timestamps without a time zone (UTC wall time): Plotly's date axes know no zones."""
    stamps = pd.to_datetime(stamps)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz else stamps


def _pct(share: float, digits: int = 0) -> str:
    """A share as a percentage; one that is not 0 never reads "0%"."""
    if share is None or not np.isfinite(share):
        return "–"
    if 0 < share < 0.5 / 10 ** (digits + 2):
        return f"<{1 / 10 ** digits:.{digits}f}%"
    return f"{share:.{digits}%}"


def _wrap(text: str, width: int = 70) -> str:
    """Long notes broken into lines (Plotly annotations do not wrap)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "<br>".join([*lines, line])
