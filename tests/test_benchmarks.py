"""The benchmark compares like with like: each hand-written SQL gives our answer."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis.touchpoints import NO_TOUCH
from benchmarks.data import generate
from benchmarks.jobs import JOBS


@pytest.fixture(scope="module", params=["hour", "day"])
def con(request, tmp_path_factory):
    """The benchmark data, and a variant in whole days where most journeys have ties."""
    path = generate(tmp_path_factory.mktemp("bench") / "events.duckdb", 30_000,
                    unit=request.param)
    connection = duckdb.connect(str(path), read_only=True)
    yield connection
    connection.close()


def test_ties_break_by_file_order(con):
    """Events at the same instant exist, and file order is not touchpoint order among them,
    so each query below follows the (timestamp, event_seq) rule or disagrees with ours."""
    disagree = con.execute(
        """
        SELECT count(*) FROM (
            SELECT touchpoint, event_seq, lead(touchpoint) OVER w AS next_tp
            FROM events WINDOW w AS (PARTITION BY customer_id, timestamp ORDER BY event_seq)
        ) WHERE next_tp < touchpoint
        """
    ).fetchall()[0][0]
    assert disagree > 0


def test_sankey_sql_matches(con):
    ours, sql = (f(con) for f in JOBS["sankey_links"])
    key = ["step", "source", "target", "customers"]
    assert set(ours[key].itertuples(index=False)) == set(
        sql[key].astype({"step": int, "customers": int}).itertuples(index=False)
    )


def test_transition_sql_matches(con):
    ours, sql = (f(con) for f in JOBS["transition_matrix"])
    merged = ours.merge(sql, on=["source", "target"], suffixes=("", "_sql"))
    assert len(merged) == len(ours) == len(sql)
    assert (merged["transitions"] == merged["transitions_sql"]).all()
    assert (merged["customers"] == merged["customers_sql"]).all()
    np.testing.assert_allclose(merged["median_seconds"], merged["median_seconds_sql"])


def test_funnel_sql_matches(con):
    ours, sql = (f(con) for f in JOBS["funnel_4_steps_7d"])
    assert ours["customers"].tolist() == sql["customers"].astype(int).tolist()
    np.testing.assert_allclose(ours["median_seconds_from_previous"].iloc[1:],
                               sql["median_seconds"].iloc[1:].astype(float))


def test_lifetimes_sql_matches(con):
    ours, sql = (f(con) for f in JOBS["customer_lifetimes"])
    assert len(ours) == len(sql) > 0
    assert 0 < ours["churned"].sum() < len(ours)
    pd.testing.assert_frame_equal(ours, sql, check_exact=True)


def test_kpis_sql_matches(con):
    ours, sql = (f(con) for f in JOBS["customer_kpis"])
    assert len(ours) == len(sql) > 0
    for flag in ("converted", "touched"):
        assert 0 < ours[flag].sum() < len(ours)
    assert ours["churned"].eq(1).any() and ours["churned"].eq(0).any()
    pd.testing.assert_frame_equal(ours, sql, check_exact=True)


def test_kpis_sql_censors_like_ours(con):
    """The data cut mid-year: customers first seen in its last 7 days who have not churned
    are unknown (NaN) on both sides."""
    path = con.execute("SELECT path FROM duckdb_databases() "
                       "WHERE database_name = current_database()").fetchall()[0][0]
    cut = duckdb.connect()
    cut.execute(f"ATTACH '{path}' AS bench (READ_ONLY)")
    cut.execute("CREATE VIEW events AS SELECT * FROM bench.events "
                "WHERE timestamp < TIMESTAMP '2025-07-01'")
    ours, sql = (f(cut) for f in JOBS["customer_kpis"])
    cut.close()
    assert ours["churned"].isna().sum() > 10
    pd.testing.assert_frame_equal(ours, sql, check_exact=True)


def test_markov_sql_matches(con):
    """The hand-written transition counts, solved the same way, give our credit per
    touchpoint; ours adds the converting journeys with no touch as their own row."""
    ours, sql = (f(con) for f in JOBS["markov_attribution"])
    touched = ours[ours["touchpoint"] != NO_TOUCH]
    merged = touched.merge(sql, on="touchpoint", suffixes=("", "_sql"))
    assert len(merged) == len(touched) == len(sql) == 19
    assert ours.loc[ours["touchpoint"] == NO_TOUCH, "conversions"].item() > 0
    np.testing.assert_allclose(merged["conversions"], merged["conversions_sql"])


def test_scaling_script_measures_each_job_on_duckdb():
    """benchmarks.scaling's DuckDB side runs the public functions on the benchmark data (its
    Spark side is the same call on a Parquet copy, exercised by running the script)."""
    from benchmarks import scaling

    for job in scaling.JOBS:
        row = scaling.measure(job, "duckdb", 30_000, repeat=1)
        assert row["seconds"] > 0 and row["python_peak_mb"] > 0 and row["jvm_peak_mb"] is None
