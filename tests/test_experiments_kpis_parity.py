"""Per-customer KPIs are the same table from pandas, DuckDB, Polars and PySpark input.

Spark is a hard requirement here, as in test_spark.py: without pyspark or Java the session
fixture errors instead of skipping. The events are the demo's first customers with microsecond
timestamps, plus planted cases: customers seen in both variants (attribute None), events without
a region, feedback without a customer or a score.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.experiments.kpis import customer_kpis, feedback_kpis_per_customer

CUSTOMERS = 1500
OPTIONS = {"conversion": ["Purchase"], "churn": ["Cancel subscription"],
           "touchpoint": "Checkout", "attributes": ["variant", "region"]}
CASES = {
    "month": {},
    "week-7d": {"period": "week", "churn_days": 7},
    "no-feedback": {"feedback": False, "attributes": ["segment"], "churn_days": 90},
    "horizon-60d": {"horizon_days": 60},
}


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return _events()


@pytest.fixture(scope="module")
def feedback(events: pd.DataFrame) -> pd.DataFrame:
    return _feedback(events)


def _events() -> pd.DataFrame:
    """The demo's first customers, text as str; every 50th customer also seen in the other
    variant, every 300th event without a region."""
    ev = demo.load().events
    first = ev["customer_id"].drop_duplicates().iloc[:CUSTOMERS]
    ev = ev[ev["customer_id"].isin(first)].reset_index(drop=True)
    ev = ev.astype({"touchpoint": str, "channel": str, "stage": str})
    ev["event_seq"] = np.arange(len(ev), dtype="int64")
    mixed = ev["customer_id"].isin(first.iloc[::50]) & (ev.groupby("customer_id").cumcount() == 0)
    ev.loc[mixed, "variant"] = ev.loc[mixed, "variant"].map({"A": "B", "B": "A"})
    ev.loc[ev.index % 300 == 7, "region"] = None
    return ev


def _feedback(events: pd.DataFrame) -> pd.DataFrame:
    """The demo's answers of these customers and a few others, plus answers without a
    customer or a score (left out)."""
    fb = demo.load().feedback[["customer_id", "timestamp", "scale", "score"]]
    fb = fb[fb["customer_id"].isin(events["customer_id"]) | (fb.index % 20 == 0)]
    fb = fb.reset_index(drop=True)
    fb.loc[fb.index % 41 == 3, "customer_id"] = None
    fb.loc[fb.index % 37 == 5, "score"] = np.nan
    return fb


def _engines(spark, frame: pd.DataFrame) -> dict[str, object]:
    """``frame`` as each engine's table (Polars is a hard requirement, so no importorskip)."""
    import polars as pl

    return {"pandas": frame, "duckdb": duckdb.connect().from_df(frame),
            "polars": pl.from_pandas(frame), "polars_lazy": pl.from_pandas(frame).lazy(),
            "spark": spark.createDataFrame(frame)}


def _same(out: pd.DataFrame, expected: pd.DataFrame, name: str) -> None:
    """Equal row for row: the same dtypes, times to the microsecond, floats to 1e-9."""
    assert out["customer_id"].is_monotonic_increasing, name
    pd.testing.assert_frame_equal(out.reset_index(drop=True), expected, check_exact=False,
                                  rtol=1e-9, atol=1e-9, obj=name)


@pytest.mark.parametrize("case", CASES)
def test_customer_kpis_match_across_engines(spark, events, feedback, case):
    kw = {**OPTIONS, **CASES[case]}
    with_feedback = kw.pop("feedback", True)
    event_frames = _engines(spark, events)
    feedback_frames = _engines(spark, feedback) if with_feedback else dict.fromkeys(event_frames)
    expected = customer_kpis(events, feedback if with_feedback else None, **kw)
    _check_expected(expected, events, kw, with_feedback)
    for name, frame in event_frames.items():
        out = customer_kpis(frame, feedback_frames[name], **kw)
        _same(out, expected, f"{case}/{name}")


def _check_expected(expected: pd.DataFrame, events: pd.DataFrame, kw: dict,
                    with_feedback: bool) -> None:
    """The reference is not degenerate: every KPI varies, so a wrong engine shows."""
    assert len(expected) == CUSTOMERS
    assert expected["customer_id"].is_unique
    # Microseconds survive, so a truncation to seconds in one engine would show.
    assert (expected["last_seen"].dt.microsecond > 0).any()
    for flag in ("converted", "touched"):
        assert 0 < expected[flag].sum() < len(expected), flag
    assert expected["churned"].eq(1).any() and expected["churned"].eq(0).any()
    if kw.get("churn_days", 30) >= 30:
        assert expected["churned"].isna().any()  # first seen less than 30 days before the end
    assert expected["days_to_convert"].notna().any()
    for a in kw["attributes"]:
        assert expected[a].notna().all() or a == "variant"
    if "variant" in kw["attributes"]:
        assert expected["variant"].isna().sum() == len(range(0, CUSTOMERS, 50))
    if with_feedback:
        for col in ("nps", "csat", "csat_satisfied", "ces"):
            assert expected[col].notna().any(), col
    assert expected["revenue"].gt(0).any()
    if kw.get("period") == "week":
        assert (expected["period"].dt.dayofweek == 0).all()  # weeks start on Monday
    else:
        assert (expected["period"].dt.day == 1).all()


def test_feedback_kpis_match_across_engines(spark, feedback):
    expected = feedback_kpis_per_customer(feedback).sort_values("customer_id",
                                                                 ignore_index=True)
    assert expected["customer_id"].notna().all() and len(expected) > 100
    for name, frame in _engines(spark, feedback).items():
        out = feedback_kpis_per_customer(frame).sort_values("customer_id", ignore_index=True)
        _same(out, expected, f"feedback/{name}")
