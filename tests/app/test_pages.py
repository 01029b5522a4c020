"""AppTest: every page renders, upload works, bad files show errors, URLs restore the view."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import parse_qs

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import demo
from analysis.store import Workspace
from tests.app.conftest import open_page
from tests.app.conftest import qp as _qp

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    None,
    "pages/1_Paths.py",
    "pages/2_Funnels.py",
    "pages/3_Churn.py",
    "pages/4_Experiments.py",
    "pages/5_Pain_points.py",
    "pages/6_Touchpoints.py",
    "pages/7_Data.py",
]


@pytest.fixture
def empty_workspace(workspace_path) -> Path:
    """A workspace whose demo was seeded and then deleted by its user."""
    with Workspace(workspace_path) as ws:
        ws.delete(demo.ensure_demo(ws))
    return workspace_path


def _app(page: str | None = None, **params: str | list[str]) -> AppTest:
    return open_page(page, **params)


def _no_exceptions(at: AppTest) -> None:
    assert [e.value for e in at.exception] == []


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_demo(workspace_path, page):
    at = _app(page)
    _no_exceptions(at)
    assert at.title[0].value
    assert "dataset" in at.query_params


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_a_dataset(empty_workspace, page):
    at = _app(page)
    _no_exceptions(at)
    assert "dataset" not in at.query_params


def test_home_shows_demo_kpis(workspace_path):
    at = _app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers"] == "5,000"
    assert metrics["Conversion"] == "33.3%"
    assert metrics["Churn"] == "17.3%"
    assert metrics["NPS"].startswith(("+", "-"))
    assert at.get("plotly_chart")


def test_home_empty_state_points_to_upload(empty_workspace):
    at = _app()
    assert any("no dataset" in i.value.lower() for i in at.info)


def test_url_restores_dataset_and_filters(workspace_path):
    at = _app()
    dataset = _qp(at, "dataset")[0]
    at = _app(dataset=dataset, channel=["web", "app"], **{"f.segment": ["Premium"]},
              **{"from": "2025-03-01", "to": "2025-05-31"})
    _no_exceptions(at)
    assert at.multiselect(key="flt_channels").value == ["web", "app"]
    assert at.multiselect(key="flt_attr::segment").value == ["Premium"]
    assert _qp(at, "channel") == ["web", "app"]
    assert _qp(at, "from") == ["2025-03-01"]
    assert _qp(at, "to") == ["2025-05-31"]
    assert _qp(at, "dataset") == [dataset]
    ev = demo.load().events
    keep = (
        ev["channel"].isin(["web", "app"])
        & (ev["segment"] == "Premium")
        & ev["timestamp"].between("2025-03-01", "2025-06-01", inclusive="left")
    )
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers"] == f"{ev.loc[keep, 'customer_id'].nunique():,}"
    assert metrics["Events"] == f"{int(keep.sum()):,}"


def test_unknown_dataset_in_url_falls_back_with_a_warning(workspace_path):
    at = _app(dataset="0" * 32)
    _no_exceptions(at)
    assert any("does not exist" in w.value for w in at.warning)
    at = _app(dataset="../../etc/passwd")
    _no_exceptions(at)


def _upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="upload").upload(name, content, mime)
    return at.run()


def test_upload_map_and_import_through_the_page(workspace_path):
    csv = (
        b"visitor,created_at,action,channel,plan\n"
        b"v1,2024-05-01 10:00,Landing,web,gold\n"
        b"v1,2024-05-01 10:05,Signup,web,gold\n"
        b"v2,2024-05-02 09:00,Landing,app,free\n"
        b"v2,not a date,Signup,app,free\n"
        b",2024-05-03 09:00,Landing,app,free\n"
    )
    at = _app("pages/7_Data.py")
    at = _upload(at, "trial.csv", csv)
    _no_exceptions(at)
    mapped = {s.label: s.value for s in at.selectbox}
    assert mapped["customer_id *"] == "visitor"
    assert mapped["timestamp *"] == "created_at"
    assert mapped["touchpoint *"] == "action"
    submit = next(b for b in at.get("form_submit_button") if "Import" in b.proto.label)
    submit.click()
    at = at.run()
    _no_exceptions(at)
    assert any("Imported" in s.value for s in at.success)
    report = [(m.label, m.value) for m in at.metric][:3]  # the import's own report comes first
    assert report == [("Rows read", "5"), ("Rows imported", "3"), ("Rows quarantined", "2")]
    with Workspace(workspace_path) as ws:
        info = next(d for d in ws.datasets() if d.name == "trial")
        assert info.rows == 3 and info.quarantined == 2
        assert sorted(ws.quarantine(info.id)["_reason"]) == [
            "missing customer_id", "unparseable timestamp"
        ]
    assert _qp(at, "dataset") == [info.id]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.csv", b"", "empty"),
        ("noise.csv", bytes(range(256)) * 20, "binary"),
        ("header.csv", b"user,ts,page\n", "no data rows"),
        ("broken.parquet", b"PAR1" + b"\x00garbage" * 10, "Parquet"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
        ("bad.json", b'{"a": [1, 2', "JSON"),
    ],
)
def test_bad_file_shows_an_error_not_an_exception(workspace_path, name, content, words):
    at = _upload(_app("pages/7_Data.py"), name, content)
    _no_exceptions(at)
    assert at.error, "expected an error message"
    assert words.lower() in at.error[0].value.replace("\\", "").lower()


def test_missing_required_mapping_is_an_error(workspace_path):
    csv = b"alpha,beta\n1,2\n3,4\n"
    at = _upload(_app("pages/7_Data.py"), "odd.csv", csv)
    submit = next(b for b in at.get("form_submit_button") if "Import" in b.proto.label)
    submit.click()
    at = at.run()
    _no_exceptions(at)
    assert at.error and "customer_id" in at.error[0].value.replace("\\", "")


def test_excel_upload_is_read(workspace_path):
    buf = io.BytesIO()
    pd.DataFrame(
        {"user": ["a", "b"], "date": ["2024-01-01", "2024-01-02"], "page": ["x", "y"]}
    ).to_excel(buf, index=False)
    at = _upload(_app("pages/7_Data.py"), "book.xlsx", buf.getvalue(),
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    _no_exceptions(at)
    assert not at.error
    assert {s.label: s.value for s in at.selectbox}["customer_id *"] == "user"


def test_rename_and_delete_from_the_page(workspace_path):
    at = _app("pages/7_Data.py")
    pick = at.selectbox(key="manage_pick").value
    at.button(key=f"delete_{pick}").click()
    at = at.run()
    with Workspace(workspace_path) as ws:
        assert len(ws.datasets()) == 3  # nothing is deleted before the confirmation
    at.button(key=f"delete_yes_{pick}").click()
    at = at.run()
    _no_exceptions(at)
    with Workspace(workspace_path) as ws:
        assert len(ws.datasets()) == 0


def test_filters_and_dataset_survive_switching_pages(workspace_path):
    at = _app()
    dataset = _qp(at, "dataset")
    at.multiselect(key="flt_channels").select("store")
    at = at.run()
    assert _qp(at, "channel") == ["store"]
    at.switch_page("pages/3_Churn.py")
    at = at.run()
    _no_exceptions(at)
    assert _qp(at, "channel") == ["store"]
    assert _qp(at, "dataset") == dataset
    assert at.multiselect(key="flt_channels").value == ["store"]


def test_odd_numbers_in_links_never_crash(workspace_path):
    """"²" passes str.isdigit but not int(); dates outside the data; huge numbers."""
    odd = {"d": "1", "d.inactive": "²", "cin": "99999999999", "win": "³", "drop": "--1",
           "k": "²", "tol": "-1", "w": "nan,1,1,1", "rn": ["--1:x", "2:"], "mg": ["1+1", "-1+2"],
           "chg": "1999-01-01", "asof": "2999-01-01", "cdays": "⁴", "hdays": "1e9"}
    for page in PAGES[1:]:
        at = _app(page, **odd)
        _no_exceptions(at)


def _link_params(at, label: str) -> dict[str, list[str]]:
    link = next(p for p in at.get("page_link") if p.proto.label == label)
    return parse_qs(link.proto.query_string)


def test_sidebar_links_bring_back_a_pages_settings_for_the_same_definitions(workspace_path):
    """Leaving Paths and coming back from the sidebar keeps its view; once the definitions
    change (settings such as the churn rule are seeded from them), the link carries only the
    dataset, filters and definitions again."""
    at = open_page("pages/1_Paths.py", steps="3", node="channel")
    _no_exceptions(at)
    assert "node" not in _link_params(at, "Paths")  # the page's own link: no stale settings
    at.switch_page("pages/3_Churn.py")
    at.run()
    _no_exceptions(at)
    back = _link_params(at, "Paths")
    assert back["node"] == ["channel"] and back["steps"] == ["3"]
    assert back["dataset"] == _qp(at, "dataset")
    at.query_params["d.churn"] = "Support call"  # as the definitions editor writes them
    at.run()
    _no_exceptions(at)
    assert "node" not in _link_params(at, "Paths")
    assert _link_params(at, "Paths")["d.churn"] == ["Support call"]
