"""Paths and Funnels say how ties are ordered when many events share a timestamp."""

from __future__ import annotations

from analysis import demo, ingest
from analysis.store import Workspace
from tests.app.conftest import open_page

NOTE = "share their customer and timestamp"


def _date_only_dataset(workspace_path) -> str:
    events = demo.load().events.head(3000).copy()
    events["timestamp"] = events["timestamp"].dt.strftime("%Y-%m-%d")
    result = ingest.prepare(events, ingest.guess_mapping(events, "events"), "events")
    assert result.report.tied_events > 0.05 * result.report.rows_imported
    with Workspace(workspace_path) as ws:
        return ws.import_result(result, name="Dates only").id


def test_date_only_exports_say_how_ties_are_ordered(workspace_path):
    dataset = _date_only_dataset(workspace_path)
    for page in ("pages/1_Paths.py", "pages/2_Funnels.py"):
        at = open_page(page, dataset=dataset)
        assert [e.value for e in at.exception] == []
        assert any(NOTE in c.value for c in at.caption), page


def test_exact_times_need_no_note(workspace_path):
    at = open_page("pages/1_Paths.py")
    assert [e.value for e in at.exception] == []
    assert not any(NOTE in c.value for c in at.caption)
