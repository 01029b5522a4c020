"""The Pain points page: the planted pain point on top, settings and topic edits in the URL,
feedback-only datasets, and user text kept plain."""

from __future__ import annotations

from pathlib import Path

from analysis import ingest
from analysis.store import Workspace
from tests.app.conftest import open_page, qp

PAGE = "pages/5_Pain_points.py"
AIRLINE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "airline_sentiment.csv"


def _errors(at) -> list:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def test_demo_ranks_the_planted_payment_failure_first(workspace_path):
    at = open_page(PAGE)
    assert not _errors(at)
    matrix = at.dataframe[0].value
    assert matrix.iloc[0]["touchpoint"] == "Payment failed"
    assert "churn_hazard_ratio" in matrix.columns
    assert len(at.get("plotly_chart")) == 3  # quadrant, journeys of the drilled row, trend
    assert qp(at, "row")  # the drilled-down row is in the link


def test_settings_come_from_the_link(workspace_path):
    at = open_page(PAGE, k="5", w="1,0,0,0", tol="3", measure="nps")
    assert not _errors(at)
    assert at.selectbox(key="p_k").value == 5
    assert at.number_input(key="p_w_reach").value == 1.0
    assert at.number_input(key="p_w_severity").value == 0.0
    assert at.number_input(key="p_tol").value == 3
    assert at.selectbox(key="p_measure").value == "nps"
    assert qp(at, "k") == ["5"] and qp(at, "w") == ["1,0,0,0"] and qp(at, "tol") == ["3"]


def test_rename_and_merge_go_into_the_link(workspace_path):
    at = open_page(PAGE, k="5")
    at.text_input(key="p_ren_text").input("Card <b>declined</b>").run()
    at.button(key="p_ren_go").click().run()
    assert not _errors(at)
    renamed = qp(at, "rn")
    assert len(renamed) == 1 and renamed[0].endswith(":Card <b>declined</b>")
    # Shown as typed, never as HTML or Markdown.
    assert any("Card \\<b\\>declined\\</b\\>" in m.value for m in at.markdown)
    at.multiselect(key="p_mg_ids").set_value([1, 2]).run()  # k=5: topics 0 to 4
    at.button(key="p_mg_go").click().run()
    assert not _errors(at)
    assert len(qp(at, "mg")) == 1
    reopened = open_page(PAGE, k="5", rn=renamed, mg=qp(at, "mg"))
    assert not _errors(reopened)
    assert len(reopened.selectbox(key="p_ren_id").options) == 4  # five topics, two merged


def test_feedback_only_dataset_with_categories(workspace_path):
    raw = ingest.read_table(AIRLINE)
    result = ingest.prepare(raw, ingest.guess_mapping(raw, "feedback"), "feedback")
    with Workspace(workspace_path) as ws:
        info = ws.import_result(result, name="airline")
    at = open_page(PAGE, dataset=info.id, src="category")
    assert not _errors(at)
    assert at.radio(key="p_src").value == "category"
    matrix = at.dataframe[0].value
    assert "churn_hazard_ratio" not in matrix.columns  # no journeys, no ratio
    assert "(none)" not in set(matrix["topic"].head(10))
    assert any("Feedback only" in c.value for c in at.caption)
