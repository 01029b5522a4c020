"""The workspace (Parquet + SQLite catalog): round trip, persistence, delete, atomic imports,
id safety, conversion of the old single-file workspace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analysis import ingest, workspace_files
from analysis.schema import AnalysisError, UnknownDatasetError
from analysis.store import Workspace, WorkspaceError, validate_id
from tests.workspace_scripts import hanging_import

ROOT = Path(__file__).resolve().parents[1]


def _events(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": [f"u{i % 3}" for i in range(n)],
            "ts": [f"2024-01-0{1 + i % 9}T10:00:00Z" for i in range(n)],
            "page": ["home", "cart", "buy", "home", "cart", "cancel"][:n],
            "segment": ["a", "b", "a", "a", "b", "a"][:n],
        }
    )


def _prepared(df: pd.DataFrame | None = None) -> ingest.IngestResult:
    df = _events() if df is None else df
    return ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "w.duckdb") as workspace:
        yield workspace


def test_round_trip_keeps_rows_types_and_catalog(ws):
    result = _prepared()
    info = ws.import_result(result, name="  Web   events ", source_checksum="abc")
    assert info.name == "Web events"
    assert info.kind == "events" and info.rows == 6 and info.quarantined == 0
    assert info.mapping == {"customer_id": "user", "timestamp": "ts", "touchpoint": "page"}
    assert info.source_checksum == "abc"
    back = ws.to_pandas(info.id)
    assert list(back.columns) == list(result.data.columns)
    assert back["timestamp"].dtype.kind == "M"
    assert back.sort_values(["customer_id", "timestamp"]).astype(str).values.tolist() == (
        result.data.sort_values(["customer_id", "timestamp"]).astype(str).values.tolist()
    )
    assert info.profile["customers"] == 3
    assert info.profile["attributes"] == {"segment": ["a", "b"]}
    types = dict(zip(ws.table(info.id).columns, ws.table(info.id).types, strict=True))
    # A dictionary-encoded string in Parquet, read back as an ENUM of the dataset's values.
    assert str(types["touchpoint"]).startswith("ENUM(")
    assert (ws.path / "datasets" / info.id / "data.parquet").is_file()


@pytest.mark.parametrize("n_values", [3, workspace_files.LOOKUP_VALUES + 5])
def test_enums_read_through_the_lookup_equal_a_cast(tmp_path, n_values):
    """with_enums (a list lookup up to LOOKUP_VALUES values, a cast beyond) gives what a plain
    cast to the ENUM gives: values, codes, NULLs, type; a value the ENUM lacks still fails."""
    path = tmp_path / "t.parquet"
    names = [f"tp '{i}\"" for i in range(n_values)]  # quotes in the data, never in SQL text
    con = duckdb.connect()
    frame = pd.DataFrame({"touchpoint": [names[i % n_values] for i in range(500)] + [None],
                          "channel": ["web", None] * 250 + ["shop"]})
    con.from_df(frame).write_parquet(str(path))
    rel = workspace_files.with_enums(con, con.read_parquet(str(path)), "abc123")
    expected = con.sql(
        "SELECT CAST(touchpoint AS enum_touchpoint_abc123) AS touchpoint, "
        "CAST(channel AS enum_channel_abc123) AS channel FROM read_parquet(?)",
        params=[str(path)])
    assert rel.types == expected.types and str(rel.types[0]).startswith("ENUM(")
    codes = "SELECT enum_code(touchpoint), enum_code(channel), touchpoint, channel FROM r"
    assert rel.query("r", codes).fetchall() == expected.query("r", codes).fetchall()
    assert rel.filter("touchpoint IS NULL").aggregate("count(*)").fetchall() == [(1,)]
    other = tmp_path / "other.parquet"
    con.from_df(frame.assign(touchpoint="not in the ENUM")).write_parquet(str(other))
    with pytest.raises(duckdb.ConversionException):
        workspace_files.with_enums(con, con.read_parquet(str(other)), "abc123").fetchall()


def test_datasets_survive_a_restart(tmp_path):
    path = tmp_path / "w.duckdb"
    with Workspace(path) as first:
        info = first.import_result(_prepared(), name="kept")
    with Workspace(path) as second:
        assert [d.id for d in second.datasets()] == [info.id]
        assert len(second.to_pandas(info.id)) == 6


def test_environment_variable_sets_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEY_WORKSPACE", str(tmp_path / "env.duckdb"))
    with Workspace() as workspace:
        assert workspace.path == (tmp_path / "env.duckdb").resolve()
    assert (tmp_path / "env.duckdb").exists()


def test_rename_and_delete_cascades_to_linked_tables(ws):
    events = ws.import_result(_prepared(), name="events")
    fb = pd.DataFrame({"created_at": ["2024-01-02"], "comment": ["slow"], "user": ["u1"]})
    feedback = ws.import_result(
        ingest.prepare(fb, ingest.guess_mapping(fb, "feedback"), "feedback"),
        name="fb", linked_to=events.id,
    )
    assert ws.rename(events.id, "renamed").name == "renamed"
    assert [d.id for d in ws.linked(events.id)] == [feedback.id]
    assert sorted(ws.delete(events.id)) == sorted([events.id, feedback.id])
    assert ws.datasets() == []
    assert ws.orphan_tables() == []
    with pytest.raises(UnknownDatasetError):
        ws.get(events.id)


def test_link_must_point_at_events(ws):
    fb = pd.DataFrame({"created_at": ["2024-01-02"], "comment": ["slow"]})
    prepared = ingest.prepare(fb, ingest.guess_mapping(fb, "feedback"), "feedback")
    stand_alone = ws.import_result(prepared, name="fb")
    with pytest.raises(AnalysisError, match="events dataset"):
        ws.import_result(prepared, name="fb2", linked_to=stand_alone.id)


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "../../etc/passwd", "ds_x; DROP TABLE catalog", "A" * 32, None, 42,
     "0" * 31, "0" * 33, "g" * 32],
)
def test_malformed_ids_are_rejected(ws, bad):
    with pytest.raises(UnknownDatasetError, match="not a valid dataset id"):
        ws.get(bad)
    with pytest.raises(UnknownDatasetError):
        ws.table(bad)
    with pytest.raises(UnknownDatasetError):
        ws.delete(bad)


def test_unknown_well_formed_id_is_rejected(ws):
    with pytest.raises(UnknownDatasetError, match="no dataset with that id"):
        ws.get("0" * 32)


def test_ids_are_random_128_bit_hex(ws):
    ids = {ws.import_result(_prepared(), name=f"d{i}").id for i in range(5)}
    assert len(ids) == 5
    assert all(validate_id(i) == i and len(i) == 32 for i in ids)


def test_failed_import_leaves_nothing_behind(ws):
    ws.import_result(_prepared(), name="before")

    def boom() -> None:
        raise RuntimeError("disk full")

    ws._before_commit = boom
    with pytest.raises(RuntimeError, match="disk full"):
        ws.import_result(_prepared(), name="half")
    ws._before_commit = None
    assert [d.name for d in ws.datasets()] == ["before"]
    assert ws.orphan_tables() == []


def test_killed_import_leaves_no_half_dataset(tmp_path):
    """A process killed inside the import transaction leaves the workspace as it was."""
    path = tmp_path / "w.duckdb"
    with Workspace(path) as workspace:
        workspace.import_result(_prepared(), name="before")
    script = hanging_import(path, 200_000, 5000)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout.readline().strip() == "INSIDE"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    with Workspace(path) as workspace:
        assert [d.name for d in workspace.datasets()] == ["before"]
        assert workspace.orphan_tables() == []
        assert len(workspace.to_pandas(workspace.datasets()[0].id)) == 6


def test_concurrent_imports_from_two_sessions(tmp_path):
    """Two sessions (threads, as in the Streamlit server) importing at once."""
    path = tmp_path / "w.duckdb"
    first, second = Workspace(path), Workspace(path)
    errors: list[BaseException] = []

    def run(workspace: Workspace, tag: str) -> None:
        try:
            for i in range(5):
                workspace.import_result(_prepared(), name=f"{tag}{i}")
                workspace.datasets()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w, t)) for w, t in ((first, "a"), (second, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = sorted(d.name for d in first.datasets())
    assert names == sorted([f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)])
    assert all(second.to_pandas(d.id).shape[0] == 6 for d in second.datasets())
    assert first.orphan_tables() == []
    first.close()
    second.close()


def test_quarantine_is_stored_and_downloadable(ws):
    df = _events()
    df.loc[2, "ts"] = "not a date"
    df.loc[4, "user"] = ""
    info = ws.import_result(_prepared(df), name="messy")
    assert info.rows == 4 and info.quarantined == 2
    q = ws.quarantine(info.id)
    assert sorted(q["_reason"]) == ["missing customer_id", "unparseable timestamp"]
    assert sorted(q["_row"].tolist()) == [3, 5]
    assert info.report["reasons"] == {"unparseable timestamp": 1, "missing customer_id": 1}


def test_find_by_checksum(ws):
    info = ws.import_result(_prepared(), name="x", source_checksum="sum1")
    assert ws.find_by_checksum("sum1", "events").id == info.id
    assert ws.find_by_checksum("sum1", "feedback") is None
    assert ws.find_by_checksum("other", "events") is None


def test_known_customers_counts_overlap_without_sql_injection(ws):
    info = ws.import_result(_prepared(), name="x")
    assert ws.known_customers(info.id, ["u0", "u1", "u1", "zz"]) == 2
    assert ws.known_customers(info.id, ["'; DROP TABLE catalog; --"]) == 0
    assert ws.known_customers(info.id, []) == 0
    assert len(ws.datasets()) == 1


def test_the_store_keeps_names_unique_on_import_and_rename(ws):
    result = ingest.prepare(_events(), ingest.guess_mapping(_events(), "events"), "events")
    first = ws.import_result(result, name="shop")
    second = ws.import_result(result, name="Shop")
    assert (first.name, second.name) == ("shop", "Shop (2)")
    other = ws.import_result(result, name="other")
    assert ws.rename(other.id, "shop").name == "shop (3)"
    assert ws.rename(first.id, "shop").name == "shop"  # its own name is not taken


#: The catalog of the single-file DuckDB workspace of earlier versions.
_LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    rows BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    mapping VARCHAR NOT NULL,
    source_checksum VARCHAR,
    source_name VARCHAR,
    linked_to VARCHAR,
    report VARCHAR NOT NULL,
    profile VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS definitions (id VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
"""


