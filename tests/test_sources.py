"""Parquet on the server registered in place: off by default, confined to the configured roots
(checked again at every query), columns mapped by expressions, incomplete rows quarantined."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from analysis import frames, paths
from analysis.sources import PARQUET_ROOTS_ENV, ExternalSourceError
from analysis.store import Workspace

ODD = 'who"; DROP TABLE catalog; --'


def _events(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame({
        ODD: [f"c{i % 4}" for i in range(n)],
        "when": pd.date_range("2024-03-01", periods=n, freq="D").astype(str),
        "event": [["home", "cart", "buy"][i % 3] if i != 5 else None for i in range(n)],
        "channel": ["web", "app"] * (n // 2),
        "segment": ["a", "b", "a", "b"] * (n // 4),
    })


@pytest.fixture
def lake(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    (root / "events").mkdir(parents=True)
    monkeypatch.setenv(PARQUET_ROOTS_ENV, str(root))
    return root


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "ws") as workspace:
        yield workspace


MAPPING = {"customer_id": ODD, "timestamp": "when", "touchpoint": "event"}


def test_off_unless_roots_are_configured(ws, tmp_path, monkeypatch):
    monkeypatch.delenv(PARQUET_ROOTS_ENV, raising=False)
    file = tmp_path / "e.parquet"
    _events().to_parquet(file)
    with pytest.raises(ExternalSourceError, match="off") as error:
        ws.register_parquet(file, name="lake", mapping=MAPPING)
    assert PARQUET_ROOTS_ENV in error.value.hint
    assert ws.datasets() == []


def test_a_file_is_read_in_place_with_its_columns_mapped(ws, lake):
    file = lake / "events" / "part-0.parquet"
    _events().to_parquet(file)
    info = ws.register_parquet(file, name="lake events", mapping=MAPPING)
    assert info.location == f"parquet:{file.resolve()}"
    assert (info.rows, info.quarantined) == (11, 1)
    assert list(ws.path.joinpath("datasets").iterdir()) == []  # nothing copied
    rel = ws.table(info.id)
    assert rel.columns[:3] == ["customer_id", "timestamp", "touchpoint"]
    assert str(dict(zip(rel.columns, rel.types, strict=True))["timestamp"]) == "TIMESTAMP"
    assert len(ws.to_pandas(info.id)) == 11
    q = ws.quarantine(info.id)
    assert q["_reason"].tolist() == ["missing touchpoint"]
    assert info.profile["customers"] == 4 and info.profile["touchpoints"]["home"] == 4
    assert info.profile["attributes"] == {"segment": ["a", "b"]}
    assert set(info.profile["channels"]) == {"web", "app"}
    assert ws.known_customers(info.id, ["c1", "zz"]) == 1
    links = paths.sankey_links(frames.load(ws, info.id))
    assert links["customers"].sum() > 0


def test_a_folder_of_files_with_different_columns(ws, lake):
    _events().to_parquet(lake / "events" / "a.parquet")
    (lake / "events" / "2024").mkdir()
    _events().drop(columns="segment").to_parquet(lake / "events" / "2024" / "b.parquet")
    (lake / "events" / "notes.txt").write_text("not parquet")
    info = ws.register_parquet(lake / "events", name="folder", mapping=MAPPING)
    assert info.rows == 22 and ws.table(info.id).count("*").fetchall()[0][0] == 22
    assert info.report["files"] == 2


def test_outside_the_roots_and_through_a_symlink_is_refused(ws, lake, tmp_path):
    outside = tmp_path / "secret.parquet"
    _events().to_parquet(outside)
    with pytest.raises(ExternalSourceError, match="outside"):
        ws.register_parquet(outside, name="x", mapping=MAPPING)
    link = lake / "events" / "link.parquet"
    os.symlink(outside, link)
    with pytest.raises(ExternalSourceError, match="outside"):
        ws.register_parquet(link, name="x", mapping=MAPPING)
    with pytest.raises(ExternalSourceError, match="no file or folder"):
        ws.register_parquet(lake / "missing.parquet", name="x", mapping=MAPPING)


def test_roots_are_checked_again_at_query_time(ws, lake, monkeypatch, tmp_path):
    file = lake / "events" / "e.parquet"
    _events().to_parquet(file)
    info = ws.register_parquet(file, name="lake", mapping=MAPPING)
    monkeypatch.setenv(PARQUET_ROOTS_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(ExternalSourceError, match="outside"):
        ws.table(info.id)
    monkeypatch.delenv(PARQUET_ROOTS_ENV)
    with pytest.raises(ExternalSourceError, match="off"):
        ws.to_pandas(info.id)


def test_a_missing_required_column_says_which_and_delete_keeps_the_files(ws, lake):
    from analysis.schema import MappingError

    file = lake / "events" / "e.parquet"
    _events().to_parquet(file)
    with pytest.raises(MappingError, match="customer_id"):
        ws.register_parquet(file, name="x", mapping={"timestamp": "when", "touchpoint": "event"})
    info = ws.register_parquet(file, name="x", mapping=MAPPING)
    assert ws.delete(info.id) == [info.id]
    assert file.is_file() and ws.datasets() == []
