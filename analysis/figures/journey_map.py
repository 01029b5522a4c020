"""The journey map: a grid of stages by touchpoints with the emotion curve under it.

Stages, touchpoints, channels and pain-point labels are user text: they pass through
:func:`plain` before they reach a label or hover, so ``<b>x</b> & =1+1`` reads as typed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from analysis.figures.labels import duration_text, plain, shorten
from analysis.figures.survival import empty_figure
from analysis.review_pack import review_pack
from analysis.touchpoints.journey_map import JourneyMap

#: Diverging red–grey–green for mean sentiment −1..1, pale enough for dark text on it.
SENTIMENT_SCALE = [[0.0, "#E07868"], [0.5, "#E3E3E3"], [1.0, "#7CC488"]]
NO_FEEDBACK_COLOR = "#F7F7F7"
PAIN_COLOR = "#C0392B"
#: A mean sentiment beyond ±this reads as positive (▲) or negative (▼); between, neutral (●).
MOOD_CUT = 0.2
ROW_PX = 66          # pixels per touchpoint row
HEADER_ROWS = 0.55   # a channel's heading, in rows
CURVE_PX = 210       # the emotion curve
TOP_PX = 134         # title and stage headings
LABEL_CHARS = 26
_FONT = dict(size=11, color="#222")
_NOTE_FONT = dict(size=11, color="#444")


@dataclass
class _Rows:
    """Where each touchpoint's row lies (its centre) and each channel's heading."""

    y: dict[str, float] = field(default_factory=dict)
    headings: list[tuple[str, float]] = field(default_factory=list)
    bottom: float = 0.0


def journey_map_chart(jm: JourneyMap, *, title: str | None = None) -> go.Figure:
    """The journey map of one group: cells by stage and touchpoint, the emotion curve below.

    Parameters
    ----------
    jm : JourneyMap
        ``touchpoints.journey_map(...)``.
    title : str, optional
        The figure title; None names the map after its segment ("Journey map: Loyalist").

    Returns
    -------
    go.Figure
        Top panel: one column per stage (headed by its customers, share moving on and median
        time in stage), one row per touchpoint grouped under its channel (the channel where
        it is touched most). Each cell with customers or touches is a box coloured by mean
        sentiment (grey-white without feedback) reading customers who entered there, "→
        next: 45%", the median time in stage and ▲/●/▼ with the mean sentiment. Pinned pain
        points have a red outline and a numbered badge, listed under the chart. Bottom panel
        (same x): the emotion curve, each stage's mean sentiment on −1..1 around a 0 line.
        An empty map gives a figure that says why and what to do.
    """
    if jm.cells.empty:
        return _empty(jm)
    rows = _row_layout([jm.cells])
    fig = _frame([jm], rows, [None], title if title is not None else _title(jm))
    _draw(fig, jm, rows, col=1)
    _add_notes(fig, [(jm, "")])
    return fig


def journey_map_pair(left: JourneyMap, right: JourneyMap, *,
                     labels: tuple[str, str]) -> go.Figure:
    """Two journey maps side by side on the same stage columns and touchpoint rows.

    Parameters
    ----------
    left, right : JourneyMap
        Maps of two personas or segments (from the same data, so their stages match).
    labels : (str, str)
        The two groups' names, shown over their maps and before their pain points.

    Returns
    -------
    go.Figure
        Two columns, each as in :func:`journey_map_chart`, sharing the touchpoint rows
        (the union of both maps'); a map with nothing to show says so over its column.
    """
    maps = [left, right]
    if all(m.cells.empty for m in maps):
        return _empty(left if left.message else right)
    rows = _row_layout([m.cells for m in maps])
    fig = _frame(maps, rows, list(labels), "Journey maps: " + " vs ".join(map(str, labels)))
    for col, jm in enumerate(maps, start=1):
        _draw(fig, jm, rows, col=col, compact=True)
        if jm.cells.empty:
            fig.add_annotation(text=plain(jm.message or "Nothing to show."), row=1, col=col,
                               x=0, y=0.5, xref="x domain", yref="y domain",
                               showarrow=False, font=_NOTE_FONT)
    _add_notes(fig, list(zip(maps, labels, strict=True)))
    return fig


def figure_png(fig: go.Figure, *, width: int = 1600, height: int | None = None,
               scale: float = 1) -> bytes:
    """The figure as PNG bytes, drawn by kaleido (it finds the system's Chromium itself).

    ``height`` None takes the figure's own height (700 px when it sets none).
    """
    height = height or fig.layout.height or 700
    return fig.to_image(format="png", width=width, height=int(height), scale=scale)


def figure_html(fig: go.Figure, *, title: str) -> str:
    """A self-contained HTML page holding the figure: Plotly.js inlined, no network loads,
    the title escaped (written by :func:`analysis.review_pack.review_pack`)."""
    return review_pack(title, figures=[("", fig)])


def _title(jm: JourneyMap) -> str:
    return "Journey map" + (f": {jm.segment}" if jm.segment else ": all customers")


def _empty(jm: JourneyMap) -> go.Figure:
    reason = jm.message or "There are no events to map."
    return empty_figure(plain(f"Nothing to draw. {reason} Pick another persona or segment, "
                              "or widen the filters."), 420)


def _row_layout(tables: list[pd.DataFrame]) -> _Rows:
    """Touchpoints grouped by their main channel; groups and rows in journey order."""
    cells = pd.concat([t for t in tables if not t.empty], ignore_index=True)
    cells = cells.assign(_size=cells["customers"] + cells["touched"])
    main = (cells.groupby(["touchpoint", "channel"])["touched"].sum().reset_index()
            .sort_values(["touched", "channel"], ascending=[False, True])
            .drop_duplicates("touchpoint").set_index("touchpoint")["channel"])
    per = cells.groupby("touchpoint").agg(first=("stage_index", "min"), size=("_size", "sum"))
    per["channel"] = main
    groups = per.groupby("channel").agg(first=("first", "min"), size=("size", "sum"))
    rows, y = _Rows(), 0.0
    for channel in groups.sort_values(["first", "size"], ascending=[True, False]).index:
        rows.headings.append((str(channel), y + HEADER_ROWS / 2))
        y += HEADER_ROWS
        mine = per[per["channel"] == channel].reset_index()
        for touchpoint in mine.sort_values(["first", "size", "touchpoint"],
                                           ascending=[True, False, True])["touchpoint"]:
            rows.y[str(touchpoint)] = y + 0.5
            y += 1.0
    rows.bottom = y
    return rows


def _frame(maps: list[JourneyMap], rows: _Rows, labels: list[str | None],
           title: str) -> go.Figure:
    """Subplots (grid over curve per map) with stage headings, rows and the colour bar."""
    grid_px = rows.bottom * ROW_PX
    fig = make_subplots(rows=2, cols=len(maps), shared_xaxes=True, shared_yaxes=True,
                        row_heights=[grid_px, CURVE_PX], horizontal_spacing=0.03,
                        vertical_spacing=70 / (grid_px + CURVE_PX + 70))
    for col, jm in enumerate(maps, start=1):
        n = max(len(jm.stage_order), 1)
        if labels[col - 1] is not None:
            fig.add_annotation(text=f"<b>{plain(labels[col - 1])}</b>", x=0.5, y=1, yshift=72,
                               xref="x domain", yref="y domain", yanchor="bottom",
                               showarrow=False, font=dict(size=15), row=1, col=col)
        _add_shapes(fig, [dict(type="line", x0=i + 0.5, x1=i + 0.5, y0=0, y1=rows.bottom,
                               line=dict(color="#EEE", width=1), layer="below")
                          for i in range(n - 1)], row=1, col=col)
        fig.update_xaxes(range=[-0.5, n - 0.5], showgrid=False, zeroline=False, col=col)
        fig.update_xaxes(side="top", showticklabels=True, tickvals=list(range(n)),
                         ticktext=_stage_headings(jm, compact=len(maps) > 1),
                         tickfont=dict(size=11), tickangle=0, row=1, col=col)
        fig.update_xaxes(tickvals=list(range(n)), tickfont=dict(size=11), row=2, col=col,
                         tickangle=0 if len(maps) == 1 else -35,
                         ticktext=[plain(shorten(s, 24)) for s in jm.stage_order])
        for channel, y in rows.headings:
            fig.add_annotation(text=f"<b>{plain(channel.upper())}</b>", x=-0.49, y=y,
                               xanchor="left", showarrow=False, row=1, col=col,
                               font=dict(size=10, color="#777"))
        _add_shapes(fig, [dict(type="line", x0=-0.5, x1=n - 0.5, y0=y - HEADER_ROWS / 2,
                               y1=y - HEADER_ROWS / 2, line=dict(color="#CCC", width=1))
                          for _, y in rows.headings], row=1, col=col)
    names = sorted(rows.y, key=rows.y.get)
    fig.update_yaxes(range=[rows.bottom, 0], tickvals=[rows.y[t] for t in names],
                     ticktext=[plain(shorten(t, LABEL_CHARS)) for t in names],
                     showgrid=False, zeroline=False, row=1)
    fig.update_yaxes(range=[-1.1, 1.1], tickvals=[-1, -0.5, 0, 0.5, 1], zeroline=False,
                     showgrid=True, gridcolor="#EEE", row=2)
    fig.update_yaxes(title_text="Emotion (mean sentiment)", row=2, col=1)
    fig.add_scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                    marker=dict(color=[0], colorscale=SENTIMENT_SCALE, cmin=-1, cmax=1,
                                showscale=True, colorbar=dict(
                                    title="Mean<br>sentiment", thickness=12, len=240,
                                    lenmode="pixels",
                                    y=1, yanchor="top", tickvals=[-1, 0, 1],
                                    ticktext=["−1 negative", "0", "+1 positive"])),
                    row=1, col=len(maps))
    fig.update_layout(title=dict(text=plain(title), x=0.01, y=0.995, yanchor="top"),
                      height=int(TOP_PX + grid_px + 70 + CURVE_PX + 60),
                      margin=dict(l=10, r=10, t=TOP_PX, b=60), showlegend=False,
                      plot_bgcolor="#FFFFFF", hovermode="closest", font=dict(size=12))
    if any(m.from_steps for m in maps):
        fig.add_annotation(text=plain(maps[0].message), x=0, y=1, xref="paper",
                           yref="paper", yshift=TOP_PX - 40, xanchor="left",
                           showarrow=False, font=_NOTE_FONT)
    return fig


def _add_shapes(fig: go.Figure, shapes: list[dict], *, row: int, col: int) -> None:
    """``shapes`` on the subplot at ``row``, ``col``, set at once: plotly's ``add_shape``
    copies every shape already there, so a map's hundred boxes one by one cost seconds."""
    subplot = fig.get_subplot(row, col)
    refs = {"xref": subplot.xaxis.plotly_name.replace("axis", ""),
            "yref": subplot.yaxis.plotly_name.replace("axis", "")}
    fig.update_layout(shapes=[*fig.layout.shapes, *({**s, **refs} for s in shapes)])


def _stage_headings(jm: JourneyMap, *, compact: bool = False) -> list[str]:
    """Stage name, customers, share moving on and time in stage (two maps side by side:
    name, customers and share only, in less width)."""
    out = []
    for row in jm.stages.itertuples(index=False):
        share = row.next_stage_share
        nxt = f"→ next {share:.0%}" if not _missing(share) else "(last stage)"
        time = (f"{duration_text(row.median_seconds_in_stage)} in stage" if row.customers
                else "no customers")
        name = plain(shorten(str(row.stage), 12 if compact else 24))
        out.append(f"<b>{name}</b><br>{row.customers:,}<br>{nxt.replace('next ', '')}"
                   if compact else f"<b>{name}</b><br>{row.customers:,} customers<br>{nxt}"
                   f"<br>{time}")
    return out


def _draw(fig: go.Figure, jm: JourneyMap, rows: _Rows, *, col: int,
          compact: bool = False) -> None:
    """The cells of one map (boxes, texts, hovers, badges) and its emotion curve."""
    cells = jm.cells.reset_index(drop=True)
    if cells.empty:
        return
    x = cells["stage_index"].to_numpy(dtype=float)
    y = np.array([rows.y[str(t)] for t in cells["touchpoint"]])
    _add_shapes(fig, [dict(type="rect", x0=xi - 0.46, x1=xi + 0.46, y0=yi - 0.44,
                           y1=yi + 0.44, fillcolor=_color(mood), layer="below",
                           line=dict(color=PAIN_COLOR, width=3) if not _missing(pinned)
                           else dict(color="#B5B5B5", width=1))
                      for xi, yi, mood, pinned in zip(x, y, cells["mean_sentiment"],
                                                      cells["pain_rank"], strict=True)],
                row=1, col=col)
    fig.add_scatter(x=x, y=y, mode="markers+text", text=[_cell_text(c, compact=compact)
                                                         for c in cells.itertuples(index=False)],
                    textfont=_FONT, showlegend=False, row=1, col=col,
                    marker=dict(symbol="square", size=40, opacity=0),
                    customdata=[[_hover(c)] for c in cells.itertuples(index=False)],
                    hovertemplate="%{customdata[0]}<extra></extra>")
    pinned = cells[cells["pain_rank"].notna()]
    if len(pinned):
        fig.add_scatter(x=x[pinned.index] + 0.40, y=y[pinned.index] - 0.32,
                        mode="markers+text", showlegend=False, row=1, col=col,
                        text=[f"<b>{int(r)}</b>" for r in pinned["pain_rank"]],
                        textfont=dict(size=11, color="#FFFFFF"), hoverinfo="skip",
                        marker=dict(size=19, color=PAIN_COLOR, line=dict(color="#FFF", width=1)))
    _draw_curve(fig, jm, col)


def _cell_text(c: object, *, compact: bool = False) -> str:
    """Customers, share moving on, time in stage and mood; side by side (``compact``) the
    time is left to the hover, and the words to the caption."""
    if compact:
        lines = [f"<b>{c.customers:,}</b>" if c.customers else f"({c.touched:,})"]
        if c.customers and not _missing(c.next_stage_share):
            lines.append(f"→ {c.next_stage_share:.0%}")
        if not _missing(c.mean_sentiment):
            lines.append(f"{_glyph(c.mean_sentiment)} {_signed(c.mean_sentiment)}")
        return "<br>".join(lines)
    lines = [f"<b>{c.customers:,}</b> entered" if c.customers else f"{c.touched:,} touched"]
    if c.customers and not _missing(c.next_stage_share):
        lines.append(f"→ next: {c.next_stage_share:.0%}")
    if c.customers:
        lines.append(f"{duration_text(c.median_seconds_in_stage)} in stage")
    lines.append(f"{_glyph(c.mean_sentiment)} {_signed(c.mean_sentiment)}"
                 if not _missing(c.mean_sentiment) else "no feedback")
    return "<br>".join(lines)


def _hover(c: object) -> str:
    lines = [f"<b>{plain(c.touchpoint)}</b> ({plain(c.channel)}) in {plain(c.stage)}",
             f"Entered the stage here: {c.customers:,} customers",
             f"Touched it in the stage: {c.touched:,} customers"]
    if not _missing(c.next_stage_share):
        lines.append(f"Went on to the next stage: {c.next_stage_share:.1%}")
    lines.append(f"Median time in stage: {duration_text(c.median_seconds_in_stage)}")
    if c.feedback:
        negative = "–" if _missing(c.negative_share) else f"{c.negative_share:.0%}"
        lines.append(f"Feedback: {c.feedback:,} (mean sentiment {_signed(c.mean_sentiment)}, "
                     f"{negative} negative)")
    if c.pain_point:
        lines.append(f"Pain point {int(c.pain_rank)}: {plain(c.pain_point)}")
    return "<br>".join(lines)


def _draw_curve(fig: go.Figure, jm: JourneyMap, col: int) -> None:
    """Each stage's mean sentiment as a line with markers; stages without feedback say so."""
    stages = jm.stages
    known = stages[stages["mean_sentiment"].notna()]
    fig.add_shape(type="line", x0=-0.5, x1=len(stages) - 0.5, y0=0, y1=0, row=2, col=col,
                  line=dict(color="#888", width=1, dash="dot"))
    fig.add_scatter(
        x=known["stage_index"].tolist(), y=known["mean_sentiment"].tolist(),
        mode="lines+markers+text", showlegend=False, row=2, col=col,
        text=[f"{_glyph(v)} {_signed(v)}" for v in known["mean_sentiment"]],
        textposition="top center", textfont=_FONT, line=dict(color="#555", width=2),
        marker=dict(size=12, color=known["mean_sentiment"].tolist(), cmin=-1, cmax=1,
                    colorscale=SENTIMENT_SCALE, line=dict(color="#555", width=1)),
        customdata=[[plain(s), f"{n:,}", "–" if _missing(v) else f"{v:.0%}"]
                    for s, n, v in known[["stage", "feedback", "negative_share"]]
                    .itertuples(index=False)],
        hovertemplate="%{customdata[0]}: mean sentiment %{y:+.2f}<br>%{customdata[1]} "
        "feedback, %{customdata[2]} negative<extra></extra>")
    silent = stages[stages["mean_sentiment"].isna()]
    if len(silent):
        fig.add_scatter(x=silent["stage_index"].tolist(), y=[0] * len(silent), mode="text",
                        text=["no feedback"] * len(silent), textposition="top center",
                        textfont=dict(size=10, color="#999"), hoverinfo="skip",
                        showlegend=False, row=2, col=col)


def _add_notes(fig: go.Figure, maps: list[tuple[JourneyMap, str]]) -> None:
    """The numbered pain points under the chart, one line each."""
    lines = []
    for jm, label in maps:
        pinned = jm.cells[jm.cells["pain_rank"].notna()]
        for rank, part in pinned.groupby("pain_rank", sort=True):
            first = part.iloc[0]
            where = ", ".join(dict.fromkeys(plain(s) for s in part["stage"]))
            prefix = f"{plain(label)} " if label else ""
            lines.append(f"{prefix}<b><span style='color:{PAIN_COLOR}'>{int(rank)}</span></b> "
                         f"{plain(first['touchpoint'])} ({where}): {plain(first['pain_point'])}")
    if not lines:
        return
    fig.add_annotation(text="<b>Pain points</b><br>" + "<br>".join(lines), x=0, y=0,
                       xref="paper", yref="paper", yshift=-45, xanchor="left", yanchor="top",
                       align="left", showarrow=False, font=_NOTE_FONT)
    extra = 30 + 16 * len(lines)
    fig.update_layout(height=fig.layout.height + extra, margin=dict(b=60 + extra))


def _color(mood: float) -> str:
    if _missing(mood):
        return NO_FEEDBACK_COLOR
    return sample_colorscale(SENTIMENT_SCALE, [(min(max(float(mood), -1), 1) + 1) / 2])[0]


def _glyph(mood: float) -> str:
    return "▲" if mood >= MOOD_CUT else "▼" if mood <= -MOOD_CUT else "●"


def _signed(value: float) -> str:
    return "–" if _missing(value) else f"{value:+.2f}".replace("-", "−")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
