"""Streaming import: chunk by chunk it stores exactly what the one-shot import stores."""

from __future__ import annotations

import io
import itertools
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest
from analysis.ingest.streaming import Progress, import_csv_stream, read_head
from analysis.schema import IngestError
from analysis.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"customer_id": "user", "timestamp": "when", "touchpoint": "page",
           "channel": "channel", "revenue": "amount"}

#: Bad rows of every kind, ties, ISO and US dates with a day-first leftover and an epoch,
#: a quoted value over two lines, a row with too many fields and a stray quote.
LINES = [
    "user,when,page,channel,amount,segment,note",
    "u1,2024-01-05,home,web,,a,",
    "u1,2024-01-05,cart,web,10.5,a,",
    "u2,01/06/2024 10:00,home,app,,b,fine",
    "u2,01/06/2024 10:00,home,app,,b,same time",
    ',2024-01-07T09:00:00Z,home,web,,a,"no customer"',
    "u3,not a date,home,web,,a,",
    "u3,2024-01-08T10:00:00+02:00,,web,,a,no page",
    "u3,2024-01-08T11:00:00,buy,store,abc,a,bad amount",
    'u4,2024-01-09 08:00,café,web,"1.234,5",b,"two',
    'lines"',
    "u4,2024-01-09 09:00,buy,web,3,b,",
    "u5,2024-01-10,home,web,,a,x,extra",
    "u5,13/01/2024,cart,,,a,day first",
    "u5,1704880800,buy,email,5,a,epoch",
    "",
    "u6,2024-01-11,home,web,,c,",
    "u6,2024-01-11,home,social,,c,",
    "u6,03/04/2024 10:00,cart,web,,c,ambiguous",
    "u7,,home,web,,a,missing time",
    'u7,2024-01-12,"home,web,,a,stray quote',
    "u7,2024-01-13,home,web,,a,",
    "u8,2024-01-14,home,Web,,a,",
    "u8,2024-01-14,home,web,,a,",
]


def _write(tmp_path: Path, lines: list[str], *, encoding: str = "utf-8", name: str = "e.csv",
           newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "w.duckdb") as workspace:
        yield workspace


def _one_shot(ws: Workspace, path: Path):
    df = ingest.read_table(path)
    return ws.import_result(ingest.prepare(df, MAPPING, "events"), name="one shot")


def _types(ws: Workspace, dataset_id: str, file: str = "data.parquet") -> list[tuple]:
    rel = ws.cursor().read_parquet(str(ws.path / "datasets" / dataset_id / file))
    return list(zip(rel.columns, map(str, rel.types), strict=True))


def _assert_same(ws: Workspace, one, streamed) -> None:
    pd.testing.assert_frame_equal(ws.to_pandas(streamed.id), ws.to_pandas(one.id))
    assert _types(ws, streamed.id) == _types(ws, one.id)
    pd.testing.assert_frame_equal(ws.quarantine(streamed.id), ws.quarantine(one.id))
    assert _types(ws, streamed.id, "quarantine.parquet") == _types(ws, one.id,
                                                                  "quarantine.parquet")
    assert streamed.report == one.report
    assert streamed.profile == one.profile
    assert list(streamed.profile["touchpoints"]) == list(one.profile["touchpoints"])
    assert (streamed.rows, streamed.quarantined) == (one.rows, one.quarantined)
    assert ws.definitions(streamed.id).to_dict() == ws.definitions(one.id).to_dict()


@pytest.mark.parametrize("chunk_rows", [1, 2, 7, 10_000])
def test_streamed_import_stores_what_the_one_shot_import_stores(ws, tmp_path, chunk_rows):
    path = _write(tmp_path, LINES)
    one = _one_shot(ws, path)
    assert one.quarantined >= 7 and one.report["tied_events"] >= 4  # the data tests something
    assert "%d/%m/%Y" in one.report["timestamp_format"]
    streamed = import_csv_stream(ws, path, MAPPING, name="streamed", chunk_rows=chunk_rows)
    _assert_same(ws, one, streamed)
    assert streamed.name == "streamed"


