"""Each page's first render and re-render on a large dataset, with AppTest.

    python -m benchmarks.page_timings                     # 10M events, every page
    python -m benchmarks.page_timings --events 200000 --repeat 3 --pages Paths Funnels

Builds (once, cached under ``benchmarks/.data/``) a demo-shaped events log and its feedback
(``benchmarks.journey_data``), imports them into a fresh temporary workspace through the public
API (``import_csv_stream`` for the events, as the app streams a big upload; ``prepare`` and
``import_result`` for the feedback, linked to them), points ``JOURNEY_WORKSPACE`` at it and
then, for each page, starts a new Python process (so ``st.cache_data`` is empty) which:

1. imports what the page script imports (timed apart as ``import_s``, not part of a render);
2. opens the page with AppTest on the dataset, as a link would (``?dataset=<id>``) and times
   ``run()``: the **first render**, cold caches, including opening the workspace;
3. changes one representative widget and times the run (**re-render**: the results that do not
   depend on that widget come from the cache), then sets it back and times that run too
   (**back**: everything cached).

Peak RSS is the process's high-water mark (Python, libraries and DuckDB together). A page
that shows an exception, or does not finish within ``--timeout``, fails the benchmark (exit
status 1) after the table is printed; ``st.error`` messages are reported. ``--repeat N`` runs
N fresh processes per page and reports medians; ``--profile DIR`` writes a cProfile of the
page's script threads (AppTest runs the page in threads of its own) to ``DIR/<page>.prof``.
Results go to ``benchmarks/page_timings.json``. Targets (issue "Scale"): first render under
5 s, re-render under 1 s at 10M events.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import journey_data

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "page_timings.json"
TARGETS_S = {"first": 5.0, "rerender": 1.0}
MARKER = "PAGE_TIMINGS_RESULT "
#: (label, script, widget kind, widget key, value it is changed to, link parameters): the
#: widget changed for the re-render, a setting people change while looking at the page (None:
#: a re-run), and what the link adds to ``?dataset=`` (a page's tab: only the open one runs).
PAGES: tuple[tuple[str, str, str | None, str | None, Any, dict[str, str]], ...] = (
    ("Home", "app.py", None, None, None, {}),
    ("Paths", "pages/1_Paths.py", "slider", "p_steps", 6, {}),
    ("Funnels", "pages/2_Funnels.py", "selectbox", "f_mode", "strict", {}),
    ("Churn", "pages/3_Churn.py", "selectbox", "c_by", "region", {}),
    ("Experiments", "pages/4_Experiments.py", "radio", "x_corr", "fdr_bh", {}),
    ("Pain points", "pages/5_Pain_points.py", "selectbox", "p_measure", "nps", {}),
    ("Touchpoints", "pages/6_Touchpoints.py", "selectbox", "t_per", "week", {}),
    ("Touchpoints: attribution", "pages/6_Touchpoints.py", "number_input", "t_hl", 14,
     {"tab": "attribution"}),
    ("Touchpoints: online or offline", "pages/6_Touchpoints.py", None, None, None,
     {"tab": "channels"}),
    ("Touchpoints: journey map", "pages/6_Touchpoints.py", None, None, None, {"tab": "map"}),
    ("Data", "pages/7_Data.py", "radio", "up_kind", "feedback", {}),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the dataset")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh processes per page (medians are reported)")
    parser.add_argument("--pages", nargs="+", choices=[p[0] for p in PAGES],
                        default=[p[0] for p in PAGES], metavar="PAGE")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per AppTest run")
    parser.add_argument("--workspace", type=Path, default=None,
                        help="reuse this workspace file (imported into when it lacks the data)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a cProfile of each page's process into this directory")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.events < 1:
        parser.error("--repeat and --events must be at least 1")
    return args


# ---------------------------------------------------------------------- the workspace

def dataset_name(n_events: int) -> str:
    return f"Benchmark: {n_events:,} events"


def prepare_workspace(path: Path, n_events: int) -> tuple[str, dict[str, float]]:
    """The events dataset's id in the workspace at ``path`` (imported when missing), and the
    seconds that generating and importing took."""
    from analysis import demo, ingest
    from analysis.ingest.streaming import import_csv_stream, read_head
    from analysis.store import Workspace

    timings: dict[str, float] = {}
    with Workspace(path) as ws:
        demo.ensure_demo(ws)  # the app seeds it on first use; not part of a page's render
        name = dataset_name(n_events)
        found = [d for d in ws.datasets("events") if d.name == name]
        if found:
            return found[0].id, timings
        start = time.perf_counter()
        source = journey_data.dataset(n_events)
        timings["generate_s"] = time.perf_counter() - start
        start = time.perf_counter()
        head, _ = read_head(source / "events.csv")
        events = import_csv_stream(ws, source / "events.csv",
                                   ingest.guess_mapping(head, "events"), "events", name=name)
        timings["import_events_s"] = time.perf_counter() - start
        start = time.perf_counter()
        raw = ingest.read_table(str(source / "feedback.csv"))
        result = ingest.prepare(raw, ingest.guess_mapping(raw, "feedback"), "feedback")
        ws.import_result(result, name=f"{name}: feedback", linked_to=events.id)
        timings["import_feedback_s"] = time.perf_counter() - start
        return events.id, timings


# ---------------------------------------------------------------------- one page, in a child

def import_page_modules(script: Path) -> float:
    """Import what ``script`` imports (so a render's time leaves Python's imports out)."""
    start = time.perf_counter()
    import streamlit.testing.v1  # noqa: F401

    tree = ast.parse(script.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            exec(compile(ast.Module([node], []), str(script), "exec"), {})
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux carries that over from the parent
    through fork and exec, so every page would report the importing parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_run(at: Any, timeout: float) -> float:
    start = time.perf_counter()
    at.run(timeout=timeout)
    return time.perf_counter() - start


def problems(at: Any) -> dict[str, list[str]]:
    return {"exceptions": [str(e.value) for e in at.exception],
            "errors": [str(e.value) for e in at.error]}


def measure_page(label: str, dataset_id: str, timeout: float) -> dict[str, Any]:
    """Time one page's first render, a widget change and the change back (this process)."""
    from streamlit.testing.v1 import AppTest

    _, script, kind, key, value, params = next(p for p in PAGES if p[0] == label)
    row: dict[str, Any] = {"page": label, "widget": key or "(rerun)",
                           "import_s": import_page_modules(ROOT / script)}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.query_params["dataset"] = dataset_id
    for name, given in params.items():
        at.query_params[name] = given
    if script != "app.py":
        at.switch_page(script)
    row["first_s"] = timed_run(at, timeout)
    row["first_rss_mb"] = peak_rss_mb()
    found = problems(at)
    if kind is None:
        row["rerender_s"], row["back_s"] = timed_run(at, timeout), None
    else:
        widget = getattr(at, kind)(key=key)
        original = widget.value
        widget.set_value(value)
        row["rerender_s"] = timed_run(at, timeout)
        if getattr(at, kind)(key=key).value != value:
            raise RuntimeError(f"{label}: {key} did not change to {value!r}")
        row["changed"] = f"{original} → {value}"
        getattr(at, kind)(key=key).set_value(original)
        row["back_s"] = timed_run(at, timeout)
    for name, values in problems(at).items():
        found[name] += [v for v in values if v not in found[name]]
    return {**row, **found, "peak_rss_mb": peak_rss_mb()}