def _legacy_workspace(path: Path) -> tuple[str, ingest.IngestResult]:
    """A workspace file as earlier versions wrote it: one events dataset (touchpoints as an
    ENUM), its quarantine, saved definitions and a meta value."""
    import json

    import duckdb

    df = _events()
    df.loc[2, "ts"] = "not a date"
    result = _prepared(df)
    dataset_id = "ab" * 16
    con = duckdb.connect(str(path))
    con.execute(_LEGACY_SCHEMA)
    data = result.data.assign(touchpoint=result.data["touchpoint"].astype("category"))
    con.register("d", data)
    con.register("q", result.quarantine)
    con.execute(f"CREATE TABLE ds_{dataset_id} AS SELECT * FROM d")
    con.execute(f"CREATE TABLE q_{dataset_id} AS SELECT * FROM q")
    profile = ingest.profile(result.data, "events")
    con.execute("INSERT INTO catalog VALUES (?, 'old shop', 'events', TIMESTAMP '2024-05-01 "
                "10:00:00', ?, ?, ?, 'sum', 'shop.csv', NULL, ?, ?)",
                [dataset_id, len(result.data), len(result.quarantine),
                 json.dumps(result.report.mapping), json.dumps(result.report.to_dict()),
                 json.dumps(profile)])
    con.execute("INSERT INTO definitions VALUES (?, ?)",
                [dataset_id, json.dumps({"conversion": ["cart"], "churn": ["cancel"]})])
    con.execute("INSERT INTO meta VALUES ('demo_events_id', ?)", [dataset_id])
    con.close()
    return dataset_id, result