def test_more_rows_than_a_duckdb_row_group_and_a_column_without_labels(ws, tmp_path):
    """Chunks of 60,000 rows fill several row groups of the staging table (a table created
    empty and filled in one transaction once lost such rows); no channel has a value."""
    from benchmarks.import_memory import write_csv

    path = write_csv(tmp_path / "big.csv", 130_000)
    mapping = {**MAPPING, "customer_id": "user_id", "timestamp": "event_time",
               "touchpoint": "event", "revenue": "amount", "channel": "blank"}
    text = path.read_text().splitlines()
    path.write_text("\n".join(f"{line},{'blank' if i == 0 else ''}"
                              for i, line in enumerate(text)) + "\n")
    one = ws.import_result(ingest.prepare(ingest.read_table(path), mapping, "events"), name="a")
    streamed = import_csv_stream(ws, path, mapping, name="b", chunk_rows=60_000)
    assert streamed.rows == one.rows > 129_000
    _assert_same(ws, one, streamed)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8-sig", "utf-16"])
def test_encodings_and_windows_line_ends(ws, tmp_path, encoding):
    lines = [line.replace('"two', '"two lines"') for line in LINES if line != 'lines"']
    path = _write(tmp_path, lines, encoding=encoding, newline="\r\n")
    one = _one_shot(ws, path)
    streamed = import_csv_stream(ws, path, MAPPING, name="s", chunk_rows=3)
    _assert_same(ws, one, streamed)
    assert "café" in streamed.profile["touchpoints"]


def test_semicolons_a_file_object_and_an_encoding_decided_by_a_late_byte(ws, tmp_path):
    rows = [f"u{i};2024-02-{1 + i % 28:02d} 10:00;page{i % 3};web" for i in range(3000)]
    lines = ["user;when;page;channel", *rows, "u9;2024-03-01 10:00;caf\xe9;web"]
    path = _write(tmp_path, lines, encoding="latin-1")
    mapping = {k: v for k, v in MAPPING.items() if k != "revenue"}
    one = ws.import_result(ingest.prepare(ingest.read_table(path), mapping, "events"), name="a")
    with path.open("rb") as handle:
        streamed = import_csv_stream(ws, handle, mapping, name="b", chunk_rows=1000)
        assert not handle.closed
    assert streamed.report["encoding"] == one.report["encoding"] == "cp1252"
    pd.testing.assert_frame_equal(ws.to_pandas(streamed.id), ws.to_pandas(one.id))
    assert streamed.report == one.report and streamed.profile == one.profile


def test_a_chunk_of_ambiguous_dates_keeps_the_files_day_first_reading(ws, tmp_path):
    """Chunk two holds only days <= 12; read on its own it would be taken as month-first."""
    lines = ["user,when,page", *[f"u{d},{d}/03/2024,home" for d in range(20, 29)],
             *[f"v{d},{d:02d}/04/2024,home" for d in range(1, 10)]]
    path = _write(tmp_path, lines)
    mapping = {"customer_id": "user", "timestamp": "when", "touchpoint": "page"}
    streamed = import_csv_stream(ws, path, mapping, name="s", chunk_rows=9)
    stamps = ws.to_pandas(streamed.id).set_index("customer_id")["timestamp"]
    assert stamps["v2"] == pd.Timestamp("2024-04-02")
    assert streamed.report["timestamp_format"] == "%d/%m/%Y"


def _memory_limit(ws: Workspace) -> str:
    return ws.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_progress_is_monotone_and_ends_at_the_total(ws, tmp_path):
    path = _write(tmp_path, LINES)
    seen: list[Progress] = []
    limit = _memory_limit(ws)
    info = import_csv_stream(ws, path, MAPPING, name="s", chunk_rows=4, progress=seen.append)
    assert _memory_limit(ws) == limit  # capped only while importing
    assert len(seen) > 3
    for before, after in itertools.pairwise(seen):
        assert after.rows_read >= before.rows_read
        assert after.rows_quarantined >= before.rows_quarantined
        assert after.bytes_read >= before.bytes_read
    last = seen[-1]
    assert (last.rows_read, last.rows_quarantined) == (
        info.report["rows_read"], info.report["rows_quarantined"])
    assert last.bytes_read == last.total_bytes == path.stat().st_size


def _nothing_left(ws: Workspace, names: list[str]) -> None:
    assert [d.name for d in ws.datasets()] == names
    assert ws.orphan_tables() == []
    assert list((ws.path / "tmp").iterdir()) == []  # no staging file left


