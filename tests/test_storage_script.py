"""The storage benchmark script runs end to end on a small table (numbers not checked)."""

from __future__ import annotations

from benchmarks import storage


def test_storage_benchmark_measures_every_job_on_each_storage(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "DATA_DIR", tmp_path)
    rows = storage.measure(30_000, 1)
    timed = [r for r in rows if "native_s" in r]
    assert [r["job"] for r in timed] == list(storage.JOBS)
    assert all(r["parquet_s"] > 0 and r["parquet+pre_s"] > 0 for r in timed)
    assert rows[-1]["parquet_mb"] > 0
    assert "sankey_links" in storage.format_table(rows)
    again = storage.workspace_copy(30_000)  # imported once, then reused
    assert again[2] == 0.0
