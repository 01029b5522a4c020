"""Paths: the Sankey diagram, transition heatmaps and the comparison of two groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.figures.common import PALETTE, node_colors, rgba
from analysis.figures.labels import duration_text, plain, points_text, ratio_text, short_labels

END, OTHER = "(end)", "Other"
LABEL_FONT = 12
NODE_PAD = 18  # pixels between the nodes of a column: more than a line of label text
NODE_THICKNESS = 14
FLOW_HEIGHT = 380  # pixels the bands of the busiest column share, besides the gaps
# A glyph's mean width, with room to spare: Streamlit's Source Sans measures about 0.5 em.
CHAR_WIDTH = 0.55 * LABEL_FONT
PLOT_WIDTH = 800  # the plot width labels are budgeted for: a laptop screen in wide layout
SANKEY_MARGIN = dict(l=24, r=24, t=40, b=28)


def sankey_chart(
    links: pd.DataFrame, *, width: int = PLOT_WIDTH, height: int | None = None
) -> go.Figure:
    """A Sankey diagram of :func:`analysis.paths.sankey_links`: one column per step.

    The height (``fig.layout.height``, at least ``height`` when given) grows with the busiest
    column, and nodes of a column are at least a label line apart, so small nodes keep a
    readable label. Labels longer than the room between columns (budgeted for a plot ``width``
    pixels wide) end with an ellipsis; the hover shows the full name, customers and their share
    of the journeys at that step. The last column's labels sit left of its nodes, so the last
    gap is twice as wide. Journeys that end show as "(end)" at the bottom of the next column.
    """
    if links.empty:
        return go.Figure().update_layout(height=height or 400)
    last = int(links["step"].max()) + 1
    nodes = _sankey_nodes(links, last)
    plot_height = sankey_plot_height(nodes)
    if height is not None:
        plot_height = max(plot_height, height - SANKEY_MARGIN["t"] - SANKEY_MARGIN["b"])
    nodes = _place_nodes(nodes, last, plot_height, width)
    index = {(p, n): i for i, (p, n) in enumerate(zip(nodes["position"], nodes["node"],
                                                        strict=True))}
    colors = node_colors(nodes["node"].tolist())
    names = [plain(n) for n in nodes["node"]]
    labels = [plain(s) for s in short_labels(nodes["node"].tolist(), label_chars(last, width))]
    link_share = links["customers"] / links.groupby("step")["customers"].transform("sum")
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        textfont=dict(size=LABEL_FONT),
        node=dict(
            label=labels, x=nodes["x"].tolist(), y=nodes["y"].tolist(), align="left",
            pad=NODE_PAD, thickness=NODE_THICKNESS,
            color=[colors[n] for n in nodes["node"]],
            customdata=list(zip(nodes["position"], nodes["share"], names, strict=True)),
            hovertemplate="Step %{customdata[0]}: %{customdata[2]}<br>%{value:,} customers "
            "(%{customdata[1]:.1%} of journeys at this step)<extra></extra>",
        ),
        link=dict(
            source=[index[(s, n)] for s, n in zip(links["step"], links["source"], strict=True)],
            target=[index[(s + 1, n)] for s, n in zip(links["step"], links["target"],
                                                       strict=True)],
            value=links["customers"].tolist(),
            color=[rgba(colors[n], 0.35) for n in links["source"]],
            customdata=list(zip(links["step"], link_share, links["source"].map(plain),
                                links["target"].map(plain), strict=True)),
            hovertemplate="Step %{customdata[0]}: %{customdata[2]} → %{customdata[3]}<br>"
            "%{value:,} customers (%{customdata[1]:.1%} of journeys at this step)"
            "<extra></extra>",
        ),
    ))
    fig.update_layout(height=int(plot_height + SANKEY_MARGIN["t"] + SANKEY_MARGIN["b"]),
                      margin=SANKEY_MARGIN, font_size=LABEL_FONT)
    columns = nodes.drop_duplicates("position")
    for position, x in zip(columns["position"], columns["x"], strict=True):
        anchor = "left" if position == 1 else "right" if position == last else "center"
        fig.add_annotation(x=x, y=1, xref="paper", yref="paper", yanchor="bottom", yshift=10,
                           xanchor=anchor, text=f"Step {position}", showarrow=False,
                           font=dict(size=11, color="#666"))
    return fig


def sankey_plot_height(nodes: pd.DataFrame) -> int:
    """Pixels inside the margins: the bands' share plus a node gap per extra node in the
    busiest column (``nodes``: one row per drawn node, with its ``position``)."""
    busiest = int(nodes.groupby("position").size().max())
    return FLOW_HEIGHT + (busiest - 1) * NODE_PAD


def label_chars(columns: int, width: int = PLOT_WIDTH) -> int:
    """The longest label (in characters) that fits between two of ``columns`` columns."""
    unit = (width - NODE_THICKNESS) / columns
    return max(4, int((unit - NODE_THICKNESS - 12) // CHAR_WIDTH))


def _sankey_nodes(links: pd.DataFrame, last: int) -> pd.DataFrame:
    """One row per (position, node) with its customers and share of the step, in drawing order:
    by customers, then "Other", then "(end)" at the bottom."""
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
    nodes["_last"] = nodes["node"].map({OTHER: 1, END: 2}).fillna(0)
    nodes = nodes.sort_values(["position", "_last", "customers", "node"],
                              ascending=[True, True, False, True])
    nodes = nodes.drop(columns="_last").reset_index(drop=True)
    nodes["share"] = nodes["customers"] / nodes.groupby("position")["customers"].transform("sum")
    return nodes


def _place_nodes(nodes: pd.DataFrame, last: int, plot_height: float, width: int) -> pd.DataFrame:
    """x and y (node centres, as fractions of the plot) that Plotly keeps as they are.

    Node heights follow Plotly's own scale (d3-sankey's: the busiest column fills the height
    with ``NODE_PAD`` between nodes); each column is stacked top-down with at least that gap,
    its spare height spread evenly around the nodes, so no node is pushed out of the plot.
    """
    by = nodes.groupby("position")["customers"]
    count = by.transform("size")
    scale = ((plot_height - (count - 1) * NODE_PAD) / by.transform("sum")).min()
    heights = nodes["customers"] * scale
    rank = nodes.groupby("position").cumcount()
    above = heights.groupby(nodes["position"]).cumsum() - heights
    spare = plot_height - heights.groupby(nodes["position"]).transform("sum") - (
        count - 1) * NODE_PAD
    top = spare / (count + 1) * (rank + 1) + NODE_PAD * rank + above
    inset = NODE_THICKNESS / 2 / width
    units = np.where(nodes["position"] == last, last, nodes["position"] - 1)
    return nodes.assign(
        x=inset + units / last * (1 - 2 * inset),
        y=((top + heights / 2) / plot_height).clip(1e-4, 1),
    )


def transition_heatmap(
    matrix: pd.DataFrame,
    *,
    source_col: str = "source",
    target_col: str = "target",
    max_nodes: int = 15,
    height: int = 520,
) -> go.Figure:
    """Rows: from; columns: to; colour: share of the row's moves; text: number of moves.

    Shows the ``max_nodes`` nodes with most moves, long names shortened on the axes (full in
    the hover); hover adds the median time between steps (45 s, 12 min, 3.5 h, 2.1 days) when
    the matrix has it.
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

    def grid(values: str) -> pd.DataFrame:
        wide = shown.pivot(index=source_col, columns=target_col, values=values)
        return wide.reindex(index=keep, columns=keep)

    count = grid("transitions").map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    median = (grid("median_seconds").map(duration_text) if "median_seconds" in shown
              else count.map(lambda _: ""))
    names = [plain(n) for n in keep]
    custom = np.dstack([np.array([[n] * len(keep) for n in names], dtype=object),
                        np.array([names] * len(keep), dtype=object),
                        count.to_numpy(dtype=object), median.to_numpy(dtype=object)])
    hover = ("From %{customdata[0]}<br>to %{customdata[1]}<br>%{z:.1%} of moves from "
             "%{customdata[0]}<br>%{customdata[2]} moves")
    if "median_seconds" in shown:
        hover += "<br>median time between: %{customdata[3]}"
    ticks = dict(tickmode="array", tickvals=list(range(len(keep))),
                 ticktext=[plain(s) for s in short_labels(keep, 28)])
    fig = go.Figure(go.Heatmap(
        z=grid("share_of_row").to_numpy(), x=list(range(len(keep))), y=list(range(len(keep))),
        text=count.to_numpy(), texttemplate="%{text}", customdata=custom,
        colorscale="Blues", zmin=0, zmax=1, hoverongaps=False, xgap=1, ygap=1,
        colorbar=dict(title="Share of row", tickformat=".0%"),
        hovertemplate=hover + "<extra></extra>",
    ))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(title="To", side="bottom", tickangle=-35, **ticks),
        yaxis=dict(title="From", autorange="reversed", **ticks),
    )
    return fig


