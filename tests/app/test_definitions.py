"""Dataset definitions in the app: edited once on the Data page, shown in the sidebar, used by
every view, carried in links, and offered in place where one is missing."""

from __future__ import annotations

from dataclasses import replace

from streamlit.testing.v1 import AppTest

from analysis import demo
from analysis.definitions import Definitions
from analysis.store import Workspace
from tests.app.conftest import open_page, qp


def _ids(path) -> str:
    with Workspace(path) as ws:
        demo.ensure_demo(ws)
        return ws.get_meta("demo_events_id")


def _set(path, definitions: Definitions) -> None:
    with Workspace(path) as ws:
        ws.set_definitions(ws.get_meta("demo_events_id"), definitions)


def _captions(at: AppTest) -> list[str]:
    return [c.value.replace("\\", "") for c in at.sidebar.caption]


def _top_paths_table(at: AppTest):
    return next(df.value for df in at.dataframe if "path" in df.value.columns)


def test_sidebar_shows_the_definitions_and_links_carry_them(workspace_path):
    at = open_page()
    assert [e.value for e in at.exception] == []
    assert "Conversion: Purchase · Churn: Cancel subscription · Segment: persona" in \
        _captions(at)
    assert qp(at, "d") == ["1"] and qp(at, "d.conv") == ["Purchase"]
    assert qp(at, "d.churn") == ["Cancel subscription"] and qp(at, "d.segment") == ["persona"]


def test_conversion_set_on_the_data_page_reaches_paths_and_home(workspace_path):
    events_id = _ids(workspace_path)
    at = open_page("pages/7_Data.py", tab="definitions")
    assert [e.value for e in at.exception] == []
    conversion = next(m for m in at.multiselect if m.label == "Conversion touchpoints")
    conversion.set_value(["Add to cart"])
    days = next(n for n in at.number_input if n.label.startswith("Churn after"))
    days.set_value(30)
    next(b for b in at.button if b.label == "Save definitions").click()
    at.run()
    assert [e.value for e in at.exception] == []
    with Workspace(workspace_path) as ws:
        saved = ws.definitions(events_id)
    assert saved.conversion == ("Add to cart",) and saved.inactivity_days == 30
    assert qp(at, "d.conv") == ["Add to cart"] and qp(at, "d.inactive") == ["30"]
    assert "Conversion: Add to cart · Churn: Cancel subscription, 30 days inactive · " \
           "Segment: persona" in _captions(at)
    at.switch_page("pages/1_Paths.py").run()
    table = _top_paths_table(at)
    assert table["converted_share"].notna().all()
    captions = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "Conversion: Add to cart" in captions


def test_a_link_keeps_its_definitions_after_the_dataset_changes(workspace_path):
    events_id = _ids(workspace_path)
    at = open_page(dataset=events_id, d="1", **{"d.conv": ["Checkout"]})
    conversion = next(m for m in at.metric if m.label == "Conversion")
    _set(workspace_path, Definitions(conversion=("Purchase",)))
    again = open_page(dataset=events_id, d="1", **{"d.conv": ["Checkout"]})
    assert next(m for m in again.metric if m.label == "Conversion").value == conversion.value
    fresh = open_page(dataset=events_id)
    assert next(m for m in fresh.metric if m.label == "Conversion").value != conversion.value
    assert qp(fresh, "d.conv") == ["Purchase"]


def test_missing_conversion_is_offered_in_place_on_paths(workspace_path):
    _ids(workspace_path)
    with Workspace(workspace_path) as ws:
        saved = ws.definitions(ws.get_meta("demo_events_id"))
    _set(workspace_path, replace(saved, conversion=()))
    at = open_page("pages/1_Paths.py")
    assert [e.value for e in at.exception] == []
    text = " ".join(m.value for m in at.markdown)
    assert "Conversion is not defined for this dataset" in text
    table = _top_paths_table(at)
    assert "converted_share" not in table.columns or table["converted_share"].isna().all()
    at.multiselect(key="def_paths_top_conv").set_value(["Purchase"]).run()
    at.button(key="def_save_paths_top_conv").click().run()
    assert [e.value for e in at.exception] == []
    with Workspace(workspace_path) as ws:
        assert ws.definitions(ws.get_meta("demo_events_id")).conversion == ("Purchase",)
    assert _top_paths_table(at)["converted_share"].notna().all()


def test_missing_churn_and_conversion_are_offered_on_home(workspace_path):
    _ids(workspace_path)
    _set(workspace_path, Definitions())
    at = open_page()
    assert [e.value for e in at.exception] == []
    assert at.multiselect(key="def_home_conv") is not None
    assert at.multiselect(key="def_home_churn") is not None
    assert "Conversion: not set · Churn: not set" in _captions(at)
