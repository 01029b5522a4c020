"""Shared fixtures: the real datasets in ../shared/datasets, read once per session, and a
local Spark session for the parity tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from analysis import ingest

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The folder holding the real, uncleaned datasets (see its README.md)."""
    if not DATASETS.is_dir():
        pytest.fail(f"The shared datasets folder is missing: {DATASETS}")
    return DATASETS


@pytest.fixture(scope="session")
def airline_raw(datasets_dir: Path) -> pd.DataFrame:
    """airline_sentiment.csv as read by ``ingest.read_table`` (do not mutate)."""
    return ingest.read_table(datasets_dir / "airline_sentiment.csv")


@pytest.fixture(scope="session")
def receipt_raw(datasets_dir: Path) -> pd.DataFrame:
    """receipt_process_log.csv as read by ``ingest.read_table`` (do not mutate)."""
    return ingest.read_table(datasets_dir / "receipt_process_log.csv")


@pytest.fixture(scope="module")
def spark():
    """A local Spark session in UTC (a hard requirement: without pyspark or Java the fixture
    errors, so the parity tests fail rather than skip)."""
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
    shutil.rmtree(warehouse, ignore_errors=True)
