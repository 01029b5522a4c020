"""``python -m analysis``: every subcommand on the demo data equals the public API's result;
bad input gives a clear message, no traceback and the documented exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from analysis import (
    cli_views,
    experiments,
    funnel,
    ingest,
    overview,
    painpoints,
    paths,
    survival,
    touchpoints,
)
from analysis.cli import main
from analysis.demo import DEMO_NAME, ensure_demo
from analysis.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
EVENTS = str(ROOT / "data" / "demo" / "events.parquet")
FEEDBACK = str(ROOT / "data" / "demo" / "feedback.parquet")


def _prepared(path: str, kind: str) -> pd.DataFrame:
    raw = ingest.read_table(path)
    return ingest.prepare(raw, ingest.guess_mapping(raw, kind), kind).data


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    """The demo events as the CLI reads them (like an upload)."""
    return _prepared(EVENTS, "events")


@pytest.fixture(scope="module")
def feedback() -> pd.DataFrame:
    return _prepared(FEEDBACK, "feedback")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _same(written: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(written.reset_index(drop=True),
                                  expected.reset_index(drop=True), check_dtype=False,
                                  check_categorical=False)


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


# ---------------------------------------------------------------------------- each view


def test_paths_equal_the_api_and_write_a_manifest(tmp_path, capsys, events):
    code, out, _ = _run(capsys, "paths", EVENTS, "--out", str(tmp_path), "--max-steps", "4")
    assert code == 0
    _same(pd.read_parquet(tmp_path / "sankey_links.parquet"),
          paths.sankey_links(events, max_steps=4, top_nodes=10))
    _same(pd.read_parquet(tmp_path / "top_paths.parquet"),
          paths.top_paths(events, max_steps=4, conversion=["Purchase"],
                          churn=["Cancel subscription"]))
    html = (tmp_path / "sankey.html").read_text()  # plotly.js inlined, nothing fetched
    assert html.count("plotly.js v") == 1 and "default-src 'none'" in html
    manifest = _manifest(tmp_path)
    assert manifest["command"] == "paths" and manifest["options"]["max_steps"] == 4
    assert manifest["source"]["rows_read"] == len(events)
    assert {f["file"] for f in manifest["files"]} == {
        "sankey_links.parquet", "top_paths.parquet", "sankey.html"}
    assert manifest["definitions"]["conversion"] == ["Purchase"]
    assert "pandas" in manifest["versions"] and "duckdb" in manifest["versions"]
    assert "sankey_links.parquet" in out and "0 quarantined" in out


def test_overview(tmp_path, capsys, events, feedback):
    code, _, _ = _run(capsys, "overview", EVENTS, "--feedback", FEEDBACK, "--out",
                      str(tmp_path))
    assert code == 0
    row = pd.read_parquet(tmp_path / "overview.parquet").iloc[0]
    expected = overview.dataset_overview(events, feedback)
    assert row["customers"] == expected.customers == 5000
    assert row["conversion_rate"] == pytest.approx(expected.conversion_rate)
    assert row["nps"] == pytest.approx(expected.nps)
    _same(pd.read_parquet(tmp_path / "weekly_activity.parquet"),
          overview.weekly_activity(events))
    assert (tmp_path / "activity.html").is_file()


def test_funnel_with_steps_and_window(tmp_path, capsys, events):
    steps = ["Product page", "Add to cart", "Checkout", "Purchase"]
    code, _, _ = _run(capsys, "funnel", EVENTS, "--out", str(tmp_path), "--steps", *steps,
                      "--window-days", "30")
    assert code == 0
    _same(pd.read_parquet(tmp_path / "funnel.parquet"),
          funnel.funnel(events, steps, window=timedelta(days=30)))
    assert (tmp_path / "funnel.html").is_file()


def test_churn_curves_logrank_and_cox(tmp_path, capsys, events):
    code, _, _ = _run(capsys, "churn", EVENTS, "--out", str(tmp_path), "--by", "segment",
                      "--covariates", "segment")
    assert code == 0
    table = survival.churn_table(events, churn_touchpoints=["Cancel subscription"])
    km = survival.kaplan_meier(table, by="segment")
    _same(pd.read_parquet(tmp_path / "km_summary.parquet"), km.summary)
    _same(pd.read_parquet(tmp_path / "km_curves.parquet"), km.curves)
    assert _manifest(tmp_path)["results"]["logrank_p"] == pytest.approx(km.logrank_p)
    cox = survival.cox_hazards(table, covariates=["segment"])
    _same(pd.read_parquet(tmp_path / "cox.parquet"), cox.table)
    assert (tmp_path / "survival.html").is_file() and (tmp_path / "hazards.html").is_file()


def test_experiments_ab_and_did(tmp_path, capsys, events, feedback):
    code, _, _ = _run(capsys, "experiments", EVENTS, "--feedback", FEEDBACK, "--out",
                      str(tmp_path / "ab"), "--variant", "variant", "--control", "A",
                      "--kpis", "converted", "revenue")
    assert code == 0
    units = experiments.customer_kpis(events, feedback, conversion=["Purchase"],
                                      churn=["Cancel subscription"], attributes=["variant"])
    _same(pd.read_parquet(tmp_path / "ab" / "customer_kpis.parquet"), units)
    expected = experiments.ab_effects(units, ["converted", "revenue"],
                                      experiments.kpi_catalog(), variant="variant",
                                      control="A")
    _same(pd.read_parquet(tmp_path / "ab" / "effects.parquet"), expected.table)
    assert (tmp_path / "ab" / "effects.html").is_file()

    code, _, _ = _run(capsys, "experiments", EVENTS, "--out", str(tmp_path / "did"),
                      "--treated-column", "region", "--treated", "North",
                      "--change", "2025-07-01", "--kpis", "converted")
    assert code == 0
    effects = pd.read_parquet(tmp_path / "did" / "effects.parquet")
    assert effects.loc[0, "difference"] == pytest.approx(12.4, abs=4)  # planted: +10 pp


def test_painpoints_need_feedback_and_rank_it(tmp_path, capsys, events, feedback):
    code, _, err = _run(capsys, "painpoints", EVENTS, "--out", str(tmp_path))
    assert code == 2 and "--feedback" in err
    code, _, _ = _run(capsys, "painpoints", EVENTS, "--feedback", FEEDBACK, "--out",
                      str(tmp_path), "--n-topics", "6")
    assert code == 0
    matrix = pd.read_parquet(tmp_path / "priority_matrix.parquet")
    expected = painpoints.pain_points(feedback, events, n_topics=6, churn=["Cancel subscription"],
                                      conversion=["Purchase"], start_at=["Purchase"])
    _same(matrix, expected.matrix)
    assert matrix["priority"].is_monotonic_decreasing
    assert "Payment failed" in set(matrix["touchpoint"].head(5))
    assert len(pd.read_parquet(tmp_path / "comments.parquet")) == 2954
    assert (tmp_path / "priority.html").is_file()


def test_touchpoints_scorecard_and_attribution(tmp_path, capsys, events):
    code, _, _ = _run(capsys, "touchpoints", EVENTS, "--out", str(tmp_path))
    assert code == 0
    card = pd.read_parquet(tmp_path / "scorecard.parquet").set_index("touchpoint")
    assert card.loc["Payment failed", "role"] == "break"
    assert card.loc["Checkout", "role"] == "make"
    _same(pd.read_parquet(tmp_path / "attribution.parquet"),
          touchpoints.compare_models(events, conversion=["Purchase"]))
    for name in ("journey_map.html", "attribution.html", "online_offline.html",
                 "journey_map_cells.parquet", "online_offline_paths.parquet"):
        assert (tmp_path / name).is_file(), name


# ---------------------------------------------------------------------------- files


def _csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "export.csv"
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def test_csv_output_is_formula_safe_and_quarantine_is_written(tmp_path, capsys):
    source = _csv(tmp_path, """
        user,time,event
        u1,2025-01-01 10:00,Visit
        u1,2025-01-01 10:05,=1+1
        u2,2025-01-02 09:00,Visit
        u2,2025-01-02 09:10,=1+1
        u3,not a date,Visit
    """)
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, "paths", source, "--out", str(out), "--format", "csv")
    assert code == 0
    links = (out / "sankey_links.csv").read_text(encoding="utf-8-sig")
    assert "'=1+1" in links
    assert not any(cell.startswith("=") for line in links.splitlines()
                   for cell in line.split(","))
    quarantine = pd.read_csv(out / "quarantine_events.csv", encoding="utf-8-sig")
    assert len(quarantine) == 1 and quarantine["_reason"].str.contains("time").all()
    assert "1 quarantined" in stdout and "quarantine_events.csv" in stdout


# ---------------------------------------------------------------------------- bad input


def test_missing_file_exits_3(tmp_path, capsys):
    code, _, err = _run(capsys, "paths", str(tmp_path / "nope.csv"), "--out", str(tmp_path))
    assert code == 3 and "There is no file" in err and "nope.csv" in err


def test_csv_without_customer_column_exits_3(tmp_path, capsys):
    source = _csv(tmp_path, """
        time,event
        2025-01-01 10:00,Visit
    """)
    code, _, err = _run(capsys, "paths", source, "--out", str(tmp_path / "o"))
    assert code == 3 and "customer_id" in err and "--column customer_id=" in err


def test_unknown_touchpoint_in_steps_exits_3(tmp_path, capsys):
    code, _, err = _run(capsys, "funnel", EVENTS, "--out", str(tmp_path), "--steps",
                        "Product page", "Chekout")
    assert code == 3 and "Chekout" in err and "Checkout" in err


def test_no_events_in_the_date_range_exits_3(tmp_path, capsys):
    code, _, err = _run(capsys, "paths", EVENTS, "--out", str(tmp_path), "--from", "2030-01-01")
    assert code == 3 and "no events between 2030-01-01" in err and "--from/--to" in err


def test_usage_errors_exit_2(tmp_path, capsys):
    assert _run(capsys, "sankey", EVENTS, "--out", str(tmp_path))[0] == 2
    assert _run(capsys, "paths", EVENTS)[0] == 2  # --out is required
    code, _, err = _run(capsys, "paths", EVENTS, "--dataset", "x", "--out", str(tmp_path))
    assert code == 2 and "one source" in err
    assert _run(capsys, "paths", "--out", str(tmp_path))[0] == 2
    assert _run(capsys, "paths", EVENTS, "--out", str(tmp_path), "--from", "2025-13-01")[0] == 2


def test_unexpected_error_exits_1_without_traceback(tmp_path, capsys, monkeypatch):
    def broken(source, args):
        raise RuntimeError("boom")

    monkeypatch.setitem(cli_views.RUNNERS, "paths", broken)
    code, _, err = _run(capsys, "paths", EVENTS, "--out", str(tmp_path))
    assert code == 1 and "boom" in err and "report this" in err
    assert main(["paths", EVENTS, "--out", str(tmp_path), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


# ---------------------------------------------------------------------------- workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("ws") / "workspace.duckdb"
    with Workspace(path) as ws:
        dataset = ensure_demo(ws)
    return path, dataset


def test_workspace_dataset_equals_the_file(tmp_path, capsys, workspace, events):
    path, dataset = workspace
    code, out, _ = _run(capsys, "paths", "--workspace", str(path), "--dataset", DEMO_NAME,
                        "--out", str(tmp_path))
    assert code == 0 and dataset in out
    _same(pd.read_parquet(tmp_path / "sankey_links.parquet"), paths.sankey_links(events))
    code, _, _ = _run(capsys, "overview", "--workspace", str(path), "--dataset", dataset,
                      "--out", str(tmp_path / "o"))
    row = pd.read_parquet(tmp_path / "o" / "overview.parquet").iloc[0]
    assert code == 0 and row["feedback"] == 2954  # the linked feedback came along


def test_workspace_errors(tmp_path, capsys, workspace):
    path, _ = workspace
    code, _, err = _run(capsys, "paths", "--workspace", str(path), "--dataset", "nope",
                        "--out", str(tmp_path))
    assert code == 3 and DEMO_NAME in err
    code, _, err = _run(capsys, "paths", "--workspace", str(tmp_path / "none.duckdb"),
                        "--dataset", "x", "--out", str(tmp_path))
    assert code == 4 and "no workspace" in err


def test_the_command_line_reads_while_the_app_holds_the_workspace(tmp_path, capsys, workspace):
    """The app keeps its workspace open for writing while it runs; the command line (read
    only) works beside it, while the app even imports."""
    path, dataset = workspace
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from analysis.store import Workspace; "
         "from analysis import demo; "
         f"ws = Workspace({str(path)!r}); print('ready', flush=True); sys.stdin.readline(); "
         "d = demo.load(); from analysis import ingest; "
         "r = ingest.prepare(d.events, ingest.guess_mapping(d.events, 'events'), 'events'); "
         "ws.import_result(r, name='while reading'); print('imported', flush=True); "
         "sys.stdin.read()"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        code, _, err = _run(capsys, "paths", "--workspace", str(path), "--dataset", dataset,
                              "--out", str(tmp_path))
        assert code == 0, err
        holder.stdin.write("go\n")
        holder.stdin.flush()
        code, _, err = _run(capsys, "overview", "--workspace", str(path), "--dataset", dataset,
                            "--out", str(tmp_path / "o"))
        assert code == 0, err
        assert holder.stdout.readline().strip() == "imported"
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert (tmp_path / "sankey_links.parquet").is_file()
    assert "while reading" in [d.name for d in Workspace(path, read_only=True).datasets()]


# ---------------------------------------------------------------------------- processes


def test_subprocess_help_and_a_real_run(tmp_path):
    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "analysis", *argv], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    done = run("--help")
    assert done.returncode == 0 and "exit codes" in done.stdout
    for command in ("overview", "paths", "funnel", "churn", "experiments", "painpoints",
                    "touchpoints"):
        assert command in done.stdout
    done = run("funnel", "--help")
    assert done.returncode == 0 and "funnel.html" in done.stdout and "--window-days" in \
        done.stdout
    done = run("funnel", EVENTS, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "funnel.parquet").is_file() and "funnel.parquet" in done.stdout
    done = run("teleport", "--out", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------- spark


def test_spark_table_equals_the_duckdb_run(tmp_path, capsys, spark, events):
    part = events[events["customer_id"] <= "C01000"]  # a fifth of the demo: Spark jobs are slow
    source = tmp_path / "events.parquet"
    part.to_parquet(source)
    plain = part.astype({"touchpoint": str, "channel": str, "stage": str})
    spark.createDataFrame(plain).createOrReplaceTempView("cli_demo_events")
    steps = ("--steps", "Product page", "Add to cart", "Checkout", "Purchase",
             "--window-days", "30")
    code, out, _ = _run(capsys, "funnel", "--spark-table", "cli_demo_events", "--out",
                        str(tmp_path / "spark"), *steps)
    assert code == 0 and "Spark table cli_demo_events" in out
    code, _, _ = _run(capsys, "funnel", str(source), "--out", str(tmp_path / "duck"), *steps)
    assert code == 0
    _same(pd.read_parquet(tmp_path / "spark" / "funnel.parquet"),
          pd.read_parquet(tmp_path / "duck" / "funnel.parquet"))
    assert _manifest(tmp_path / "spark")["definitions"]["conversion"] == ["Purchase"]
    code, _, err = _run(capsys, "paths", "--spark-table", "no_such_table", "--out",
                        str(tmp_path / "x"))
    assert code == 3 and "no_such_table" in err