def test_a_legacy_workspace_file_is_converted_in_place(tmp_path):
    path = tmp_path / "workspace.duckdb"
    dataset_id, result = _legacy_workspace(path)
    with pytest.raises(WorkspaceError, match="earlier version"):
        Workspace(path, read_only=True)  # reading alone converts nothing
    with Workspace(path) as ws:
        assert path.is_dir() and (tmp_path / "workspace.duckdb.migrated").is_file()
        (info,) = ws.datasets()
        assert (info.id, info.name, info.source_checksum) == (dataset_id, "old shop", "sum")
        assert str(info.created) == "2024-05-01 10:00:00"
        assert (info.rows, info.quarantined) == (5, 1)
        assert "customer_level" in info.profile
        back = ws.to_pandas(dataset_id)
        assert list(back.columns) == list(result.data.columns) and len(back) == 5
        assert list(ws.quarantine(dataset_id)["_reason"]) == ["unparseable timestamp"]
        assert list(ws.definitions(dataset_id).conversion) == ["cart"]
        assert ws.get_meta("demo_events_id") == dataset_id
        assert ws.orphan_tables() == []
    with Workspace(path, read_only=True) as again:  # converted once
        assert [d.id for d in again.datasets()] == [dataset_id]


def test_the_old_default_file_is_converted_into_the_new_default(tmp_path, monkeypatch):
    from analysis import store

    monkeypatch.delenv("JOURNEY_WORKSPACE", raising=False)
    monkeypatch.setattr(store, "DEFAULT_PATH", tmp_path / "data" / "workspace")
    monkeypatch.setattr(store, "LEGACY_DEFAULT", tmp_path / "data" / "workspace.duckdb")
    (tmp_path / "data").mkdir()
    dataset_id, _ = _legacy_workspace(tmp_path / "data" / "workspace.duckdb")
    with Workspace() as ws:
        assert ws.path == (tmp_path / "data" / "workspace").resolve()
        assert [d.id for d in ws.datasets()] == [dataset_id]
    assert (tmp_path / "data" / "workspace.duckdb.migrated").is_file()
    assert not (tmp_path / "data" / "workspace.duckdb").exists()
