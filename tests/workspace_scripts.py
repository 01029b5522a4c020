"""Scripts the workspace tests run in a child process."""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hanging_import(path: Path, rows: int, customers: int) -> str:
    """Python code that imports ``rows`` events into the workspace at ``path``, prints INSIDE
    just before the catalog commit and then waits there for a minute (to be killed)."""
    return textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import pandas as pd
        from analysis import ingest
        from analysis.store import Workspace
        n = {rows}
        df = pd.DataFrame({{"user": [f"u{{i % {customers}}}" for i in range(n)],
                           "ts": ["2024-01-01T00:00:00"] * n, "page": ["p"] * n}})
        result = ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")
        ws = Workspace({str(path)!r})
        def hang():
            print("INSIDE", flush=True)
            time.sleep(60)
        ws._before_commit = hang
        ws.import_result(result, name="half")
    """)
