"""The Funnels page: the chart comes from the analysis and the settings live in the URL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from analysis import demo, funnel
from analysis.definitions import Definitions
from analysis.store import Workspace
from tests.app.conftest import count_calls, open_page
from tests.app.conftest import qp as _qp


def _page(**params) -> AppTest:
    return open_page("pages/2_Funnels.py", **params)


def _bars(at: AppTest) -> list[dict]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [t for spec in specs for t in spec["data"]
            if t.get("type") == "bar" and t.get("orientation") == "h"]


def test_default_stage_funnel_matches_the_analysis(workspace_path):
    at = _page(on="stage")
    assert [e.value for e in at.exception] == []
    stages = ["awareness", "consideration", "conversion", "usage", "retention"]
    expected = funnel.funnel(demo.load().events, stages, step_col="stage")
    assert _bars(at)[0]["x"] == expected["customers"].tolist()
    assert _qp(at, "on") == ["stage"]
    assert _qp(at, "steps") == stages


def test_settings_from_the_url(workspace_path):
    dataset = _qp(_page(), "dataset")[0]
    at = _page(dataset=dataset, on="touchpoint",
               steps=["Product page", "Add to cart | Chat with advisor", "Purchase"],
               win="3", mode="strict", bd="variant", drop="2", per="week", tab="drop")
    assert [e.value for e in at.exception] == []
    assert at.selectbox(key="f_mode").value == "strict"
    assert at.number_input(key="f_win").value == 3
    expected = funnel.funnel(
        demo.load().events, ["Product page", ["Add to cart", "Chat with advisor"], "Purchase"],
        window=timedelta(days=3), mode="strict", by="variant",
    )
    # A breakdown shows each group's conversion from the first step; counts in the hover.
    for bar in _bars(at):
        group = expected[expected["variant"] == bar["name"]]
        assert bar["x"] == pytest.approx(group["conversion_from_start"].fillna(0).tolist())
        assert [c[1] for c in bar["customdata"]] == group["customers"].tolist()
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
    calls = count_calls(monkeypatch, funnel, ["step_events", "step_times_from_events",
                                              "funnel_from_times",
                                              "time_to_convert_from_times", "drop_off",
                                              "funnel_over_time_from_times"])
    at = _page()
    before = dict(calls)
    # The funnel and its timing share one read of the events and one pass over the customers.
    assert before["step_events"] == 1 and before["step_times_from_events"] == 1
    assert before["funnel_from_times"] == 1 and before["time_to_convert_from_times"] == 1
    # Closed tabs are not computed: the drop-off and the trend wait until they are opened.
    assert calls["drop_off"] == 0 and calls["funnel_over_time_from_times"] == 0
    at.selectbox(key="f_bd").set_value("segment").run()
    assert [e.value for e in at.exception] == []
    assert calls["step_events"] == 2 and calls["step_times_from_events"] == 2
    assert calls["funnel_from_times"] == 2
    for unchanged in ("time_to_convert_from_times", "drop_off", "funnel_over_time_from_times"):
        assert calls[unchanged] == before.get(unchanged, 0), unchanged


def test_a_mode_change_follows_the_customers_once(workspace_path, monkeypatch):
    calls = count_calls(monkeypatch, funnel, ["step_events", "step_times_from_events",
                                              "funnel", "time_to_convert"])
    at = _page()
    at.selectbox(key="f_mode").set_value("strict").run()
    assert [e.value for e in at.exception] == []
    # The steps' events are read once; the customers are followed once per mode.
    assert calls["step_events"] == 1 and calls["step_times_from_events"] == 2
    assert calls["funnel"] == 0 and calls["time_to_convert"] == 0


# ---------------------------------------------------------------- default funnel and picker


def _steps_shown(at: AppTest) -> list[list[str]]:
    pickers = [m for m in at.multiselect if str(m.key).startswith("f_step::")]
    return [list(m.value) for m in pickers]


def _picker(at: AppTest, position: int):
    return [m for m in at.multiselect if str(m.key).startswith("f_step::")][position]


def _expected_x(steps) -> list[int]:
    return funnel.funnel(demo.load().events, steps)["customers"].tolist()


def test_default_funnel_is_the_usual_path_to_conversion(workspace_path):
    at = _page()
    assert [e.value for e in at.exception] == []
    steps = _qp(at, "steps")
    assert _qp(at, "on") == ["touchpoint"]
    assert len(steps) >= 2 and steps[-1] == "Purchase"
    assert steps == funnel.default_steps(demo.load().events, conversion=["Purchase"])
    assert _steps_shown(at) == [[s] for s in steps]
    assert _bars(at)[0]["x"] == _expected_x(steps)
    assert any("usual path to conversion" in c.value for c in at.caption)


def test_picking_steps_updates_the_funnel_and_the_url(workspace_path):
    at = _page()
    first = _qp(at, "steps")
    _picker(at, 1).set_value(["Chat with advisor"]).run()
    assert [e.value for e in at.exception] == []
    steps = [first[0], "Chat with advisor", *first[2:]]
    assert _qp(at, "steps") == steps
    assert _bars(at)[0]["x"] == _expected_x(steps)
    # A new step at the end, then the first one removed and the last moved up.
    at.button(key="f_add").click().run()
    _picker(at, len(steps)).set_value(["Renewal"]).run()
    assert _qp(at, "steps") == [*steps, "Renewal"]
    remove_first = next(b for b in at.button if str(b.key).startswith("f_remove::"))
    remove_first.click().run()
    assert _qp(at, "steps") == [*steps[1:], "Renewal"]
    ups = [b for b in at.button if str(b.key).startswith("f_up::")]
    ups[-1].click().run()
    reordered = [*steps[1:-1], "Renewal", steps[-1]]
    assert _qp(at, "steps") == reordered
    assert _bars(at)[0]["x"] == _expected_x(reordered)
    assert [e.value for e in at.exception] == []


def test_a_step_can_be_a_set_of_touchpoints(workspace_path):
    at = _page()
    first = _qp(at, "steps")
    _picker(at, 1).set_value(["Add to cart", "Chat with advisor"]).run()
    assert [e.value for e in at.exception] == []
    assert _qp(at, "steps")[1] == "Add to cart | Chat with advisor"
    expected = [first[0], ["Add to cart", "Chat with advisor"], *first[2:]]
    assert _bars(at)[0]["x"] == _expected_x(expected)
    # The same funnel as text, and back.
    at.toggle(key="f_as_text").set_value(True).run()
    assert at.text_area(key="f_steps").value.splitlines()[1] == "Add to cart | Chat with advisor"
    at.text_area(key="f_steps").set_value("Product page\nSupport call | Store visit").run()
    assert _qp(at, "steps") == ["Product page", "Support call | Store visit"]
    at.toggle(key="f_as_text").set_value(False).run()
    assert [e.value for e in at.exception] == []
    assert _steps_shown(at) == [["Product page"], ["Support call", "Store visit"]]


def test_a_link_with_steps_reopens_them_in_the_picker(workspace_path):
    dataset = _qp(_page(), "dataset")[0]
    at = _page(dataset=dataset, on="touchpoint",
               steps=["Search landing", "Compare plans | Store visit", "Purchase"])
    assert [e.value for e in at.exception] == []
    assert _steps_shown(at) == [["Search landing"], ["Compare plans", "Store visit"],
                                ["Purchase"]]
    assert at.toggle(key="f_as_text").value is False


def _without_conversion(path) -> str:
    with Workspace(path) as ws:
        demo.ensure_demo(ws)
        events_id = ws.get_meta("demo_events_id")
        ws.set_definitions(events_id, Definitions(segment="persona"))
    return events_id


def test_undefined_conversion_offers_the_control_in_place(workspace_path):
    _without_conversion(workspace_path)
    at = _page()
    assert [e.value for e in at.exception] == []
    steps = _qp(at, "steps")
    assert len(steps) >= 2 and _bars(at)[0]["x"] == _expected_x(steps)
    assert any("Conversion is not defined" in m.value for m in at.markdown)
    at.multiselect(key="def_funnel_conversion").set_value(["Purchase"]).run()
    at.button(key="def_save_funnel_conversion").click().run()
    assert [e.value for e in at.exception] == []
    # Saved, the default funnel becomes the usual path to it (the steps were untouched).
    assert _qp(at, "d.conv") == ["Purchase"]
    assert _qp(at, "steps")[-1] == "Purchase"
    assert not any("Conversion is not defined" in m.value for m in at.markdown)


def test_the_segment_comes_first_among_breakdowns(workspace_path):
    at = _page()
    assert at.selectbox(key="f_bd").options[:2] == ["No breakdown", "Persona (segment)"]
    at.selectbox(key="f_bd").set_value("persona").run()
    assert [e.value for e in at.exception] == []
    bars = _bars(at)
    expected = funnel.funnel(demo.load().events, _qp(at, "steps"), by="persona")
    first = expected[expected["persona"] == bars[0]["name"]]
    assert bars[0]["x"] == first["conversion_from_start"].tolist()
    rate = first["conversion_from_start"]
    assert bars[0]["error_x"]["array"] == pytest.approx((first["ci_high"] - rate).tolist())
    assert bars[0]["error_x"]["arrayminus"] == pytest.approx((rate - first["ci_low"]).tolist())


def test_coming_back_from_paths_reopens_the_default_funnel(workspace_path):
    at = _page()
    default = _qp(at, "steps")
    _picker(at, 1).set_value(["Chat with advisor"]).run()
    # Paths writes its own "steps" (a number) into the URL: it is not a funnel step.
    at.switch_page("pages/1_Paths.py").run()
    assert [e.value for e in at.exception] == []
    at.switch_page("pages/2_Funnels.py").run()
    assert [e.value for e in at.exception] == []
    assert not at.warning
    assert _steps_shown(at) == [[s] for s in default]
