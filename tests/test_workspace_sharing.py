"""One workspace, several processes: the app writing, readers and the command line beside it,
two writers at once, and a killed import that no reader ever sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest
from analysis.store import Workspace, WorkspaceError
from tests.workspace_scripts import hanging_import

ROOT = Path(__file__).resolve().parents[1]

#: Imports ``n`` events named ``name`` into the workspace at argv[1]: argv[2] names, argv[3] n.
WRITER = """
import sys
import pandas as pd
from analysis import ingest
from analysis.store import Workspace
path, names, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
df = pd.DataFrame({"user": [f"u{i % 97}" for i in range(n)],
                   "ts": pd.date_range("2024-01-01", periods=n, freq="min"),
                   "page": [("home", "cart", "buy")[i % 3] for i in range(n)]})
result = ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")
with Workspace(path) as ws:
    for name in names:
        ws.import_result(result, name=name)
        print(name, flush=True)
"""

#: Reads every dataset of the workspace at argv[1], read-only, again and again until it has
#: seen argv[2] datasets (or 90 s passed); prints JSON: the datasets seen and any dataset
#: whose rows differ from its catalog's.
READER = """
import json, sys, time
from analysis.store import Workspace
path, wanted = sys.argv[1], int(sys.argv[2])
seen, wrong, end = set(), [], time.monotonic() + 90
with Workspace(path, read_only=True) as ws:
    while len(seen) < wanted and time.monotonic() < end:
        for info in ws.datasets():
            rows = ws.table(info.id).count("*").fetchall()[0][0]
            seen.add(info.name)
            if rows != info.rows:
                wrong.append([info.name, rows, info.rows])
print(json.dumps({"seen": sorted(seen), "wrong": wrong}))
"""


def _events(n: int = 300) -> ingest.IngestResult:
    df = pd.DataFrame({"user": [f"u{i % 7}" for i in range(n)],
                       "ts": pd.date_range("2024-01-01", periods=n, freq="h"),
                       "page": [("home", "cart", "buy")[i % 3] for i in range(n)]})
    return ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen, timeout: int = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def test_readers_and_the_command_line_work_while_the_app_writes(tmp_path):
    path = tmp_path / "ws"
    with Workspace(path) as app:  # the app: open for writing the whole time
        info = app.import_result(_events(), name="shop")
        reader = json.loads(_finish(_python(READER, str(path), "1")))
        assert reader == {"seen": ["shop"], "wrong": []}
        done = subprocess.run(
            [sys.executable, "-m", "analysis", "overview", "--workspace", str(path),
             "--dataset", info.id, "--out", str(tmp_path / "out")],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "out" / "overview.parquet").is_file()
        app.import_result(_events(), name="later")  # still writable after the reads
        assert sorted(d.name for d in app.datasets()) == ["later", "shop"]


def test_two_writer_processes_and_a_reader_at_once(tmp_path):
    path = tmp_path / "ws"
    Workspace(path).close()
    first = _python(WRITER, str(path), ",".join(f"a{i}" for i in range(6)), "20000")
    second = _python(WRITER, str(path), ",".join(f"b{i}" for i in range(6)), "20000")
    reader = _python(READER, str(path), "12")
    for proc in (first, second):
        _finish(proc)
    seen = json.loads(_finish(reader))
    assert seen["wrong"] == []  # never a dataset whose rows were not all there
    assert len(seen["seen"]) == 12
    with Workspace(path) as ws:
        names = sorted(d.name for d in ws.datasets())
        assert names == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])
        assert all(ws.table(d.id).count("*").fetchall()[0][0] == 20000 for d in ws.datasets())
        assert ws.orphan_tables() == []


def test_an_import_killed_mid_write_is_never_seen(tmp_path):
    """Killed after its Parquet files were moved into place, before the catalog row: readers
    (already open, or opened after) never see it; the next writable open removes its folder."""
    path = tmp_path / "ws"
    with Workspace(path) as ws:
        ws.import_result(_events(), name="before")
    script = hanging_import(path, 100_000, 500)
    reader = Workspace(path, read_only=True)
    proc = _python(script)
    try:
        assert proc.stdout.readline().strip() == "INSIDE"
        assert [d.name for d in reader.datasets()] == ["before"]  # the catalog is not blocked
        assert len(list((path / "datasets").iterdir())) == 2  # its folder is in place...
        assert json.loads(_finish(_python(READER, str(path), "1")))["seen"] == ["before"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert [d.name for d in reader.datasets()] == ["before"]
    reader.close()
    with Workspace(path) as ws:  # ...and goes when the workspace is next opened for writing
        assert ws.orphan_tables() == []
        assert [d.name for d in ws.datasets()] == ["before"]
        assert len(list((path / "datasets").iterdir())) == 1


def test_a_folder_of_a_live_import_is_not_swept(tmp_path):
    """Opening the workspace for writing while another process imports leaves its folder."""
    path = tmp_path / "ws"
    Workspace(path).close()
    with Workspace(path) as ws:
        dataset = "0" * 32
        with ws._import_dir(dataset) as work:
            (work / "data.parquet").write_bytes(b"partial")
            Workspace(path).close()  # another writer opens: sweeps what is abandoned only
            assert work.is_dir()
        assert not work.exists()


def test_read_only_creates_nothing(tmp_path):
    with pytest.raises(WorkspaceError, match="no workspace"):
        Workspace(tmp_path / "none", read_only=True)
    assert not (tmp_path / "none").exists()


def test_spark_reads_a_stored_datasets_parquet_directly(tmp_path, spark):
    """The stored file is plain Parquet: a Spark job can read it where it lies."""
    with Workspace(tmp_path / "ws") as ws:
        info = ws.import_result(_events(), name="shop")
        file = ws.path / "datasets" / info.id / "data.parquet"
        df = spark.read.parquet(str(file))
        assert df.count() == info.rows
        first = df.orderBy("customer_id", "timestamp").first()
        expected = ws.to_pandas(info.id).iloc[0]
        assert (first["customer_id"], first["touchpoint"]) == (
            expected["customer_id"], expected["touchpoint"])
        assert pd.Timestamp(first["timestamp"]) == expected["timestamp"]
