"""Paths figures that read well with real data: the Sankey grows with its nodes and keeps labels
apart, long names are shortened with the full name in the hover, comparisons speak in
percentage points and say "new" rather than infinity, durations never read "0 h"."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import demo, figures, ingest, paths
from analysis.figures import paths as path_figures
from analysis.figures.labels import (
    duration_text,
    plain,
    points_text,
    ratio_text,
    short_labels,
    shorten,
)
from analysis.journeys import END, OTHER
from analysis.paths.compare import group_sizes
from analysis.schema import MissingColumnError


@pytest.fixture(scope="module")
def receipt(datasets_dir) -> pd.DataFrame:
    raw = ingest.read_table(datasets_dir / "receipt_process_log.csv")
    return ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events").data


def _fan(width: int, name: str = "Touchpoint") -> pd.DataFrame:
    """Links where step 1 fans out from "Start" into ``width`` nodes of different sizes."""
    rows = [(1, "Start", f"{name} {i:02d}", 100 - i) for i in range(width)]
    return pd.DataFrame(rows, columns=["step", "source", "target", "customers"])


def _drawn_nodes(fig) -> pd.DataFrame:
    """Each drawn node with its step, full name and value as Plotly computes it (the larger
    of its inflow and outflow)."""
    trace = fig.data[0]
    node, link = trace.node, trace.link
    value = np.zeros(len(node.label))
    inflow, outflow = value.copy(), value.copy()
    for s, t, v in zip(link.source, link.target, link.value, strict=True):
        outflow[s] += v
        inflow[t] += v
    return pd.DataFrame({
        "position": [c[0] for c in node.customdata], "name": [c[2] for c in node.customdata],
        "label": list(node.label), "x": list(node.x), "y": list(node.y),
        "value": np.maximum(inflow, outflow),
    })


def _plotly_layout(fig) -> pd.DataFrame:
    """Node boxes in pixels as Plotly lays them out: d3-sankey's scale (the busiest column
    fills the plot with ``pad`` between nodes), then each node centred on its y."""
    nodes = _drawn_nodes(fig)
    margin = fig.layout.margin
    height = fig.layout.height - margin.t - margin.b
    pad = fig.data[0].node.pad
    per = nodes.groupby("position")["value"].agg(["sum", "size"])
    scale = ((height - (per["size"] - 1) * pad) / per["sum"]).min()
    h = nodes["value"] * scale
    return nodes.assign(y0=nodes["y"] * height - h / 2, y1=nodes["y"] * height + h / 2,
                        plot_height=height, pad=pad)


def test_sankey_height_grows_with_the_busiest_column():
    small, large = figures.sankey_chart(_fan(3)), figures.sankey_chart(_fan(27))
    assert large.layout.height > small.layout.height
    grown = large.layout.height - small.layout.height
    assert grown == 24 * path_figures.NODE_PAD
    # An asked-for height is a minimum, never a cut.
    assert figures.sankey_chart(_fan(27), height=200).layout.height == large.layout.height
    assert figures.sankey_chart(_fan(3), height=900).layout.height == 900


@pytest.mark.parametrize("width", [3, 12, 30])
def test_sankey_nodes_stay_inside_and_a_label_line_apart(width):
    links = pd.concat([_fan(width), pd.DataFrame(
        [(2, f"Touchpoint {i:02d}", END, 100 - i) for i in range(width)],
        columns=["step", "source", "target", "customers"])])
    boxes = _plotly_layout(figures.sankey_chart(links))
    assert (boxes["y0"] >= -1e-6).all() and (boxes["y1"] <= boxes["plot_height"] + 1e-6).all()
    for _, column in boxes.sort_values("y0").groupby("position"):
        gaps = column["y0"].to_numpy()[1:] - column["y1"].to_numpy()[:-1]
        # Plotly's snapping pushes a node down only when the gap is below pad: none is.
        assert (gaps >= path_figures.NODE_PAD - 1e-6).all()
        centres = (column["y0"] + column["y1"]).to_numpy() / 2
        assert (np.diff(centres) >= 16).all()  # a 12 px label line never meets the next one
    assert boxes.groupby("position")["x"].nunique().eq(1).all()


def test_long_labels_are_shortened_and_the_hover_keeps_the_full_name(receipt):
    fig = figures.sankey_chart(paths.sankey_links(receipt))
    nodes = _drawn_nodes(fig)
    budget = path_figures.label_chars(int(nodes["position"].max()))
    assert (nodes["label"].str.len() <= budget).all()
    long = nodes[nodes["name"].str.len() > budget]
    assert len(long) and long["label"].str.endswith("…").all()
    for label, name in zip(long["label"], long["name"], strict=True):
        assert name.startswith(label[:-1])
    assert "%{customdata[2]}" in fig.data[0].node.hovertemplate
    assert "%{customdata[2]} → %{customdata[3]}" in fig.data[0].link.hovertemplate
    # Within a column, different names never read the same.
    assert not nodes.duplicated(["position", "label"]).any()


def test_user_text_in_the_sankey_is_shown_never_parsed():
    links = pd.DataFrame([(1, "<b>Home</b>", "Q&A <br>", 3)],
                         columns=["step", "source", "target", "customers"])
    fig = figures.sankey_chart(links)
    assert fig.data[0].node.label == ("&lt;b&gt;Home&lt;/b&gt;", "Q&amp;A &lt;br&gt;")
    assert fig.data[0].link.customdata[0][2] == "&lt;b&gt;Home&lt;/b&gt;"


def test_the_coverage_sentence_matches_the_other_nodes_drawn(receipt):
    result = paths.sankey(receipt, top_nodes=5)
    nodes = _drawn_nodes(figures.sankey_chart(result.links))
    steps = nodes[nodes["name"] != END]
    other = steps.loc[steps["name"] == OTHER, "value"].sum()
    assert other > 0 and result.coverage.folded == other
    assert result.coverage.events == steps["value"].sum()
    assert result.coverage.folded_share == pytest.approx(other / steps["value"].sum())
    assert f"{int(other):,} customer-steps (" in result.coverage.sentence()
    # Nothing folded: nothing said about "Other", and no Other node drawn.
    whole = paths.sankey(receipt, top_nodes=None)
    assert whole.coverage.folded == 0 and "Other" not in whole.coverage.sentence()
    assert OTHER not in set(_drawn_nodes(figures.sankey_chart(whole.links))["name"])


def test_short_labels_and_units():
    assert shorten("Confirmation of receipt", 10) == "Confirmat…"
    assert shorten("short", 10) == "short"
    names = ["Process advice from party 1", "Process advice from party 2", "Start"]
    short = short_labels(names, 12)
    assert len(set(short)) == 3 and short[0].endswith("1") and short[2] == "Start"
    assert all(len(s) <= 12 for s in short)
    assert plain("<a href='x'>") == "&lt;a href='x'&gt;"
    assert [duration_text(s) for s in (4, 59, 90, 5400, 200_000, math.nan, None)] == [
        "4 s", "59 s", "1.5 min", "1.5 h", "2.3 days", "–", "–"]
    assert [points_text(d) for d in (0.032, -0.004, 0.0, math.nan)] == [
        "+3.2 pp", "−0.4 pp", "0.0 pp", "–"]
    assert [ratio_text(r) for r in (1.25, math.inf, math.nan)] == ["1.25×", "new", "–"]


def test_heatmap_hover_gives_seconds_in_seconds_and_names_in_full():
    matrix = pd.DataFrame({
        "source": ["A very long touchpoint name indeed, really", "B"], "target": ["B", "B"],
        "transitions": [5, 2], "customers": [5, 2], "share_of_row": [1.0, 1.0],
        "median_seconds": [12.0, 7200.0],
    })
    fig = figures.transition_heatmap(matrix)
    cells = {(row[0], row[1]): row[3] for grid in fig.data[0].customdata for row in grid}
    assert cells[("A very long touchpoint name indeed, really", "B")] == "12 s"
    assert cells[("B", "B")] == "2.0 h"
    assert not any(v.startswith("0") and v.endswith(" h") for v in cells.values())
    assert "%{customdata[3]}" in fig.data[0].hovertemplate
    assert all(len(t) <= 28 for t in fig.layout.xaxis.ticktext)


def test_comparison_says_new_and_speaks_in_percentage_points():
    ev = _events_with_a_move_only_a_makes()
    result = paths.compare_transitions(ev, group_col="segment", group_a="A", group_b="B",
                                       min_customers=1)
    row = result.table.set_index(["source", "target"]).loc[("Home", "Chat")]
    assert math.isinf(row["lift"]) and row["share_b"] == 0
    fig = path_figures.transition_difference_chart(result.table, groups=("A", "B"))
    bar = fig.data[0]
    hover = {c[0]: c for c in bar.customdata}
    assert hover["Home → Chat"][3] == "new"
    assert "Infinity" not in fig.to_json() and "inf" not in str(bar.customdata)
    assert "+50.0 pp" in bar.text and fig.layout.xaxis.ticksuffix == " pp"
    assert list(bar.x) == pytest.approx(list(result.table.set_index(
        ["source", "target"]).loc[[tuple(m.split(" → ")) for m in hover], "difference"] * 100))
    assert fig.layout.height >= 90 + 26 * 3


def _events_with_a_move_only_a_makes() -> pd.DataFrame:
    rows = []
    for i in range(4):
        seg = "A" if i < 2 else "B"
        rows += [(f"c{i}", "2024-01-01 10:00", "Home", seg),
                 (f"c{i}", "2024-01-01 10:05", "Chat" if i == 0 else "Buy", seg)]
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint", "segment"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


def test_group_sizes_put_the_largest_values_first():
    ev = demo.load().events
    sizes = group_sizes(ev, group_col="persona")
    expected = ev.groupby("persona")["customer_id"].nunique().sort_values(ascending=False)
    assert sizes["value"].tolist()[:2] == expected.index[:2].tolist()
    assert sizes["customers"].tolist() == expected.tolist()
    with pytest.raises(MissingColumnError, match="no column"):
        group_sizes(ev, group_col="nope")
