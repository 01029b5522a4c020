"""Plotly figure builders over analysis results (data first, options keyword-only)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

PALETTE = px.colors.qualitative.Safe


def activity_chart(weekly: pd.DataFrame, *, metric: str = "customers") -> go.Figure:
    """Stacked weekly bars of active customers (or events) per channel.

    ``weekly`` is the result of :func:`analysis.overview.weekly_activity`.
    """
    color = "channel" if "channel" in weekly else None
    label = {"customers": "Active customers", "events": "Events"}[metric]
    fig = px.bar(
        weekly,
        x="week",
        y=metric,
        color=color,
        color_discrete_sequence=PALETTE,
        labels={"week": "Week starting (UTC)", metric: label, "channel": "Channel"},
    )
    fig.update_layout(
        barmode="stack",
        bargap=0.1,
        legend_title_text="Channel",
        margin=dict(l=10, r=10, t=10, b=10),
        height=320,
        hovermode="x unified",
    )
    return fig


_END_COLOR = "#B0B0B0"
_OTHER_COLOR = "#D9D9D9"


def _rgba(color: str, alpha: float) -> str:
    """'#RRGGBB' or 'rgb(r, g, b)' as 'rgba(r,g,b,alpha)'."""
    if color.startswith("rgb("):
        r, g, b = (int(v) for v in color[4:-1].split(","))
    else:
        h = color.lstrip("#")
        r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _colors(names: list[str]) -> dict[str, str]:
    palette = px.colors.qualitative.Safe + px.colors.qualitative.Vivid
    regular = sorted(n for n in set(names) if n not in ("(end)", "Other"))
    out = {n: palette[i % len(palette)] for i, n in enumerate(regular)}
    out["(end)"] = _END_COLOR
    out["Other"] = _OTHER_COLOR
    return out


def sankey_chart(links: pd.DataFrame, *, height: int = 560) -> go.Figure:
    """A Sankey diagram of :func:`analysis.paths.sankey_links`: one column per step.

    Node labels are the step names; hovering shows customers and their share of the journeys
    at that step. Journeys that end show as "(end)" in the next column.
    """
    if links.empty:
        return go.Figure().update_layout(height=height)
    last = int(links["step"].max()) + 1
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
    index = {(p, n): i for i, (p, n) in enumerate(zip(nodes["position"], nodes["node"],
                                                        strict=True))}
    colors = _colors(nodes["node"].tolist())
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
                color=[_rgba(colors[n], 0.35) for n in links["source"]],
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


def funnel_chart(table: pd.DataFrame, *, by: str | None = None, height: int = 420) -> go.Figure:
    """Horizontal funnel bars from :func:`analysis.funnel.funnel`.

    Each bar is labelled with its customers and conversion from the start; the drop-off from
    the previous step is in the hover. With ``by``, one bar per group and step, and steps
    whose difference between groups is significant (p < 0.05) are marked with ★.
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
    if by is not None and "p_value" in table:
        significant = table.loc[table["p_value"] < 0.05, "_label"].unique()
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
