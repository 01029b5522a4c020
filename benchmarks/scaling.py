"""How cost grows with the data, and where Spark starts to pay off.

    python -m benchmarks.scaling                          # 1M and 10M events, DuckDB and Spark
    python -m benchmarks.scaling --sizes 1000000 --engines duckdb --repeat 3

Runs the Sankey links, a 4-step funnel with a 7-day window and the per-customer lifetimes (the
jobs of ``benchmarks/jobs.py``, through the same public functions the app calls) on the
benchmark events (``benchmarks/data.py``), once per engine in a fresh process:

- duckdb: the benchmark's DuckDB file (ENUM columns), as the app's workspace holds a dataset;
- spark: the same events written once to Parquet and read by a local Spark session
  (``local[*]``, UTC, ``SPARK_LOCAL_IP=127.0.0.1``, a temporary warehouse), as a notebook on a
  cluster would read a lake table.

Prints the best of ``--repeat`` runs after one warm-up, the Python process's peak memory and,
for Spark, the JVM's peak resident memory (VmHWM of the gateway process). Results go to
``benchmarks/scaling.json``. On one machine Spark's fixed costs (planning, JVM, shuffles to
local disk) dominate; it pays off when the data no longer fits one machine, which this
measures the other side of: how far one machine goes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from analysis import funnel, paths, survival

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "scaling.json"
ENGINES = ("duckdb", "spark")


def _jobs() -> dict[str, Callable[[Any], Any]]:
    from benchmarks.jobs import CHURN_TOUCHPOINTS, FUNNEL_STEPS, INACTIVITY_DAYS

    return {
        "sankey_links": lambda f: paths.sankey_links(f, max_steps=5, top_nodes=None),
        "funnel_4_steps_7d": lambda f: funnel.funnel(f, FUNNEL_STEPS, window=timedelta(days=7)),
        "customer_lifetimes": lambda f: survival.customer_lifetimes(
            f, churn_touchpoints=CHURN_TOUCHPOINTS, inactivity_days=INACTIVITY_DAYS),
    }


JOBS = ("sankey_links", "funnel_4_steps_7d", "customer_lifetimes")


def parquet_copy(n_events: int) -> Path:
    """The benchmark events as one Parquet file next to the DuckDB file (written once)."""
    import duckdb

    from benchmarks.data import dataset

    source = dataset(n_events)
    path = source.with_suffix(".parquet")
    if not path.exists():
        con = duckdb.connect(str(source), read_only=True)
        partial = path.with_suffix(".parquet.partial")
        con.execute(f"COPY events TO '{partial}' (FORMAT parquet)")  # our own path, no input
        con.close()
        partial.rename(path)
    return path


def _spark_session(warehouse: str) -> Any:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master("local[*]").appName("journey-scaling")
            .config("spark.sql.warehouse.dir", warehouse)
            .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g")
            .config("spark.sql.session.timeZone", "UTC").getOrCreate())


def _jvm_peak_mb(session: Any) -> int | None:
    try:
        pid = session.sparkContext._gateway.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except (AttributeError, OSError, ValueError):
        return None
    return None


def measure(job: str, engine: str, n_events: int, repeat: int) -> dict:
    """Run in this process: the job's best time and the peak memory."""
    session = None
    if engine == "spark":
        warehouse = tempfile.mkdtemp(prefix="spark-warehouse-")  # removed at the end
        session = _spark_session(warehouse)
        frame = session.read.parquet(str(parquet_copy(n_events)))
    else:
        import duckdb

        from benchmarks.data import dataset

        frame = duckdb.connect(str(dataset(n_events)), read_only=True).table("events")
    fn = _jobs()[job]
    fn(frame)  # warm-up: file pages cached, plans compiled, the JVM's code warmed
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(frame)
        times.append(time.perf_counter() - start)
    out = {"job": job, "engine": engine, "events": n_events, "seconds": round(min(times), 3),
           "python_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "jvm_peak_mb": _jvm_peak_mb(session) if session else None}
    if session is not None:
        session.stop()
        shutil.rmtree(warehouse, ignore_errors=True)
    return out


def run_isolated(job: str, engine: str, n_events: int, repeat: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scaling", "--one", job, engine, str(n_events),
         "--repeat", str(repeat)], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--jobs", nargs="+", choices=JOBS, default=list(JOBS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", nargs=3, metavar=("JOB", "ENGINE", "EVENTS"))
    args = parser.parse_args(argv)
    if args.one:
        job, engine, n = args.one
        print(json.dumps(measure(job, engine, int(n), args.repeat)))
        return
    rows = []
    print(f"{'job':<20}{'engine':>8}{'events':>12}{'seconds':>9}{'py MB':>8}{'JVM MB':>8}")
    for n in args.sizes:
        for engine in args.engines:
            for job in args.jobs:
                r = run_isolated(job, engine, n, args.repeat)
                rows.append(r)
                jvm = f"{r['jvm_peak_mb']:,}" if r["jvm_peak_mb"] else "–"
                print(f"{job:<20}{engine:>8}{n:>12,}{r['seconds']:>9.2f}"
                      f"{r['python_peak_mb']:>8,}{jvm:>8}", flush=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
