"""The Touchpoints page: the planted make and break points, attribution, online/offline
completion and the journey map, every setting in the URL, real files without stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import ingest
from analysis.store import Workspace
from tests.app.conftest import count_calls, open_page, qp
from ui import touchpoint_attribution
from ui import touchpoints as ui_touchpoints

PAGE = "pages/6_Touchpoints.py"
RECEIPTS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "receipt_process_log.csv"


def _errors(at) -> list:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_demo_shows_the_planted_make_and_break_points(workspace_path):
    at = open_page(PAGE)  # the scorecard tab is open by default
    assert not _errors(at)
    card = at.dataframe[0].value
    roles = dict(zip(card["touchpoint"], card["role"], strict=True))
    assert roles["Payment failed"] == "Break"
    assert "Make" in {roles.get("Checkout"), roles.get("Add to cart")}
    assert card.iloc[0]["role"] == "Break"  # break points first
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Break points"]) >= 1
    assert "Converting customers" not in metrics  # closed tabs compute nothing
    assert qp(at, "tab") == []  # the default tab stays out of the link
    dataset = qp(at, "dataset")
    attribution = open_page(PAGE, dataset=dataset, tab="attribution")
    assert not _errors(attribution)
    assert any("Markov" in str(c) for c in _charts(attribution))
    completion = open_page(PAGE, dataset=dataset, tab="channels")
    assert not _errors(completion)
    assert {m.label: m.value for m in completion.metric}["Converting customers"] == "1,665"
    assert _charts(completion)


def test_a_link_to_the_journey_map_opens_it_and_keeps_the_tab(workspace_path, monkeypatch):
    calls = count_calls(monkeypatch, ui_touchpoints,
                        ["touchpoint_scorecard", "online_offline", "journey_map"])
    credit = count_calls(monkeypatch, touchpoint_attribution, ["model_credit"])
    at = open_page(PAGE, tab="map")
    assert not _errors(at)
    assert calls["journey_map"] >= 1
    assert (calls["touchpoint_scorecard"], credit["model_credit"],
            calls["online_offline"]) == (0, 0, 0)
    assert any(h.value == "Journey map" for h in at.subheader)
    assert _charts(at) and at.selectbox(key="t_pa").value == ""
    assert qp(at, "tab") == ["map"]
    at.selectbox(key="t_pa").set_value("Loyalist").run()
    assert not _errors(at)
    assert qp(at, "tab") == ["map"] and qp(at, "pa") == ["Loyalist"]


@pytest.mark.parametrize("tab", ["scorecard", "attribution", "channels", "map"])
def test_settings_come_from_the_link_and_stay_there(workspace_path, tab):
    at = open_page(PAGE, by="channel", lb="30", hl="3", per="week", np="8", tol="3",
                   seg="persona", pa="Loyalist", pb="Deal hunter", on=["web", "app"],
                   off=["-"], tab=tab)
    assert not _errors(at)
    if tab == "scorecard":
        assert at.selectbox(key="t_per").value == "week"
        assert at.number_input(key="t_np").value == 8
        assert at.number_input(key="t_tol").value == 3
    if tab == "attribution":
        assert at.session_state["t_by"] == "channel"
        assert at.number_input(key="t_lb").value == 30
        assert at.number_input(key="t_hl").value == 3
        assert any({"channel", "markov"} <= set(df.value.columns) for df in at.dataframe)
    if tab == "channels":
        assert at.multiselect(key="t_on").value == ["web", "app"]
        assert at.multiselect(key="t_off").value == []
        # Nothing is offline: every converter finishes online or unclassified.
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Started online, finished offline"] == "0.0%"
    if tab == "map":
        assert at.selectbox(key="t_pa").value == "Loyalist"
        assert at.selectbox(key="t_pb").value == "Deal hunter"
    # The settings of the closed tabs stay in the link.
    for key, value in (("by", ["channel"]), ("lb", ["30"]), ("hl", ["3"]), ("per", ["week"]),
                       ("np", ["8"]), ("tol", ["3"]), ("seg", ["persona"]),
                       ("pa", ["Loyalist"]), ("pb", ["Deal hunter"]), ("off", ["-"])):
        assert qp(at, key) == value, key
    assert set(qp(at, "on")) == {"web", "app"}
    assert qp(at, "tab") == ([] if tab == "scorecard" else [tab])


def test_settings_survive_switching_tabs(workspace_path):
    at = open_page(PAGE)
    at.selectbox(key="t_per").set_value("week").run()
    at.session_state["t_tab"] = "Attribution"
    at.run()
    assert not _errors(at)
    assert qp(at, "tab") == ["attribution"] and qp(at, "per") == ["week"]
    at.number_input(key="t_lb").set_value(14).run()
    assert qp(at, "lb") == ["14"] and qp(at, "per") == ["week"]
    at.session_state["t_tab"] = "Scorecard"
    at.run()
    assert not _errors(at)
    assert at.selectbox(key="t_per").value == "week"
    assert qp(at, "tab") == [] and qp(at, "lb") == ["14"]


def test_defaults_stay_out_of_the_link_and_bad_values_fall_back(workspace_path):
    bad = {"lb": "²", "hl": "-4", "per": "fortnight", "np": "999", "by": "<script>",
           "pa": "Nobody"}
    at = open_page(PAGE, **bad)
    assert not _errors(at)
    assert at.selectbox(key="t_per").value == "month"
    for key in ("lb", "hl", "per", "np", "by", "pa", "pb", "on", "off", "tab"):
        assert qp(at, key) == [], key
    at = open_page(PAGE, **bad, tab="attribution")
    assert at.number_input(key="t_lb").value == 0
    assert at.number_input(key="t_hl").value == 7
    at = open_page(PAGE, **bad, tab="map")
    assert at.selectbox(key="t_pa").value == ""
    at = open_page(PAGE, tab="<script>")  # an unknown tab opens the default one
    assert not _errors(at) and at.dataframe and qp(at, "tab") == []


def test_changing_attribution_does_not_rescore(workspace_path, monkeypatch):
    calls = count_calls(monkeypatch, ui_touchpoints, ["touchpoint_scorecard", "journey_map"])
    credit = count_calls(monkeypatch, touchpoint_attribution, ["model_credit"])
    at = open_page(PAGE, tab="attribution")
    assert calls["touchpoint_scorecard"] == 0 and credit["model_credit"] == 1
    at.number_input(key="t_lb").set_value(14).run()
    assert not _errors(at)
    assert calls["touchpoint_scorecard"] == 0 and calls["journey_map"] == 0
    assert credit["model_credit"] == 2
    assert qp(at, "lb") == ["14"] and qp(at, "tab") == ["attribution"]


def test_a_new_half_life_weighs_the_kept_touches_again(workspace_path, monkeypatch):
    credit = count_calls(monkeypatch, touchpoint_attribution,
                         ["model_credit", "compare_models_from_credit"])
    at = open_page(PAGE, tab="attribution")
    before = at.dataframe[0].value.copy()
    at.number_input(key="t_hl").set_value(1).run()
    assert not _errors(at)
    # The journeys are followed once; only the half-life's model is computed again.
    assert credit["model_credit"] == 1 and credit["compare_models_from_credit"] == 2
    after = at.dataframe[0].value
    assert qp(at, "hl") == ["1"]
    changed = [c for c in after.columns if not after[c].equals(before[c])]
    assert changed == ["time_decay"]


def test_changing_the_reach_trend_recounts_reach_only(workspace_path, monkeypatch):
    calls = count_calls(monkeypatch, ui_touchpoints,
                        ["touchpoint_scorecard", "with_reach_trend"])
    at = open_page(PAGE)
    at.selectbox(key="t_per").set_value("week").run()
    assert not _errors(at)
    assert (calls["touchpoint_scorecard"], calls["with_reach_trend"]) == (1, 1)
    assert qp(at, "per") == ["week"]


def test_without_conversion_the_page_asks_for_it(workspace_path):
    dataset = qp(open_page(PAGE), "dataset")
    at = open_page(PAGE, dataset=dataset, d="1")  # definitions in the link: nothing defined
    assert not _errors(at)
    assert at.dataframe  # the scorecard still shows reach, time and feedback
    at = open_page(PAGE, dataset=dataset, d="1", tab="attribution")
    assert not _errors(at)
    assert any("Conversion is not defined" in m.value for m in at.markdown)


def test_a_process_log_without_stages_gets_a_map_of_steps(workspace_path):
    raw = ingest.read_table(RECEIPTS)
    result = ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events")
    with Workspace(workspace_path) as ws:
        info = ws.import_result(result, name="receipts")
    at = open_page(PAGE, dataset=info.id)
    assert not _errors(at)
    assert at.dataframe[0].value["touchpoint"].notna().all()
    at = open_page(PAGE, dataset=info.id, tab="map")
    assert not _errors(at)
    charts = _charts(at)
    assert any("Step 1" in json.dumps(c) for c in charts)


def test_no_persona_column_is_a_choice_that_stays_in_the_link(workspace_path):
    at = open_page(PAGE, tab="map")
    assert at.selectbox(key="t_seg").value == "persona"  # the dataset's segment column
    at.selectbox(key="t_seg").set_value("").run()
    assert not _errors(at)
    assert at.selectbox(key="t_seg").value == "" and qp(at, "seg") == ["-"]
    reopened = open_page(PAGE, dataset=qp(at, "dataset"), seg="-", tab="map")
    assert not _errors(reopened)
    assert reopened.selectbox(key="t_seg").value == ""
