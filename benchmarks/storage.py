"""What storing datasets as Parquet costs the queries: a native DuckDB table against the
workspace's Parquet read through ``Workspace.table()``.

    python -m benchmarks.storage                     # 1M and 10M events
    python -m benchmarks.storage --events 1000000 --repeat 3

For each size, the benchmark table (``benchmarks.data.dataset``) is imported once into a
workspace under ``benchmarks/.data`` (as the app stores it: sorted, zstd, with the journey
columns of ``analysis.precompute``), then three jobs of ``benchmarks.jobs`` run on: the DuckDB
table (``native``), ``Workspace.table()`` (``parquet``: what views get after a row filter) and
``Workspace.table(precomputed=True)`` (``parquet+pre``: what views get unfiltered or with
whole-customer filters). Times are the best of ``--repeat`` runs after one warm-up, on the
machine's cores as DuckDB uses them. Results go to ``benchmarks/storage.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from benchmarks.data import DATA_DIR, dataset
from benchmarks.jobs import ours_funnel, ours_lifetimes, ours_sankey

RESULTS = Path(__file__).resolve().parent / "storage.json"
JOBS: dict[str, Callable] = {"sankey_links": ours_sankey, "funnel_4_steps_7d": ours_funnel,
                             "customer_lifetimes": ours_lifetimes}


def workspace_copy(n_events: int) -> tuple[Path, str, float]:
    """A workspace holding the benchmark table of ``n_events`` (made once); its path, the
    dataset id and the seconds the import took (0 when it was already there)."""
    from analysis.store import Workspace

    path = DATA_DIR / f"storage_ws_{n_events}"
    with Workspace(path) as ws:
        found = [d for d in ws.datasets() if d.name == "events"]
        if found:
            return path, found[0].id, 0.0
        start = time.perf_counter()
        source = duckdb.connect(str(dataset(n_events)), read_only=True)
        try:
            info = _import(ws, source, n_events)
        finally:
            source.close()
        return path, info.id, time.perf_counter() - start


def _import(ws, source: duckdb.DuckDBPyConnection, n_events: int):
    from analysis.catalog import DatasetInfo
    from analysis.store import new_id

    dataset_id = new_id()
    events = source.table("events")
    with ws._import_dir(dataset_id) as work:
        level = ws._write_dataset(work, events, events.limit(0), "events")
        entry = DatasetInfo(dataset_id, "events", "events", ws._clock(), n_events, 0,
                            {}, None, None, None, {}, {"customer_level": level})
        return ws._commit_import(work, entry, None)


def best_of(job: Callable, con: duckdb.DuckDBPyConnection, repeat: int) -> float:
    job(con)  # warm-up: file metadata, Python imports
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        job(con)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n_events: int, repeat: int) -> list[dict]:
    from analysis.store import Workspace

    path, dataset_id, import_s = workspace_copy(n_events)
    native = duckdb.connect(str(dataset(n_events)), read_only=True)
    rows = []
    with Workspace(path, read_only=True) as ws:
        plain, pre = ws.cursor(), ws.cursor()
        ws.table(dataset_id, plain).create_view("events")
        ws.table(dataset_id, pre, precomputed=True).create_view("events")
        parquet_mb = sum(f.stat().st_size for f in (path / "datasets" / dataset_id).iterdir())
        for name, job in JOBS.items():
            row = {"events": n_events, "job": name}
            for label, con in (("native", native), ("parquet", plain), ("parquet+pre", pre)):
                row[f"{label}_s"] = round(best_of(job, con, repeat), 3)
            row["parquet_vs_native"] = round(row["parquet_s"] / row["native_s"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    native.close()
    sizes = {"events": n_events, "job": "(storage)",
             "duckdb_file_mb": round(dataset(n_events).stat().st_size / 1e6, 1),
             "parquet_mb": round(parquet_mb / 1e6, 1), "import_s": round(import_s, 1)}
    print(json.dumps(sizes), flush=True)
    return [*rows, sizes]


def format_table(rows: list[dict]) -> str:
    lines = [f"{'events':>11} {'job':<20} {'native':>8} {'parquet':>8} {'+pre':>8} {'ratio':>6}"]
    for r in rows:
        if "native_s" in r:
            lines.append(f"{r['events']:>11,} {r['job']:<20} {r['native_s']:>8.3f} "
                         f"{r['parquet_s']:>8.3f} {r['parquet+pre_s']:>8.3f} "
                         f"{r['parquet_vs_native']:>6.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [row for n in args.events for row in measure(n, args.repeat)]
    print(format_table(rows))
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    kept = [r for r in old if r["events"] not in args.events]
    RESULTS.write_text(json.dumps(sorted(kept + rows, key=lambda r: (r["events"], r["job"])),
                                  indent=2) + "\n")


if __name__ == "__main__":
    main()
