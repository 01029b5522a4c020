"""The Paths page: charts from the analysis, settings restored from and written to the URL."""

from __future__ import annotations

import json
from collections import Counter

from streamlit.testing.v1 import AppTest

from analysis import demo, paths
from analysis.figures import paths as path_figures
from tests.app.conftest import count_calls, open_page
from tests.app.conftest import qp as _qp


def _paths_page(**params) -> AppTest:
    return open_page("pages/1_Paths.py", **params)


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_paths_page_draws_the_demo_sankey(workspace_path):
    at = _paths_page()
    assert [e.value for e in at.exception] == []
    charts = _charts(at)
    sankey = next(c for c in charts if c["data"][0]["type"] == "sankey")
    expected = paths.sankey_links(demo.load().events)
    assert sum(sankey["data"][0]["link"]["value"]) == int(expected["customers"].sum())
    assert _qp(at, "steps") == ["5"] and _qp(at, "node") == ["touchpoint"]
    assert any("path" in df.value.columns for df in at.dataframe)  # the top paths


def test_paths_settings_come_from_the_url_and_stay_there(workspace_path):
    first = _paths_page()
    dataset = _qp(first, "dataset")[0]
    at = _paths_page(dataset=dataset, steps="3", node="channel", anchor="start", at="Checkout",
                     exclude=["Payment failed"], collapse="1", cmp="attribute", col="segment",
                     a="Premium", b="Budget", tab="compare")
    assert [e.value for e in at.exception] == []
    assert at.slider(key="p_steps").value == 3
    assert at.selectbox(key="p_node").value == "channel"
    assert at.selectbox(key="p_at").value == "Checkout"
    assert at.multiselect(key="p_exclude").value == ["Payment failed"]
    assert at.toggle(key="p_collapse").value is True
    assert at.selectbox(key="p_a").value == "Premium"
    for key, value in {"steps": ["3"], "node": ["channel"], "anchor": ["start"],
                       "at": ["Checkout"], "exclude": ["Payment failed"], "collapse": ["1"],
                       "cmp": ["attribute"], "col": ["segment"], "a": ["Premium"],
                       "b": ["Budget"]}.items():
        assert _qp(at, key) == value, key
    expected = paths.sankey_links(
        demo.load().events, max_steps=3, node_by="channel", start_at="Checkout",
        exclude=["Payment failed"], collapse_repeats=True,
    )
    sankey = next(c for c in _charts(at) if c["data"][0]["type"] == "sankey")
    assert sorted(sankey["data"][0]["link"]["value"]) == sorted(expected["customers"].tolist())


def test_changing_a_control_updates_the_url(workspace_path):
    at = _paths_page()
    at.slider(key="p_steps").set_value(4)
    at = at.run()
    assert _qp(at, "steps") == ["4"]


def test_moving_the_step_slider_reads_the_events_only_once(workspace_path, monkeypatch):
    """Moves and paths are counted once for the slider's largest value; a new number of
    steps only cuts those counts (the events are not read again)."""
    calls = count_calls(monkeypatch, paths, ["sankey_steps", "path_counts", "transitions",
                                             "channel_switching", "compare_transitions"])
    at = _paths_page()
    assert calls["sankey_steps"] == 1 and calls["path_counts"] == 1
    # Closed tabs are not computed until they are opened.
    assert calls["transitions"] == calls["compare_transitions"] == 0
    before = dict(calls)
    at.slider(key="p_steps").set_value(3).run()
    assert [e.value for e in at.exception] == []
    assert dict(calls) == before
    links = next(c for c in _charts(at) if c["data"][0]["type"] == "sankey")
    assert len(set(links["data"][0]["node"]["x"])) == 3  # drawn in three columns
    # An anchor at the end counts back from it: each number of steps is its own count.
    at.selectbox(key="p_anchor").set_value("end").run()
    at.slider(key="p_steps").set_value(4).run()
    assert [e.value for e in at.exception] == []
    assert calls["sankey_steps"] == before["sankey_steps"] + 2


def test_compare_segments_defaults_to_the_two_largest_groups(workspace_path):
    at = _paths_page(cmp="attribute", col="persona", tab="compare")
    assert [e.value for e in at.exception] == []
    sizes = demo.load().events.groupby("persona")["customer_id"].nunique()
    largest = sizes.sort_values(ascending=False).index[:2].tolist()
    assert largest != sorted(sizes.index)[:2]  # the alphabetical default would differ
    assert [at.selectbox(key="p_a").value, at.selectbox(key="p_b").value] == largest
    assert _qp(at, "a") == largest[:1] and _qp(at, "b") == largest[1:]
    # The table and the chart speak in percentage points; lifts are text ("1.25×", "new").
    table = next(t.value for t in at.dataframe if "lift" in t.value.columns)
    assert table["lift"].map(lambda v: isinstance(v, str) and (v == "new" or v.endswith("×")
                                                               or v == "–")).all()
    bars = next(c for c in _charts(at) if c["data"][0]["type"] == "bar")
    assert bars["data"][0]["text"] and all(t.endswith(" pp") for t in bars["data"][0]["text"])
    assert bars["layout"]["xaxis"]["ticksuffix"] == " pp"


def test_paths_figures_size_themselves_and_never_show_zero_hours(workspace_path):
    at = _paths_page(tab="moves")
    sankey = next(c for c in _charts(at) if c["data"][0]["type"] == "sankey")
    busiest = max(Counter(c[0] for c in sankey["data"][0]["node"]["customdata"]).values())
    margin = path_figures.SANKEY_MARGIN
    assert sankey["layout"]["height"] == (path_figures.FLOW_HEIGHT + margin["t"] + margin["b"]
                                          + (busiest - 1) * path_figures.NODE_PAD)
    heatmap = next(c for c in _charts(at) if c["data"][0]["type"] == "heatmap")
    medians = [cell[3] for row in heatmap["data"][0]["customdata"] for cell in row]
    assert medians and not any(m.endswith(" h") and m.startswith("0") for m in medians)
    moves = next(t.value for t in at.dataframe if "median_seconds" in t.value.columns)
    assert moves["median_seconds"].map(lambda v: isinstance(v, str)).all()


def test_closed_tabs_keep_their_settings_in_the_link(workspace_path):
    at = _paths_page(cmp="attribute", col="persona", a="Loyalist", b="Deal hunter")
    assert [e.value for e in at.exception] == []
    assert _qp(at, "col") == ["persona"] and _qp(at, "a") == ["Loyalist"]
    assert _qp(at, "tab") == []
    opened = _paths_page(cmp="attribute", col="persona", a="Loyalist", b="Deal hunter",
                         tab="compare")
    assert opened.selectbox(key="p_a").value == "Loyalist"
    assert _qp(opened, "tab") == ["compare"]
