"""Paths: the Sankey diagram and transition heatmaps."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.figures.common import node_colors, rgba


def sankey_chart(links: pd.DataFrame, *, height: int = 560) -> go.Figure:
    """A Sankey diagram of :func:`analysis.paths.sankey_links`: one column per step.

    Node labels are the step names; hovering shows customers and their share of the journeys
    at that step. Journeys that end show as "(end)" in the next column.
    """
    if links.empty:
        return go.Figure().update_layout(height=height)
    last = int(links["step"].max()) + 1
    nodes = _sankey_nodes(links, last)
    index = {(p, n): i for i, (p, n) in enumerate(zip(nodes["position"], nodes["node"],
                                                        strict=True))}
    colors = node_colors(nodes["node"].tolist())
    link_share = links["customers"] / links.groupby("step")["customers"].transform("sum")
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node=dict(
                label=nodes["node"].tolist(),
                x=nodes["x"].tolist(),
                y=nodes["y"].tolist(),
                pad=12,
                thickness=14,
                color=[colors[n] for n in nodes["node"]],
                customdata=list(zip(nodes["position"], nodes["share"], strict=True)),
                hovertemplate="Step %{customdata[0]}: %{label}<br>%{value:,} customers "
                "(%{customdata[1]:.1%} of journeys at this step)<extra></extra>",
            ),
            link=dict(
                source=[index[(s, n)] for s, n in zip(links["step"], links["source"],
                                                       strict=True)],
                target=[index[(s + 1, n)] for s, n in zip(links["step"], links["target"],
                                                           strict=True)],
                value=links["customers"].tolist(),
                color=[rgba(colors[n], 0.35) for n in links["source"]],
                customdata=list(zip(links["step"], link_share, strict=True)),
                hovertemplate="Step %{customdata[0]}: %{source.label} → %{target.label}<br>"
                "%{value:,} customers (%{customdata[1]:.1%} of journeys at this step)"
                "<extra></extra>",
            ),
        )
    )
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), font_size=12)
    for position in range(1, last + 1):
        fig.add_annotation(
            x=(position - 1) / max(last - 1, 1), y=1.06, xref="paper", yref="paper",
            text=f"Step {position}", showarrow=False, font=dict(size=11, color="#666"),
        )
    return fig


def _sankey_nodes(links: pd.DataFrame, last: int) -> pd.DataFrame:
    """One row per (position, node) with its customers, share of the step and x/y place."""
    sides = pd.concat(
        [
            links.rename(columns={"source": "node"}).assign(position=links["step"]),
            links.rename(columns={"target": "node"}).assign(position=links["step"] + 1),
        ]
    )
    inflow = links.assign(position=links["step"] + 1).groupby(["position", "target"])[
        "customers"].sum()
    outflow = links.groupby(["step", "source"])["customers"].sum()
    nodes = sides[["position", "node"]].drop_duplicates().reset_index(drop=True)
    nodes["customers"] = [
        int(outflow.get((p, n), 0) or inflow.get((p, n), 0)) for p, n in
        zip(nodes["position"], nodes["node"], strict=True)
    ]
    nodes = nodes.sort_values(["position", "customers"], ascending=[True, False])
    nodes = nodes.reset_index(drop=True)
    totals = nodes.groupby("position")["customers"].transform("sum")
    nodes["share"] = nodes["customers"] / totals
    cum = nodes.groupby("position")["share"].cumsum()
    nodes["y"] = (cum - nodes["share"] / 2).clip(0.01, 0.99)
    nodes["x"] = ((nodes["position"] - 1) / max(last - 1, 1)).clip(0.001, 0.999)
    return nodes


def transition_heatmap(
    matrix: pd.DataFrame,
    *,
    source_col: str = "source",
    target_col: str = "target",
    max_nodes: int = 15,
    height: int = 520,
) -> go.Figure:
    """Rows: from; columns: to; colour: share of the row's moves; text: number of moves.

    Shows the ``max_nodes`` nodes with most moves; hover adds the median time between steps
    when the matrix has it.
    """
    if matrix.empty:
        return go.Figure().update_layout(height=height)
    volume = (
        matrix.groupby(source_col)["transitions"].sum()
        .add(matrix.groupby(target_col)["transitions"].sum(), fill_value=0)
        .sort_values(ascending=False)
    )
    keep = volume.index[:max_nodes].tolist()
    shown = matrix[matrix[source_col].isin(keep) & matrix[target_col].isin(keep)]
    share = shown.pivot(index=source_col, columns=target_col, values="share_of_row")
    share = share.reindex(index=keep, columns=keep)
    count = shown.pivot(index=source_col, columns=target_col, values="transitions")
    count = count.reindex(index=keep, columns=keep)
    hover = "From %{y}<br>to %{x}<br>%{z:.1%} of moves from %{y}<br>%{text} moves"
    custom = None
    if "median_seconds" in shown:
        median = shown.pivot(index=source_col, columns=target_col, values="median_seconds")
        custom = (median.reindex(index=keep, columns=keep) / 3600).round(1).to_numpy()
        hover += "<br>median time between: %{customdata} h"
    text = count.map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    fig = go.Figure(
        go.Heatmap(
            z=share.to_numpy(), x=keep, y=keep, text=text.to_numpy(), texttemplate="%{text}",
            customdata=custom, colorscale="Blues", zmin=0, zmax=1,
            colorbar=dict(title="Share of row", tickformat=".0%"),
            hovertemplate=hover + "<extra></extra>", xgap=1, ygap=1,
        )
    )
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(title="To", side="bottom", tickangle=-35),
        yaxis=dict(title="From", autorange="reversed"),
    )
    return fig
