"""Any supported frame becomes a Narwhals lazy frame; global filters match pandas."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import narwhals as nw
import pandas as pd
import polars as pl
import pytest

from analysis import demo, frames
from analysis.frames import Filters
from analysis.schema import AnalysisError


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return demo.load().events


def _count(lf: nw.LazyFrame) -> int:
    return int(lf.select(nw.len()).collect().item())


FILTERS = [
    Filters(),
    Filters(start=date(2025, 3, 1), end=date(2025, 3, 31)),
    Filters(channels=("web", "store")),
    Filters(attributes=(("segment", ("Premium",)), ("region", ("North", "East")))),
    Filters(start=date(2025, 6, 1), channels=("app",), attributes=(("variant", ("B",)),)),
]


def _pandas_filter(df: pd.DataFrame, f: Filters) -> pd.DataFrame:
    keep = pd.Series(True, index=df.index)
    if f.start:
        keep &= df["timestamp"] >= pd.Timestamp(f.start)
    if f.end:
        keep &= df["timestamp"] < pd.Timestamp(f.end) + pd.Timedelta(days=1)
    if f.channels:
        keep &= df["channel"].astype(str).isin(f.channels)
    for column, values in f.attributes:
        keep &= df[column].astype(str).isin(values)
    return df[keep]


@pytest.mark.parametrize("flt", FILTERS)
@pytest.mark.parametrize("backend", ["pandas", "polars", "polars-lazy", "duckdb", "arrow"])
def test_filters_match_pandas_on_every_backend(events, flt, backend):
    native = {
        "pandas": lambda: events,
        "polars": lambda: pl.from_pandas(events),
        "polars-lazy": lambda: pl.from_pandas(events).lazy(),
        "duckdb": lambda: duckdb.connect().from_df(events),
        "arrow": lambda: pl.from_pandas(events).to_arrow(),
    }[backend]()
    lf = frames.canonical(native, "events", flt)
    assert isinstance(lf, nw.LazyFrame)
    assert _count(lf) == len(_pandas_filter(events, flt))


def test_input_is_not_mutated(events):
    copy = events.copy()
    frames.canonical(events, "events", FILTERS[-1]).collect()
    pd.testing.assert_frame_equal(events, copy)


def test_missing_columns_say_which(events):
    with pytest.raises(AnalysisError, match="touchpoint"):
        frames.canonical(events.drop(columns=["touchpoint"]), "events")


def test_string_timestamps_are_refused_with_a_hint(events):
    raw = events.assign(timestamp=events["timestamp"].astype(str))
    with pytest.raises(AnalysisError, match=r"ingest\.prepare"):
        frames.canonical(raw, "events")


def test_filter_on_a_column_the_table_lacks_is_skipped(events):
    lf = frames.canonical(events, "events", Filters(attributes=(("plan", ("gold",)),)))
    assert _count(lf) == len(events)


def test_unsupported_input_is_refused():
    with pytest.raises(AnalysisError, match="Cannot analyse"):
        frames.to_lazy([1, 2, 3])


def test_stored_events_with_feedback_keep_customers_consistent(tmp_path):
    from analysis.store import Workspace

    with Workspace(tmp_path / "w.duckdb") as ws:
        events_id = demo.ensure_demo(ws)
        feedback_id = next(d.id for d in ws.linked(events_id) if d.kind == "feedback")
        flt = Filters(attributes=(("segment", ("Premium",)),))
        ev, fb = frames.load_with_feedback(ws, events_id, feedback_id, flt)
        d = demo.load()
        premium = set(d.customers.loc[d.customers["segment"] == "Premium", "customer_id"])
        expected = d.feedback[d.feedback["customer_id"].isin(premium)]
        assert _count(fb) == len(expected)
        assert _count(ev) == int((d.events["segment"] == "Premium").sum())



_DST_SCRIPT = """
import sys

import narwhals as nw
import pandas as pd

from analysis import frames, survival
from analysis.store import Workspace

# 2024-03-31 02:00 in Berlin is a daylight-saving change: 23 hours pass between these.
events = pd.DataFrame({"customer_id": ["a", "a"], "touchpoint": ["Visit", "Visit"],
                       "timestamp": pd.to_datetime(["2024-03-30 11:00Z", "2024-03-31 10:00Z"])})
lf = frames.to_lazy(events).with_columns(later=nw.col("timestamp").max())
seconds = lf.select(frames.seconds_between(lf, "later", "timestamp").alias("s"))
lifetime = survival.customer_lifetimes(events)["duration_days"].iloc[0]
with Workspace(sys.argv[1]) as ws:
    zone = ws.cursor().sql("SELECT current_setting('TimeZone')").fetchall()[0][0]
print(seconds.collect().to_pandas()["s"].max(), round(lifetime * 86_400), zone)
"""


def test_aware_times_count_elapsed_time_whatever_the_machines_time_zone(tmp_path):
    """DuckDB subtracts aware times in the session's time zone (the machine's by default):
    across a daylight-saving change that gave a calendar day, an hour too many. The
    in-process databases work in UTC, so 23 hours stay 23 hours on a machine in Berlin."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _DST_SCRIPT, str(tmp_path / "ws")], cwd=root,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TZ": "Europe/Berlin", "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["82800.0", "82800", "UTC"]
