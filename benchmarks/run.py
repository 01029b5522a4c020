"""Run every benchmark job against its hand-written DuckDB SQL on the same data.

    python -m benchmarks.run                 # 1M and 10M events
    python -m benchmarks.run --sizes 200000  # quicker

Each (job, side, size) runs in a fresh process: best wall time of ``--repeat`` runs after one
warm-up, and the process's peak resident memory (ru_maxrss, which includes Python and the
libraries, about 200 MB before any data). DuckDB uses the machine's cores (2 here).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results.json"


def measure(job: str, side: str, n_events: int, repeat: int) -> dict:
    """Run in this process: time the job and report peak memory."""
    import duckdb

    from benchmarks.data import dataset
    from benchmarks.jobs import JOBS

    con = duckdb.connect(str(dataset(n_events)), read_only=True)
    con.execute(f"SET threads = {os.cpu_count() or 2}")
    fn = JOBS[job][0 if side == "ours" else 1]
    fn(con)  # warm-up: file pages cached, plans compiled
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(con)
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"job": job, "side": side, "events": n_events, "seconds": min(times),
            "peak_mb": round(peak_mb), "rows": len(result)}


def run_isolated(job: str, side: str, n_events: int, repeat: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--one", job, side, str(n_events),
         "--repeat", str(repeat)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jobs", nargs="+", default=None)
    parser.add_argument("--one", nargs=3, metavar=("JOB", "SIDE", "EVENTS"))
    args = parser.parse_args()
    if args.one:
        job, side, n = args.one
        print(json.dumps(measure(job, side, int(n), args.repeat)))
        return
    from benchmarks.data import dataset
    from benchmarks.jobs import JOBS

    rows = []
    print(f"{'job':<20}{'events':>12}{'ours s':>10}{'SQL s':>10}{'ratio':>8}"
          f"{'ours MB':>10}{'SQL MB':>9}")
    for n in args.sizes:
        dataset(n)
        for job in args.jobs or JOBS:
            ours = run_isolated(job, "ours", n, args.repeat)
            sql = run_isolated(job, "sql", n, args.repeat)
            ratio = ours["seconds"] / sql["seconds"]
            rows.append({"job": job, "events": n, "ours_seconds": round(ours["seconds"], 3),
                         "sql_seconds": round(sql["seconds"], 3), "ratio": round(ratio, 2),
                         "ours_peak_mb": ours["peak_mb"], "sql_peak_mb": sql["peak_mb"]})
            print(f"{job:<20}{n:>12,}{ours['seconds']:>10.2f}{sql['seconds']:>10.2f}"
                  f"{ratio:>8.2f}{ours['peak_mb']:>10,}{sql['peak_mb']:>9,}", flush=True)
    RESULTS.write_text(json.dumps(merged(rows), indent=2) + "\n")


def merged(rows: list[dict]) -> list[dict]:
    """The earlier results with this run's (job, events) rows replaced, so running a few jobs
    keeps the others' figures."""
    earlier = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    fresh = {(r["job"], r["events"]) for r in rows}
    kept = [r for r in earlier if (r["job"], r["events"]) not in fresh]
    return sorted(kept + rows, key=lambda r: (r["events"], r["job"]))


if __name__ == "__main__":
    main()