def test_a_failure_in_the_middle_chunk_leaves_nothing(ws, tmp_path, monkeypatch):
    from analysis.ingest import streaming

    path = _write(tmp_path, LINES)
    _one_shot(ws, path)
    calls = {"n": 0}
    real = streaming.prepare

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(streaming, "prepare", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_csv_stream(ws, path, MAPPING, name="half", chunk_rows=5)
    _nothing_left(ws, ["one shot"])


def test_a_failure_just_before_commit_leaves_nothing(ws, tmp_path):
    path = _write(tmp_path, LINES)

    def boom() -> None:
        raise RuntimeError("power cut")

    ws._before_commit = boom
    with pytest.raises(RuntimeError, match="power cut"):
        import_csv_stream(ws, path, MAPPING, name="half", chunk_rows=5)
    ws._before_commit = None
    _nothing_left(ws, [])
    assert import_csv_stream(ws, path, MAPPING, name="whole", chunk_rows=5).name == "whole"


def test_a_killed_streaming_import_leaves_no_half_dataset(tmp_path):
    path = _write(tmp_path, LINES)
    db = tmp_path / "w.duckdb"
    with Workspace(db) as workspace:
        _one_shot(workspace, path)
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from analysis.ingest.streaming import import_csv_stream
        from analysis.store import Workspace
        def hang(progress):
            if progress.rows_read > 10:
                print("INSIDE", flush=True)
                time.sleep(60)
        import_csv_stream(Workspace({str(db)!r}), {str(path)!r}, {MAPPING!r}, name="half",
                          chunk_rows=5, progress=hang)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "INSIDE"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    with Workspace(db) as workspace:
        assert [d.name for d in workspace.datasets()] == ["one shot"]
        assert workspace.orphan_tables() == []
        # The killed import's staging folder (never part of a dataset) went on opening.
        import_csv_stream(workspace, path, MAPPING, name="again", chunk_rows=5)
        _nothing_left(workspace, ["again", "one shot"])


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"user,when,page\n", b"user,when,page"])
def test_empty_and_header_only_files_give_the_one_shot_error(ws, tmp_path, content):
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError) as expected:
        ingest.read_table(path)
    with pytest.raises(IngestError) as got:
        import_csv_stream(ws, path, MAPPING, name="s")
    assert (got.value.problem, got.value.hint) == (expected.value.problem, expected.value.hint)
    _nothing_left(ws, [])


def test_only_events_are_streamed(ws, tmp_path):
    path = _write(tmp_path, LINES)
    with pytest.raises(IngestError, match="Only events"):
        import_csv_stream(ws, path, {"customer_id": "user"}, "customers", name="c")


def test_read_head_reads_the_first_rows_like_read_table(tmp_path):
    path = _write(tmp_path, LINES)
    head, attrs = read_head(path, rows=5)
    full = ingest.read_table(path)
    pd.testing.assert_frame_equal(head, full.head(5), check_index_type=False)
    assert attrs["encoding"] == full.attrs["encoding"]
    assert attrs["delimiter"] == full.attrs["delimiter"] == ","
    head, _ = read_head(io.BytesIO(path.read_bytes()), filename="e.csv")
    pd.testing.assert_frame_equal(head, full, check_index_type=False)


def test_the_data_page_previews_and_streams_a_large_csv(tmp_path, monkeypatch):
    """Above the size threshold the Data page previews the first rows and imports chunk by
    chunk with a progress bar; the dataset is the same as a one-shot import's."""
    import ui.upload
    from analysis.ingest import streaming
    from tests.app.conftest import open_page

    db = tmp_path / "w.duckdb"
    monkeypatch.setenv("JOURNEY_WORKSPACE", str(db))
    monkeypatch.setattr(ui.upload, "STREAM_BYTES", 1000)
    calls: list[dict] = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    real = streaming.import_csv_stream
    monkeypatch.setattr(streaming, "import_csv_stream", spy)
    rows = [f"c{i % 40},2024-05-{1 + i % 28:02d} 10:00,{['home', 'cart', 'buy'][i % 3]},web"
            for i in range(300)]
    content = "\n".join(["customer_id,timestamp,touchpoint,channel", *rows, "c1,,home,web"])
    at = open_page("pages/7_Data.py")
    (uploader,) = at.file_uploader
    uploader.upload("big.csv", content.encode(), "text/csv")
    at = at.run()
    assert any("first 301 rows" in c.value for c in at.caption)
    next(b for b in at.get("form_submit_button") if "Import" in b.proto.label).click()
    at = at.run()
    assert [e.value for e in at.exception] == []
    assert len(calls) == 1 and calls[0]["name"] == "big"
    with Workspace(db) as ws:
        (info,) = [d for d in ws.datasets() if d.name == "big"]
        assert (info.rows, info.quarantined) == (300, 1)
        assert info.source_checksum and info.source_name == "big.csv"
