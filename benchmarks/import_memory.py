"""Peak memory and time of importing a large CSV: the streaming path against the one-shot path.

Writes a seeded ~200 MB events CSV (5M rows by default) to a temporary directory, streamed to
disk by DuckDB (it is never built in memory), then imports it in a fresh process per path and
prints rows, seconds and the process's peak resident memory (ru_maxrss, Python + pandas +
DuckDB). The streaming import must stay under 1.5 GB.

    python -m benchmarks.import_memory [--rows 5000000] [--skip-one-shot]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 1536
MAPPING = {"customer_id": "user_id", "timestamp": "event_time", "touchpoint": "event",
           "channel": "channel", "revenue": "amount"}


def write_csv(path: Path, n_rows: int, *, seed: float = 0.42) -> Path:
    """Events in generation order (not sorted), ISO timestamps in whole minutes (some ties),
    20 skewed touchpoints, 7 channels, revenue on purchases, a segment attribute, and about one
    row in 10,000 with an unparseable timestamp (quarantined)."""
    con = duckdb.connect()
    con.execute("SELECT setseed(?)", [seed])
    customers = max(n_rows // 10, 1)
    con.execute(
        f"""
        COPY (
            WITH raw AS (
                SELECT range AS i,
                       CAST(floor(random() * {customers}) AS BIGINT) AS c,
                       CAST(floor(random() * 365 * 1440) AS BIGINT) AS minute,
                       CAST(floor(pow(random(), 1.5) * 20) AS INTEGER) AS tp,
                       CAST(floor(random() * 7) AS INTEGER) AS ch,
                       random() AS r
                FROM range({n_rows})
            )
            SELECT 'c' || c::VARCHAR AS user_id,
                   CASE WHEN i % 10000 = 7 THEN 'not a date'
                        ELSE strftime(TIMESTAMP '2025-01-01' + to_minutes(minute),
                                      '%Y-%m-%d %H:%M:%S') END AS event_time,
                   'tp' || lpad(tp::VARCHAR, 2, '0') AS event,
                   ['web', 'app', 'store', 'call center', 'email', 'social', 'chat'][ch + 1]
                       AS channel,
                   CASE WHEN tp = 19 THEN round(r * 200, 2)::VARCHAR END AS amount,
                   ['a', 'b', 'c'][1 + CAST(floor(r * 3) AS INTEGER)] AS segment
            FROM raw ORDER BY i
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )
    con.close()
    return path


def measure(path: Path, workspace: Path, how: str) -> dict:
    """Import ``path`` one way in this process; rows, seconds and peak memory."""
    sys.path.insert(0, str(ROOT))
    from analysis import ingest
    from analysis.ingest.streaming import import_csv_stream
    from analysis.store import Workspace

    start = time.perf_counter()
    with Workspace(workspace) as ws:
        if how == "stream":
            info = import_csv_stream(ws, path, MAPPING, name="big")
        else:
            result = ingest.prepare(ingest.read_table(path), MAPPING, "events")
            info = ws.import_result(result, name="big")
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"path": how, "rows": info.rows, "quarantined": info.quarantined,
            "seconds": round(seconds, 1), "peak_mb": round(peak_mb)}


def run_isolated(path: Path, workspace: Path, how: str, timeout: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.import_memory", "--measure", how, str(path),
         str(workspace)], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
    )
    if out.returncode != 0:
        return {"path": how, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--skip-one-shot", action="store_true")
    parser.add_argument("--measure", nargs=3, metavar=("HOW", "CSV", "WORKSPACE"))
    args = parser.parse_args()
    if args.measure:
        how, csv_path, workspace = args.measure
        print(json.dumps(measure(Path(csv_path), Path(workspace), how)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "events.csv", args.rows)
        print(f"CSV: {args.rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB", flush=True)
        for how in ("stream", *(() if args.skip_one_shot else ("one-shot",))):
            row = run_isolated(path, Path(tmp) / f"{how}.duckdb", how, timeout=3600)
            print(json.dumps(row), flush=True)
            if how == "stream" and "peak_mb" in row:
                verdict = "OK" if row["peak_mb"] < LIMIT_MB else "OVER"
                print(f"stream peak {row['peak_mb']:,} MB vs limit {LIMIT_MB:,} MB: {verdict}")


if __name__ == "__main__":
    main()
