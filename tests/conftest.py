"""Shared fixtures: the real datasets in ../shared/datasets, read once per session."""

from __future__ import annotations

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
