"""The Touchpoints page: the planted make and break points, attribution, online/offline
completion and the journey map, every setting in the URL, real files without stages."""

from __future__ import annotations

import json
from pathlib import Path

from analysis import ingest
from analysis.store import Workspace
from tests.app.conftest import count_calls, open_page, qp
from ui import touchpoints as ui_touchpoints

PAGE = "pages/6_Touchpoints.py"
RECEIPTS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "receipt_process_log.csv"


def _errors(at) -> list:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_demo_shows_the_planted_make_and_break_points(workspace_path):
    at = open_page(PAGE)
    assert not _errors(at)
    card = at.dataframe[0].value
    roles = dict(zip(card["touchpoint"], card["role"], strict=True))
    assert roles["Payment failed"] == "Break"
    assert "Make" in {roles.get("Checkout"), roles.get("Add to cart")}
    assert card.iloc[0]["role"] == "Break"  # break points first
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Break points"]) >= 1
    assert metrics["Converting customers"] == "1,665"
    # attribution, completion, journey map (and the fading chart when any fades)
    assert len(_charts(at)) >= 3
    assert any("Markov" in str(c) for c in _charts(at))


def test_settings_come_from_the_link_and_stay_there(workspace_path):
    at = open_page(PAGE, by="channel", lb="30", hl="3", per="week", np="8", tol="3",
                   seg="persona", pa="Loyalist", pb="Deal hunter", on=["web", "app"],
                   off=["-"])
    assert not _errors(at)
    assert at.session_state["t_by"] == "channel"
    assert at.number_input(key="t_lb").value == 30
    assert at.number_input(key="t_hl").value == 3
    assert at.selectbox(key="t_per").value == "week"
    assert at.number_input(key="t_np").value == 8
    assert at.number_input(key="t_tol").value == 3
    assert at.selectbox(key="t_pa").value == "Loyalist"
    assert at.selectbox(key="t_pb").value == "Deal hunter"
    assert at.multiselect(key="t_on").value == ["web", "app"]
    assert at.multiselect(key="t_off").value == []
    for key, value in (("by", ["channel"]), ("lb", ["30"]), ("hl", ["3"]), ("per", ["week"]),
                       ("np", ["8"]), ("tol", ["3"]), ("seg", ["persona"]),
                       ("pa", ["Loyalist"]), ("pb", ["Deal hunter"]), ("off", ["-"])):
        assert qp(at, key) == value, key
    assert set(qp(at, "on")) == {"web", "app"}
    # The attribution table is by channel now.
    assert any({"channel", "markov"} <= set(df.value.columns) for df in at.dataframe)
    # Nothing is offline: every converter finishes online or unclassified.
    assert {m.label: m.value for m in at.metric}["Started online, finished offline"] == "0.0%"


def test_defaults_stay_out_of_the_link_and_bad_values_fall_back(workspace_path):
    at = open_page(PAGE, lb="²", hl="-4", per="fortnight", np="999", by="<script>", pa="Nobody")
    assert not _errors(at)
    assert at.number_input(key="t_lb").value == 0
    assert at.number_input(key="t_hl").value == 7
    assert at.selectbox(key="t_per").value == "month"
    assert at.selectbox(key="t_pa").value == ""
    for key in ("lb", "hl", "per", "np", "by", "pa", "pb", "on", "off"):
        assert qp(at, key) == [], key


def test_changing_attribution_does_not_rescore(workspace_path, monkeypatch):
    calls = count_calls(monkeypatch, ui_touchpoints,
                        ["touchpoint_scorecard", "compare_models", "journey_map"])
    at = open_page(PAGE)
    assert calls["touchpoint_scorecard"] == 1 and calls["compare_models"] == 1
    at.number_input(key="t_lb").set_value(14).run()
    assert not _errors(at)
    assert calls["touchpoint_scorecard"] == 1 and calls["journey_map"] == 1
    assert calls["compare_models"] == 2
    assert qp(at, "lb") == ["14"]


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
    assert any("Conversion is not defined" in m.value for m in at.markdown)
    assert at.dataframe  # the scorecard still shows reach, time and feedback


def test_a_process_log_without_stages_gets_a_map_of_steps(workspace_path):
    raw = ingest.read_table(RECEIPTS)
    result = ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events")
    with Workspace(workspace_path) as ws:
        info = ws.import_result(result, name="receipts")
    at = open_page(PAGE, dataset=info.id)
    assert not _errors(at)
    assert at.dataframe[0].value["touchpoint"].notna().all()
    charts = _charts(at)
    assert any("Step 1" in json.dumps(c) for c in charts)


def test_no_persona_column_is_a_choice_that_stays_in_the_link(workspace_path):
    at = open_page(PAGE)
    assert at.selectbox(key="t_seg").value == "persona"  # the dataset's segment column
    at.selectbox(key="t_seg").set_value("").run()
    assert not _errors(at)
    assert at.selectbox(key="t_seg").value == "" and qp(at, "seg") == ["-"]
    reopened = open_page(PAGE, dataset=qp(at, "dataset"), seg="-")
    assert not _errors(reopened)
    assert reopened.selectbox(key="t_seg").value == ""
