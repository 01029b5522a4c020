"""The Data page's "Register Parquet files on the server" block: absent unless the server
allows it, refuses paths outside the allowed directories in plain words, and registers a
folder in place (nothing copied) with the mapping the user confirms."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import demo
from analysis.sources import PARQUET_ROOTS_ENV
from analysis.store import Workspace
from tests.app.conftest import open_page

DATA_PAGE = "pages/7_Data.py"
TITLE = "Register Parquet files on the server (read in place)"


def _lake(root: Path) -> Path:
    folder = root / "lake" / "events"
    folder.mkdir(parents=True)
    events = demo.load().events.head(4000).astype({"touchpoint": str, "channel": str,
                                                   "stage": str})
    raw = events.rename(columns={"customer_id": "user", "touchpoint": "action"})
    half = len(raw) // 2
    raw.iloc[:half].to_parquet(folder / "part-0.parquet", index=False)
    raw.iloc[half:].to_parquet(folder / "part-1.parquet", index=False)
    return folder


def _expanders(at) -> list[str]:
    return [e.label for e in at.expander]


def test_block_is_absent_unless_the_server_allows_it(workspace_path, monkeypatch):
    monkeypatch.delenv(PARQUET_ROOTS_ENV, raising=False)
    at = open_page(DATA_PAGE)
    assert not at.exception and TITLE not in _expanders(at)


def test_outside_the_roots_is_refused_in_words(workspace_path, tmp_path, monkeypatch):
    _lake(tmp_path)
    monkeypatch.setenv(PARQUET_ROOTS_ENV, str(tmp_path / "lake"))
    at = open_page(DATA_PAGE)
    assert TITLE in _expanders(at)
    at.text_input(key="srv_path").set_value("/etc").run()
    assert not at.exception
    assert any("outside the directories" in e.value for e in at.error)
    at.text_input(key="srv_path").set_value(str(tmp_path / "lake" / "nothing")).run()
    assert any("no file or folder" in e.value for e in at.error)


def test_a_folder_is_registered_in_place_with_the_chosen_mapping(workspace_path, tmp_path,
                                                                 monkeypatch):
    folder = _lake(tmp_path)
    monkeypatch.setenv(PARQUET_ROOTS_ENV, str(tmp_path / "lake"))
    at = open_page(DATA_PAGE)
    at.text_input(key="srv_path").set_value(str(folder)).run()
    assert not at.exception and not at.error
    # The guessed mapping finds user -> customer_id and action -> touchpoint by itself.
    next(t for t in at.text_input if t.label == "Dataset name").set_value("Lake events")
    next(b for b in at.button if b.label == "Register in place").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Workspace(workspace_path, read_only=True) as ws:
        info = next(d for d in ws.datasets() if d.name == "Lake events")
        assert info.location == f"parquet:{folder.resolve()}"
        assert info.rows == 4000 and info.mapping["customer_id"] == "user"
        back = ws.to_pandas(info.id)
        assert set(back["customer_id"]) == set(
            pd.read_parquet(folder)["user"].astype(str))
    assert not (workspace_path / "datasets" / info.id).exists()  # nothing copied
    assert at.query_params.get("dataset") in (info.id, [info.id])
