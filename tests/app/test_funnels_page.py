"""The Funnels page: the chart comes from the analysis and the settings live in the URL."""

from __future__ import annotations

import json
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from analysis import demo, funnel
from tests.app.conftest import count_calls, open_page
from tests.app.conftest import qp as _qp


def _page(**params) -> AppTest:
    return open_page("pages/2_Funnels.py", **params)


def _bars(at: AppTest) -> list[dict]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [t for spec in specs for t in spec["data"] if t.get("orientation") == "h"]


def test_default_stage_funnel_matches_the_analysis(workspace_path):
    at = _page()
    assert [e.value for e in at.exception] == []
    expected = funnel.funnel(demo.load().events, list(
        ["awareness", "consideration", "conversion", "usage", "retention"]), step_col="stage")
    assert _bars(at)[0]["x"] == expected["customers"].tolist()
    assert _qp(at, "on") == ["stage"]
    assert _qp(at, "steps") == ["awareness", "consideration", "conversion", "usage", "retention"]


def test_settings_from_the_url(workspace_path):
    dataset = _qp(_page(), "dataset")[0]
    at = _page(dataset=dataset, on="touchpoint",
               steps=["Product page", "Add to cart | Chat with advisor", "Purchase"],
               win="3", mode="strict", bd="variant", drop="2", per="week")
    assert [e.value for e in at.exception] == []
    assert at.selectbox(key="f_mode").value == "strict"
    assert at.number_input(key="f_win").value == 3
    expected = funnel.funnel(
        demo.load().events, ["Product page", ["Add to cart", "Chat with advisor"], "Purchase"],
        window=timedelta(days=3), mode="strict", by="variant",
    )
    bars = _bars(at)
    shown = [x for b in bars for x in b["x"]]
    assert sorted(shown) == sorted(expected["customers"].tolist())
    assert _qp(at, "win") == ["3"] and _qp(at, "bd") == ["variant"]
    assert _qp(at, "drop") == ["2"] and _qp(at, "per") == ["week"]
    assert at.selectbox(key="f_drop").value == 2
    assert _qp(at, "steps")[1] == "Add to cart | Chat with advisor"


def test_unknown_step_names_get_a_suggestion(workspace_path):
    dataset = _qp(_page(), "dataset")[0]
    at = _page(dataset=dataset, on="touchpoint", steps=["Product page", "Purchse"])
    assert [e.value for e in at.exception] == []
    assert any("did you mean “Purchase”" in w.value for w in at.warning)


def test_a_breakdown_recomputes_only_the_funnel(workspace_path, monkeypatch):
    calls = count_calls(monkeypatch, funnel, ["funnel", "time_to_convert", "drop_off",
                                              "funnel_over_time"])
    at = _page()
    before = dict(calls)
    assert before["funnel"] == 1 and before["time_to_convert"] == 1
    at.selectbox(key="f_bd").set_value("segment").run()
    assert [e.value for e in at.exception] == []
    assert calls["funnel"] == before["funnel"] + 1
    for unchanged in ("time_to_convert", "drop_off", "funnel_over_time"):
        assert calls[unchanged] == before[unchanged], unchanged
