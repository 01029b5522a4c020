"""The distributed path: a PySpark DataFrame gives the same results as DuckDB."""

from __future__ import annotations

import os
import tempfile
from datetime import date

import narwhals as nw
import pytest

from analysis import demo, frames, overview
from analysis.frames import Filters


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    warehouse = tempfile.mkdtemp(prefix="spark-warehouse-")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("journey-tests")
        .config("spark.sql.warehouse.dir", warehouse)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_filters_and_overview_match_duckdb(spark):
    d = demo.load()
    sdf = spark.createDataFrame(d.events.astype({"touchpoint": str, "channel": str,
                                                 "stage": str}))
    flt = Filters(start=date(2025, 2, 1), channels=("web",), attributes=(("segment", ("Budget",)),))
    spark_count = frames.canonical(sdf, "events", flt).select(nw.len()).collect().item()
    duck_count = frames.canonical(d.events, "events", flt).select(nw.len()).collect().item()
    assert spark_count == duck_count > 0
    a = overview.dataset_overview(sdf)
    b = overview.dataset_overview(d.events)
    assert (a.customers, a.events, a.touchpoints, a.channels) == (
        b.customers, b.events, b.touchpoints, b.channels
    )
    assert a.conversion_rate == pytest.approx(b.conversion_rate)
    assert a.churn_rate == pytest.approx(b.churn_rate)
    assert a.revenue == pytest.approx(b.revenue)
