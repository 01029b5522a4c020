"""The page-speed benchmark's pure parts: arguments, message decoding, medians, the table.
(The benchmark itself drives a browser and is run by hand: python -m benchmarks.page_speed.)"""

from __future__ import annotations

import base64

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks import page_speed


def _tapped(t: float, direction: str, msg) -> dict:
    return {"t": t, "dir": direction, "data": base64.b64encode(msg.SerializeToString()).decode()}


def _run(t0: float = 100.0) -> dict:
    rerun = BackMsg()
    rerun.rerun_script.query_string = "dataset=demo"
    chart = ForwardMsg()
    chart.delta.new_element.plotly_chart.spec = "{}"
    finished = ForwardMsg()
    finished.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
    return {"t0": t0, "firstChart": t0 + 400, "finished": t0 + 500, "done": t0 + 650,
            "msgs": [_tapped(t0 + 20, "out", rerun), _tapped(t0 + 300, "in", chart),
                     _tapped(t0 + 500, "in", finished)]}


def test_arguments_have_defaults_and_are_checked():
    args = page_speed.parse_args([])
    assert (args.repeat, args.phases, args.output) == (5, ["cold", "warm"], page_speed.RESULTS)
    assert page_speed.parse_args(["--phases", "warm", "--repeat", "2"]).phases == ["warm"]
    with pytest.raises(SystemExit):
        page_speed.parse_args(["--repeat", "0"])


def test_a_run_splits_into_frontend_server_and_browser_time():
    run = page_speed.analyse(_run())
    assert [(t, kind) for t, _, kind, _ in run["timeline"]] == [
        (20, "rerun_script"), (300, "delta plotly_chart"), (500, "script_finished")]
    assert (run["first_chart_ms"], run["done_ms"]) == (400, 650)
    assert (run["server_ms"], run["after_server_ms"]) == (480, 150)


def test_rows_hold_medians_and_the_verdict_against_the_target():
    runs = [{**page_speed.analyse(_run()), "done_ms": done, "load": 1.0}
            for done in (600, 900, 1200)]
    (row,) = page_speed.summarise({("warm", "widget", "Paths: Steps slider"): runs})
    assert (row["n"], row["done_ms"], row["done_all_ms"]) == (3, 900, [600, 900, 1200])
    assert row["server_cpu_ms"] is None
    assert page_speed.verdict(row) == "ok"
    assert page_speed.verdict({**row, "done_ms": 1001}) == "SLOW"
    assert page_speed.verdict({**row, "kind": "load", "target_ms": None}) == ""
    table = page_speed.format_table([row])
    assert "Paths: Steps slider" in table and "900" in table and "ok" in table


def test_javascript_self_time_is_summed_per_script_file():
    profile = {
        "nodes": [
            {"id": 1, "callFrame": {"url": "", "functionName": "(idle)"}},
            {"id": 2, "callFrame": {"url": "http://x/static/js/PlotlyChart.js",
                                    "functionName": "draw"}},
            {"id": 3, "callFrame": {"url": "http://x/static/js/PlotlyChart.js",
                                    "functionName": "plot"}},
            {"id": 4, "callFrame": {"url": "", "functionName": "(program)"}},
        ],
        "samples": [1, 2, 3, 4, 2],
        "timeDeltas": [5000, 1000, 2000, 500, 1000],
    }
    assert page_speed.self_time_by_script(profile) == [("PlotlyChart.js", 4), ("(program)", 0)]
