"""Home for a feedback table: counts by category or touchpoint, score distributions, volume."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from analysis.figures.common import _OTHER_COLOR, PALETTE

_BAD, _MIDDLE, _GOOD, _PLAIN = "#CC6677", "#DDCC77", "#117733", "#6699CC"
#: (label, colour, lowest score, highest score) of the answer groups a scale's KPI counts.
_GROUPS: dict[str, tuple[tuple[str, str, float, float], ...]] = {
    "nps": (("Detractors (0–6)", _BAD, 0, 6), ("Passives (7–8)", _MIDDLE, 7, 8),
            ("Promoters (9–10)", _GOOD, 9, 10)),
    "csat": (("Not satisfied (1–3)", _BAD, 1, 3), ("Satisfied (4–5)", _GOOD, 4, 5)),
    "ces": (("Answers", _PLAIN, 1, 7),),
}
SCALE_TITLES = {"nps": "NPS (0–10)", "csat": "CSAT (1–5)", "ces": "CES (1–7)"}
_FOLDED = ("Other", "(none)")


def feedback_count_chart(counts: pd.DataFrame, column: str, *, label: str) -> go.Figure:
    """Horizontal bars of feedback per value of ``column``, in the table's order (largest
    first, "Other" and "(none)" last, in grey).

    ``counts`` is ``FeedbackSummary.categories`` or ``.touchpoints``; ``label`` names the
    column for people ("Category").
    """
    shown = counts.assign(
        text=[f"{n:,} ({s:.1%})" for n, s in zip(counts["feedback"], counts["share"],
                                                  strict=True)],
        color=[_OTHER_COLOR if v in _FOLDED else PALETTE[0] for v in counts[column]],
    )
    fig = go.Figure(go.Bar(
        x=shown["feedback"], y=shown[column].astype(str), orientation="h",
        marker_color=shown["color"], text=shown["text"], textposition="auto",
        customdata=shown["share"],
        hovertemplate=f"{label}: %{{y}}<br>Feedback: %{{x:,}}<br>"
                      "Share of all feedback: %{customdata:.1%}<extra></extra>",
    ))
    fig.update_layout(
        xaxis=dict(title="Feedback items", tickformat=","), yaxis_title=None,
        yaxis=dict(autorange="reversed", automargin=True),
        margin=dict(l=10, r=10, t=10, b=10), height=max(180, 34 * len(shown) + 60),
    )
    return fig


def score_distribution_chart(scores: pd.DataFrame, scale: str) -> go.Figure:
    """Bars of the share of answers at each score point of one scale, coloured by the groups
    its KPI counts (NPS: detractors, passives, promoters; CSAT: satisfied or not).

    ``scores`` is ``FeedbackSummary.scores``.
    """
    part = scores[scores["scale"] == scale]
    fig = go.Figure()
    for name, color, low, high in _GROUPS[scale]:
        rows = part[part["score"].between(low, high)]
        fig.add_bar(
            x=rows["score"], y=rows["share"], name=name, marker_color=color,
            customdata=rows["responses"],
            hovertemplate="Score %{x:g}: %{y:.1%} of answers (%{customdata:,})"
                          f"<extra>{name}</extra>",
        )
    fig.update_layout(
        xaxis=dict(title="Score", tickmode="linear", dtick=1),
        yaxis=dict(title="Share of answers", tickformat=".0%"),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        showlegend=len(_GROUPS[scale]) > 1, bargap=0.15,
        margin=dict(l=10, r=10, t=30, b=10), height=280,
    )
    return fig


def feedback_volume_chart(volume: pd.DataFrame, *, period: str) -> go.Figure:
    """Bars of feedback per day or week, stacked by category when ``volume`` has one.

    ``volume`` is ``FeedbackSummary.volume``; ``period`` its ``period`` ("day" or "week").
    """
    color = "category" if "category" in volume else None
    x_label = "Week starting (UTC)" if period == "week" else "Day (UTC)"
    named = sorted(g for g in volume[color].unique() if g not in _FOLDED) if color else []
    folded = [g for g in _FOLDED if color and g in set(volume[color])]
    colors = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(named)}
    colors |= {g: _OTHER_COLOR for g in folded}
    fig = px.bar(
        volume, x="period_start", y="feedback", color=color,
        color_discrete_map=colors or None,
        color_discrete_sequence=PALETTE,
        category_orders={"category": named + folded} if color else None,
        labels={"period_start": x_label, "feedback": "Feedback items", "category": "Category"},
    )
    fig.update_layout(
        barmode="stack", bargap=0.1, margin=dict(l=10, r=10, t=10, b=10), height=320,
        hovermode="x unified", yaxis_tickformat=",",
    )
    fig.update_xaxes(dtick=86_400_000 if period == "day" and len(volume) <= 62 else None)
    return fig
