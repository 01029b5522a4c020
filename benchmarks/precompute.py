"""Views with and without the journey columns precomputed at import (analysis/precompute.py).

``python -m benchmarks.precompute [n_events] [job ...]`` copies the benchmark events into a
DuckDB file twice, as they are (``plain``) and with ``add_journey_columns`` (``events``), then
times each job on both, alternating (the machine's load drifts), and checks that the results
are equal. Prints the best of three per side.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd

from analysis import funnel, paths, survival
from analysis.precompute import add_journey_columns
from benchmarks.data import DATA_DIR, dataset
from benchmarks.jobs import CHURN_TOUCHPOINTS, FUNNEL_STEPS, INACTIVITY_DAYS

JOBS: dict[str, Callable[[duckdb.DuckDBPyRelation], pd.DataFrame]] = {
    "sankey_links": lambda t: paths.sankey_links(t, max_steps=5, top_nodes=None),
    "top_paths": lambda t: paths.top_paths(t, max_steps=5),
    "transition_matrix": paths.transition_matrix,
    "funnel": lambda t: funnel.funnel(t, FUNNEL_STEPS, window=timedelta(days=7)),
    "funnel_strict": lambda t: funnel.funnel(t, FUNNEL_STEPS, mode="strict"),
    "drop_off": lambda t: funnel.drop_off(t, FUNNEL_STEPS, 1).table,
    "lifetimes": lambda t: survival.customer_lifetimes(
        t, churn_touchpoints=CHURN_TOUCHPOINTS, inactivity_days=INACTIVITY_DAYS),
    "compare_transitions": lambda t: paths.compare_transitions(t, conversion=["tp03"]).table,
}


def build(n_events: int) -> Path:
    """The DuckDB file with both tables (made once per size)."""
    path = DATA_DIR / f"precomputed_{n_events}.duckdb"
    if path.exists():
        return path
    con = duckdb.connect(str(path))
    con.execute(f"ATTACH '{dataset(n_events)}' AS src (READ_ONLY)")
    con.execute("CREATE TABLE plain AS SELECT * FROM src.events")
    started = time.perf_counter()
    query = add_journey_columns(con.table("plain")).sql_query()
    con.execute(f"CREATE TABLE events AS SELECT * FROM ({query}) "
                "ORDER BY customer_id, timestamp, event_seq")
    print(f"precomputing {n_events:,} events: {time.perf_counter() - started:.1f} s")
    con.close()
    return path


def main(argv: list[str]) -> None:
    n_events = int(argv[0]) if argv else 10_000_000
    con = duckdb.connect(str(build(n_events)), read_only=True)
    for name in argv[1:] or list(JOBS):
        job, times, outs = JOBS[name], {"plain": [], "events": []}, {}
        for _ in range(3):
            for table in times:
                started = time.perf_counter()
                outs[table] = job(con.table(table))
                times[table].append(time.perf_counter() - started)
        same = outs["plain"].equals(outs["events"])
        print(f"{name}: from scratch {min(times['plain']):.2f} s, precomputed "
              f"{min(times['events']):.2f} s, same result: {same}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
