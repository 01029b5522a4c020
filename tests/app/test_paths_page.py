"""The Paths page: charts from the analysis, settings restored from and written to the URL."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from analysis import demo, paths
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
    assert len(at.dataframe) >= 2  # top paths and the comparison


def test_paths_settings_come_from_the_url_and_stay_there(workspace_path):
    first = _paths_page()
    dataset = _qp(first, "dataset")[0]
    at = _paths_page(dataset=dataset, steps="3", node="channel", anchor="start", at="Checkout",
                     exclude=["Payment failed"], collapse="1", cmp="attribute", col="segment",
                     a="Premium", b="Budget")
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


def test_moving_the_step_slider_recomputes_only_what_depends_on_it(workspace_path, monkeypatch):
    calls = count_calls(monkeypatch, paths, ["sankey", "common_paths", "transitions",
                                             "channel_switching", "compare_transitions"])
    at = _paths_page()
    assert calls["sankey"] == 1 and calls["transitions"] == 1
    before = dict(calls)
    at.slider(key="p_steps").set_value(3).run()
    assert [e.value for e in at.exception] == []
    assert calls["sankey"] == before["sankey"] + 1
    assert calls["common_paths"] == before["common_paths"] + 1
    for unchanged in ("transitions", "channel_switching", "compare_transitions"):
        assert calls[unchanged] == before[unchanged], unchanged
