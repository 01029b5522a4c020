"""benchmarks.page_timings at a tiny size: the data, the workspace, a page measured end to end."""

from __future__ import annotations

import json

import duckdb
import pytest

from analysis.store import Workspace
from benchmarks import journey_data, page_timings


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(journey_data, "DATA_DIR", tmp_path / "data")
    return tmp_path / "data"


def test_the_data_is_shaped_like_the_demo(data_dir):
    source = journey_data.dataset(5_000)
    assert journey_data.dataset(5_000) == source  # generated once, then reused
    con = duckdb.connect()
    events = con.sql(f"SELECT * FROM '{source / 'events.csv'}'").df()
    assert 4_000 < len(events) < 6_000
    assert {"customer_id", "timestamp", "touchpoint", "channel", "stage", "revenue",
            "segment"} <= set(events.columns)
    assert {"Purchase", "Cancel subscription", "Payment failed"} <= set(events["touchpoint"])
    assert events["revenue"].notna().any()
    feedback = con.sql(f"SELECT * FROM '{source / 'feedback.csv'}'").df()
    assert set(feedback["scale"]) == {"nps", "csat", "ces"} and feedback["text"].notna().any()


def test_the_workspace_gets_the_data_and_guesses_its_definitions(data_dir, tmp_path):
    path = tmp_path / "workspace"
    dataset_id, timings = page_timings.prepare_workspace(path, 3_000)
    assert set(timings) == {"generate_s", "import_events_s", "import_feedback_s"}
    assert page_timings.prepare_workspace(path, 3_000) == (dataset_id, {})  # reused
    with Workspace(path) as ws:
        definitions = ws.definitions(dataset_id)
        assert [d.kind for d in ws.linked(dataset_id)] == ["feedback"]
    assert definitions.conversion == ("Purchase",)
    assert definitions.churn == ("Cancel subscription",)


def test_a_small_run_measures_a_page_in_a_fresh_process(data_dir, tmp_path, capsys):
    output = tmp_path / "timings.json"
    status = page_timings.main(["--events", "3000", "--pages", "Paths",
                                "--output", str(output)])
    assert status == 0
    (row,) = json.loads(output.read_text())["pages"]
    assert row["page"] == "Paths" and row["widget"] == "p_steps" and row["changed"] == "5 → 6"
    assert row["first_s"] > 0 and row["rerender_s"] > 0 and row["back_s"] > 0
    assert row["peak_rss_mb"] > 100 and row["exceptions"] == [] and row["failed"] == []
    assert "| Paths |" in capsys.readouterr().out


def test_a_tab_is_opened_by_its_link(data_dir, tmp_path):
    """A tab's entry opens the page on that tab: its widget (only drawn there) is found and
    changed."""
    output = tmp_path / "timings.json"
    status = page_timings.main(["--events", "3000", "--pages", "Touchpoints: attribution",
                                "--output", str(output)])
    assert status == 0
    (row,) = json.loads(output.read_text())["pages"]
    assert row["page"] == "Touchpoints: attribution" and row["changed"] == "7 → 14"
    assert row["exceptions"] == [] and row["failed"] == []


def test_the_verdict_holds_the_targets():
    row = {"first_s": 4.9, "rerender_s": 0.5}
    assert page_timings.verdict(row) == "ok"
    assert page_timings.verdict({**row, "first_s": 5.0}) == "SLOW: first"
    assert page_timings.verdict({"first_s": 6, "rerender_s": 1.2}) == "SLOW: first, re-render"


def test_a_page_that_did_not_finish_is_reported_not_fatal(capsys):
    ok = {"page": "Paths", "widget": "p_steps", "changed": "5 → 6", "import_s": 2.0,
          "first_s": 3.0, "rerender_s": 0.5, "back_s": 0.2, "first_rss_mb": 300.4,
          "peak_rss_mb": 310.6, "exceptions": [], "errors": []}
    row = page_timings.median_row("Paths", [ok, {**ok, "first_s": 5.0}])
    assert (row["first_s"], row["peak_rss_mb"], row["runs"]) == (4.0, 311, 2)
    failed = page_timings.median_row("Churn", [{"failed": "timed out", "exceptions": [],
                                                "errors": []}])
    assert failed["first_s"] is None and page_timings.verdict(failed) == "FAILED"
    assert "| Churn | – |" in page_timings.format_table([row, failed], 1000)
    assert page_timings.report_problems([row, failed]) == 1
    assert "Churn: failed: timed out" in capsys.readouterr().out