def child_main(args: argparse.Namespace) -> None:
    if not args.profile:
        print(MARKER + json.dumps(measure_page(args.child, args.dataset, args.timeout)),
              flush=True)
        return
    import cProfile
    import threading

    # AppTest runs the page in threads of its own: profile those (imports stay out).
    profiler = cProfile.Profile()
    threading.setprofile(lambda *_: profiler.enable())
    row = measure_page(args.child, args.dataset, args.timeout)
    threading.setprofile(None)  # type: ignore[arg-type]
    args.profile.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(args.profile / f"{args.child.replace(' ', '_')}.prof")
    print(MARKER + json.dumps(row), flush=True)


def run_child(label: str, dataset_id: str, workspace: Path, args: argparse.Namespace) -> dict:
    """One page measured in a fresh Python process over ``workspace``."""
    command = [sys.executable, "-m", "benchmarks.page_timings", "--child", label,
               "--dataset", dataset_id, "--timeout", str(args.timeout)]
    if args.profile:
        command += ["--profile", str(args.profile)]
    env = {**os.environ, "JOURNEY_WORKSPACE": str(workspace),
           "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)]
    if done.returncode or not lines:  # e.g. a run past --timeout: reported, others go on
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return {"page": label, "widget": "", "failed": tail[0], "exceptions": [], "errors": []}
    return json.loads(lines[-1][len(MARKER):])


# ---------------------------------------------------------------------- summary

TIMES = ("import_s", "first_s", "rerender_s", "back_s")


def median_row(label: str, runs: list[dict]) -> dict[str, Any]:
    """The runs of one page: medians of the times, the highest RSS, every problem seen (a
    page whose every run failed has no times and says why in ``failed``)."""
    ok = [r for r in runs if "failed" not in r]
    row: dict[str, Any] = {"page": label, "widget": "", "changed": None, **dict.fromkeys(TIMES),
                           "first_rss_mb": None, "peak_rss_mb": None, "runs": len(ok),
                           "failed": [r["failed"] for r in runs if "failed" in r]}
    if ok:
        row.update(widget=ok[-1]["widget"], changed=ok[-1].get("changed"))
    for key in TIMES:
        values = [r[key] for r in ok if r.get(key) is not None]
        row[key] = round(statistics.median(values), 3) if values else None
    for key in ("first_rss_mb", "peak_rss_mb"):
        row[key] = round(max(r[key] for r in ok)) if ok else None
    for key in ("exceptions", "errors"):
        row[key] = sorted({v for r in ok for v in r[key]})
    return row


def verdict(row: dict) -> str:
    if row.get("first_s") is None:
        return "FAILED"
    slow = []
    if row["first_s"] >= TARGETS_S["first"]:
        slow.append("first")
    if row["rerender_s"] >= TARGETS_S["rerender"]:
        slow.append("re-render")
    return "SLOW: " + ", ".join(slow) if slow else "ok"


def format_table(rows: list[dict], n_events: int) -> str:
    def sec(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    lines = [f"Pages on {n_events:,} events (s; medians; RSS: peak MB of the process)", "",
             "| page | first render | re-render | back (cached) | widget | imports | "
             "peak RSS MB | verdict |", "|---|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        rss = "–" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:,}"
        lines.append(f"| {r['page']} | {sec(r['first_s'])} | {sec(r['rerender_s'])} | "
                     f"{sec(r['back_s'])} | {r['widget']} | {sec(r['import_s'])} | "
                     f"{rss} | {verdict(r)} |")
    return "\n".join(lines)


def report_problems(rows: list[dict]) -> int:
    """Print every exception, error message and failed run; 1 when any page broke."""
    for r in rows:
        for kind in ("exceptions", "errors", "failed"):
            for message in r[kind]:
                print(f"{r['page']}: {kind}: {message[:300]}")
    broken = [r["page"] for r in rows if r["exceptions"] or r["failed"]]
    if broken:
        print("FAILED: " + ", ".join(broken) + " showed an exception or did not finish")
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="page_timings_") as tmp:
        workspace = args.workspace or Path(tmp) / "workspace"
        dataset_id, setup = prepare_workspace(workspace, args.events)
        for key, value in setup.items():
            print(f"{key}: {value:.1f}", flush=True)
        rows = []
        for label in args.pages:
            runs = [run_child(label, dataset_id, workspace, args) for _ in range(args.repeat)]
            rows.append(median_row(label, runs))
            print(f"{label}: first {rows[-1]['first_s']} s, re-render "
                  f"{rows[-1]['rerender_s']} s", flush=True)
    args.output.write_text(json.dumps({"events": args.events, "cpus": os.cpu_count(),
                                       "repeat": args.repeat, "setup": setup, "pages": rows},
                                      indent=1) + "\n")
    print(format_table(rows, args.events))
    return report_problems(rows)


if __name__ == "__main__":
    sys.exit(main())
