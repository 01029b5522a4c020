"""Seeded synthetic event logs for benchmarks, generated inside DuckDB.

About 10 events per customer, 20 touchpoints (skewed: tp00 is the most common), 7 channels.
Each customer's journey lasts up to two weeks, starting on a day spread over one year, with
timestamps in whole hours, so a customer may have several events at the same instant.
``event_seq`` is each event's position in generation order (the "file order" recorded at
ingest, which breaks those ties); the table is stored sorted by customer_id, timestamp,
event_seq, as the workspace stores it. Touchpoint and channel are ENUMs, as in the workspace.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

DATA_DIR = Path(__file__).resolve().parent / ".data"
#: Bumped whenever the generated table changes, so stale cached files are not reused.
VERSION = 2
JOURNEY_DAYS = 14


def generate(path: Path, n_events: int, *, seed: float = 0.42, unit: str = "hour") -> Path:
    """Write a DuckDB file holding an ``events`` table of ``n_events`` rows.

    ``unit`` is the timestamps' resolution ("hour", or e.g. "day" for many ties).
    """
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
        WITH raw AS (
            SELECT range AS event_seq,
                   CAST(floor(random() * {customers}) AS BIGINT) AS c,
                   CAST(floor(random() * {JOURNEY_DAYS * 86400}) AS BIGINT) AS offset_s,
                   enum_range(NULL::tp)[1 + CAST(floor(pow(random(), 1.5) * 20) AS INTEGER)]::tp
                       AS touchpoint,
                   enum_range(NULL::ch)[1 + CAST(floor(random() * 7) AS INTEGER)]::ch AS channel
            FROM range({n_events})
        )
        SELECT 'c' || c::VARCHAR AS customer_id,
               date_trunc('{unit}', TIMESTAMP '2025-01-01'
                   + to_days(CAST((c * 7919) % {365 - JOURNEY_DAYS} AS INTEGER))
                   + to_seconds(offset_s))::TIMESTAMP AS timestamp,
               touchpoint, channel, event_seq
        FROM raw
        ORDER BY customer_id, timestamp, event_seq
        """
    )
    con.close()
    return path


def dataset(n_events: int) -> Path:
    """The benchmark file for a size, generated once (older versions' files are removed)."""
    path = DATA_DIR / f"events_v{VERSION}_{n_events}.duckdb"
    if DATA_DIR.exists():
        for stale in DATA_DIR.glob("events_*.duckdb*"):
            if not stale.name.startswith(f"events_v{VERSION}_"):
                stale.unlink()
    if not path.exists():
        generate(path, n_events)
    return path