def transition_difference_chart(
    table: pd.DataFrame, *, groups: tuple[str, str] = ("A", "B"), limit: int = 15,
) -> go.Figure:
    """The transitions whose share of customers differs most between two groups.

    ``table`` is :func:`analysis.paths.compare_transitions`' table. Bars are share A − share B
    in percentage points for the ``limit`` tested transitions with the largest differences;
    solid when significant, pale when not. Hover: both shares, the lift (A ÷ B; "new" when no
    customer of B makes the move) and the adjusted p-value.
    """
    tested = table[table["p_value"].notna()] if table["p_value"].notna().any() else table
    rows = tested.assign(_abs=tested["difference"].abs()).nlargest(limit, "_abs")
    rows = rows.sort_values("difference", ascending=False).reset_index(drop=True)
    height = 90 + 26 * max(len(rows), 3)
    if rows.empty:
        return go.Figure().update_layout(height=height)
    moves = [f"{s} → {t}" for s, t in zip(rows["source"], rows["target"], strict=True)]
    solid = [PALETTE[0] if d >= 0 else PALETTE[1] for d in rows["difference"]]
    colors = [c if sig else rgba(c, 0.35) for c, sig in zip(solid, rows["significant"],
                                                              strict=True)]
    p_text = [("not tested" if pd.isna(p) else f"{p:.2g}") for p in rows["p_adjusted"]]
    a, b = (plain(g) for g in short_labels(list(groups), 24))
    points = rows["difference"].fillna(0) * 100
    low, high = min(points.min(), 0.0), max(points.max(), 0.0)
    room = max(high - low, 1.0) * 0.16  # the "+3.2 pp" texts sit outside the bars
    fig = go.Figure(go.Bar(
        x=points.tolist(), y=list(range(len(rows))), orientation="h",
        marker_color=colors, text=[points_text(d) for d in rows["difference"]],
        textposition="outside", cliponaxis=False,
        customdata=list(zip([plain(m) for m in moves], rows["share_a"], rows["share_b"],
                            [ratio_text(v) for v in rows["lift"]], p_text, strict=True)),
        hovertemplate="%{customdata[0]}<br>" + f"{a}: " + "%{customdata[1]:.1%}<br>"
        + f"{b}: " + "%{customdata[2]:.1%}<br>difference: %{text}<br>lift (A ÷ B): "
        "%{customdata[3]}<br>adjusted p: %{customdata[4]}<extra></extra>",
    ))
    fig.update_layout(
        height=height, margin=dict(l=10, r=40, t=10, b=10), showlegend=False,
        xaxis=dict(title=f"Share of customers: {a} − {b} (percentage points)",
                   ticksuffix=" pp", zeroline=True, zerolinecolor="#888",
                   range=[low - room if low < 0 else low, high + room if high > 0 else high]),
        yaxis=dict(tickmode="array", tickvals=list(range(len(rows))), autorange="reversed",
                   ticktext=[plain(m) for m in short_labels(moves, 48)]),
    )
    return fig
