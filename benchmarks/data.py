"""Seeded synthetic event logs for benchmarks, generated inside DuckDB.

About 10 events per customer, 20 touchpoints (skewed: tp00 is the most common), 7 channels,
one year of timestamps. Touchpoint and channel are ENUMs, as in the workspace.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

DATA_DIR = Path(__file__).resolve().parent / ".data"


def generate(path: Path, n_events: int, *, seed: float = 0.42) -> Path:
    """Write a DuckDB file holding an ``events`` table of ``n_events`` rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    touchpoints = ", ".join(f"'tp{i:02d}'" for i in range(20))
    channels = "'web', 'app', 'store', 'call center', 'email', 'social', 'chat'"
    con.execute(f"CREATE TYPE tp AS ENUM ({touchpoints})")
    con.execute(f"CREATE TYPE ch AS ENUM ({channels})")
    con.execute("SELECT setseed(?)", [seed])
    customers = max(n_events // 10, 1)
    con.execute(
        f"""
        CREATE TABLE events AS
        SELECT 'c' || CAST(floor(random() * {customers}) AS BIGINT)::VARCHAR AS customer_id,
               TIMESTAMP '2025-01-01' + to_seconds(CAST(floor(random() * 31536000) AS BIGINT))
                   AS timestamp,
               enum_range(NULL::tp)[1 + CAST(floor(pow(random(), 1.5) * 20) AS INTEGER)]::tp
                   AS touchpoint,
               enum_range(NULL::ch)[1 + CAST(floor(random() * 7) AS INTEGER)]::ch AS channel
        FROM range({n_events})
        ORDER BY customer_id, timestamp
        """
    )
    con.close()
    return path


def dataset(n_events: int) -> Path:
    """The benchmark file for a size, generated once."""
    path = DATA_DIR / f"events_{n_events}.duckdb"
    if not path.exists():
        generate(path, n_events)
    return path
