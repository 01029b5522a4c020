"""The Data page after an import: the upload is cleared and the new dataset selected; the same
file is imported twice only when confirmed; names stay unique; delete asks first; a file that
is not a workbook says so in plain words."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from analysis.naming import NAME_LIMIT, unique_name
from analysis.store import Workspace
from tests.app.conftest import open_page, qp

DATA_PAGE = "pages/7_Data.py"
CSV = (
    b"visitor,created_at,action,channel\n"
    b"v1,2024-05-01 10:00,Landing,web\n"
    b"v1,2024-05-01 10:05,Signup,web\n"
    b"v2,2024-05-02 09:00,Landing,app\n"
)


# ---------------------------------------------------------------------------- naming helper
@pytest.mark.parametrize(
    ("wanted", "taken", "expected"),
    [
        ("shop", [], "shop"),
        ("shop", ["other"], "shop"),
        ("shop", ["shop"], "shop (2)"),
        ("shop", ["shop", "shop (2)"], "shop (3)"),
        ("shop", ["shop", "shop (3)"], "shop (2)"),
        ("shop (2)", ["shop", "shop (2)"], "shop (3)"),
        ("Shop", ["shop"], "Shop (2)"),
        ("  shop   x ", ["shop x"], "shop x (2)"),
        ("(2)", ["(2)"], "(2) (2)"),
        ("", ["shop"], ""),
    ],
)
def test_unique_name(wanted, taken, expected):
    assert unique_name(wanted, taken) == expected


def test_unique_name_fits_the_stored_length():
    long = "x" * (NAME_LIMIT + 30)
    name = unique_name(long, ["x" * NAME_LIMIT])
    assert name.endswith(" (2)") and len(name) == NAME_LIMIT


# ---------------------------------------------------------------------------- page helpers
def _data_page() -> AppTest:
    return open_page(DATA_PAGE)


def _no_exceptions(at: AppTest) -> None:
    assert [e.value for e in at.exception] == []


def _upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    """Upload into whichever uploader the page shows now (its key changes after an import)."""
    (uploader,) = at.file_uploader
    uploader.upload(name, content, mime)
    return at.run()


def _import_button(at: AppTest):
    return next((b for b in at.get("form_submit_button") if "Import" in b.proto.label), None)


def _import(at: AppTest) -> AppTest:
    _import_button(at).click()
    at = at.run()
    _no_exceptions(at)
    return at


def _names(workspace_path) -> list[str]:
    with Workspace(workspace_path) as ws:
        return sorted(d.name for d in ws.datasets())


def _text(elements) -> str:
    return " ".join(e.value for e in elements).replace("\\", "")


# ---------------------------------------------------------------------------- after an import
def test_import_clears_the_upload_and_selects_the_new_dataset(workspace_path):
    at = _import(_upload(_data_page(), "trial.csv", CSV))
    with Workspace(workspace_path) as ws:
        new = next(d for d in ws.datasets() if d.name == "trial")
    (uploader,) = at.file_uploader
    assert uploader.key != "upload" and not uploader.value  # a fresh, empty uploader
    assert _import_button(at) is None  # the mapping form went with the upload
    assert at.selectbox(key="ctx_dataset").value == new.id  # the sidebar
    assert at.selectbox(key="manage_pick").value == new.id  # "dataset to inspect"
    assert qp(at, "dataset") == [new.id]
    assert "Imported “trial”" in _text(at.success)


def test_same_file_again_asks_first_and_imports_only_when_confirmed(workspace_path):
    at = _import(_upload(_data_page(), "trial.csv", CSV))
    before = _names(workspace_path)
    at = _upload(at, "trial.csv", CSV)
    _no_exceptions(at)
    warning = _text(at.warning)
    assert "already imported as “trial” on 20" in warning and "Import it again?" in warning
    assert _import_button(at) is None  # nothing to import from until the user answers
    assert _names(workspace_path) == before

    at.button(key="reimport_yes").click()
    at = at.run()
    _no_exceptions(at)
    assert _names(workspace_path) == before  # confirming opens the form; it imports nothing
    assert at.text_input[0].value == "trial (2)"
    at = _import(at)
    assert sorted([*before, "trial (2)"]) == _names(workspace_path)
    assert "Imported “trial (2)”" in _text(at.success)


def test_same_file_again_can_open_the_existing_dataset_instead(workspace_path):
    at = _import(_upload(_data_page(), "trial.csv", CSV))
    before = _names(workspace_path)
    first = at.selectbox(key="manage_pick").value
    with Workspace(workspace_path) as ws:
        another = next(d.id for d in ws.datasets() if d.id != first)
    at.selectbox(key="manage_pick").set_value(another)
    at = at.run()
    assert at.selectbox(key="manage_pick").value == another
    at = _upload(at, "trial.csv", CSV)
    at.button(key="reimport_no").click()
    at = at.run()
    _no_exceptions(at)
    assert _names(workspace_path) == before
    assert not at.file_uploader[0].value
    assert at.selectbox(key="manage_pick").value == first


def test_a_second_dataset_of_the_same_name_gets_a_number(workspace_path):
    at = _import(_upload(_data_page(), "trial.csv", CSV))
    other = CSV + b"v3,2024-05-03 09:00,Landing,web\n"  # another file, same name
    at = _upload(at, "trial.csv", other)
    assert not at.warning  # not the same bytes: no question
    assert at.text_input[0].value == "trial (2)"
    at.text_input[0].set_value("trial")  # typing the taken name back does not collide
    at = _import(at)
    assert "trial (2)" in _names(workspace_path)
    assert "already exists" in _text(at.info)


def test_rename_to_a_taken_name_gets_a_number(workspace_path):
    at = _import(_upload(_data_page(), "trial.csv", CSV))
    taken = next(n for n in _names(workspace_path) if n != "trial")
    form_input = next(t for t in at.text_input if t.value == "trial")
    form_input.set_value(taken)
    next(b for b in at.get("form_submit_button") if b.proto.label == "Rename").click()
    at = at.run()
    _no_exceptions(at)
    assert f"{taken} (2)" in _names(workspace_path)
    assert "already exists" in _text(at.info)


def test_datasets_table_has_human_labels_and_formatted_counts(workspace_path):
    at = _data_page()
    table = next(d for d in at.dataframe if "quarantined" in d.value.columns)
    config = json.loads(table.proto.columns)
    assert config["rows"]["label"] == "Rows imported"
    assert config["rows"]["type_config"]["format"] == "localized"
    assert config["created"]["label"] == "Imported (UTC)"
    assert {c["label"] for k, c in config.items() if k != "_index"} >= {"Name", "Source file"}


# ---------------------------------------------------------------------------- delete
def test_delete_asks_first_and_names_the_linked_tables(workspace_path):
    at = _data_page()
    with Workspace(workspace_path) as ws:
        events = next(d for d in ws.datasets() if d.kind == "events")
        linked = ws.linked(events.id)
    assert linked, "the demo links feedback to its events"
    at.selectbox(key="manage_pick").set_value(events.id)
    at = at.run()
    at.button(key=f"delete_{events.id}").click()
    at = at.run()
    _no_exceptions(at)
    question = _text(at.warning)
    assert f"Delete “{events.name}”" in question
    assert all(f"“{d.name}”" in question for d in linked)
    assert "cannot be undone" in question
    assert len(_names(workspace_path)) == 1 + len(linked)  # nothing deleted yet

    at.button(key=f"delete_no_{events.id}").click()  # cancel
    at = at.run()
    assert not at.warning and len(_names(workspace_path)) == 1 + len(linked)

    at.button(key=f"delete_{events.id}").click()
    at = at.run()
    at.button(key=f"delete_yes_{events.id}").click()
    at = at.run()
    _no_exceptions(at)
    assert _names(workspace_path) == []
    assert "Deleted" in _text(at.info)


# ---------------------------------------------------------------------------- Excel
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_random_bytes_named_xlsx_give_a_plain_message(workspace_path):
    at = _upload(_data_page(), "report.xlsx", bytes(range(256)) * 16, XLSX_MIME)
    _no_exceptions(at)
    message = _text(at.error)
    assert "report.xlsx is not an Excel workbook" in message
    assert "Save it as .xlsx from Excel" in message and "CSV" in message
    assert "engine" not in message and "openpyxl" not in message
    assert _import_button(at) is None


def test_csv_named_xlsx_is_read_as_text_with_a_note(workspace_path):
    at = _upload(_data_page(), "export.xlsx", CSV, XLSX_MIME)
    _no_exceptions(at)
    assert not at.error
    assert "not an Excel workbook but comma-separated text" in _text(at.info)
    assert {s.label: s.value for s in at.selectbox}["customer_id *"] == "visitor"
