"""Pain-point aggregates are the same from pandas, DuckDB, Polars and PySpark input: linking
feedback to the journey, the priority matrix (counts, shares, scores, hazard ratios,
conversion impact, revenue at risk) and sentiment over time.

Spark is a hard requirement (as in test_spark.py): without pyspark or Java the session fixture
errors instead of skipping.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis import demo, painpoints
from analysis.painpoints.trends import touchpoint_sentiment

CUSTOMERS = 1200
MATRIX_COLUMNS = ["touchpoint", "topic", "topic_id", "mentions", "customers", "rated",
                  "negative", "negative_share", "scored", "mean_score", "churn_hazard_ratio",
                  "hr_ci_low", "hr_ci_high", "conversion_impact", "revenue_at_risk", "priority"]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    ev = demo.load().events
    first = ev["customer_id"].drop_duplicates().iloc[:CUSTOMERS]
    ev = ev[ev["customer_id"].isin(first)].reset_index(drop=True)
    ev = ev.astype({"touchpoint": str, "channel": str, "stage": str})
    ev["event_seq"] = np.arange(len(ev), dtype="int64")
    return ev


@pytest.fixture(scope="module")
def feedback(events: pd.DataFrame) -> pd.DataFrame:
    """These customers' feedback; every 3rd row loses its touchpoint, so it is linked to the
    journey (the ASOF join), and a few lose their customer (unlinked)."""
    fb = demo.load().feedback
    fb = fb[fb["customer_id"].isin(events["customer_id"])].reset_index(drop=True)
    fb = fb.astype({"touchpoint": object})
    fb.loc[fb.index % 3 == 0, "touchpoint"] = None
    fb.loc[fb.index % 29 == 4, "customer_id"] = None
    return fb


def _engines(spark, frame: pd.DataFrame) -> dict[str, object]:
    import polars as pl

    return {"duckdb": duckdb.connect().from_df(frame), "polars": pl.from_pandas(frame),
            "polars_lazy": pl.from_pandas(frame).lazy(), "spark": spark.createDataFrame(frame)}


def test_linking_matches_across_engines(spark, events, feedback):
    expected = painpoints.link_feedback(feedback, events, tolerance=timedelta(days=7))
    assert (expected["link"] == "preceding event").sum() > 100  # the join is exercised
    for name, ev in _engines(spark, events).items():
        for fb_name, fb in (("pandas", feedback), (name, _engines(spark, feedback)[name])):
            out = painpoints.link_feedback(fb, ev, tolerance=timedelta(days=7))
            pd.testing.assert_frame_equal(out.reset_index(drop=True),
                                          expected.reset_index(drop=True),
                                          check_dtype=False, obj=f"{name}/{fb_name}")


def test_priority_matrix_matches_across_engines(spark, events, feedback):
    topics = painpoints.discover_topics(feedback["text"], n_topics=5, random_state=0)
    options = {"topics": topics, "churn": ["Cancel subscription"], "conversion": ["Purchase"],
               "start_at": ["Purchase"]}
    expected = painpoints.pain_points(feedback, events, **options).matrix
    assert expected["churn_hazard_ratio"].notna().any()
    assert expected["revenue_at_risk"].gt(0).any()
    for name, ev in _engines(spark, events).items():
        fb = _engines(spark, feedback)[name]
        out = painpoints.pain_points(fb, ev, **options).matrix
        key = ["touchpoint", "topic_id"]
        pd.testing.assert_frame_equal(
            out[MATRIX_COLUMNS].sort_values(key).reset_index(drop=True),
            expected[MATRIX_COLUMNS].sort_values(key).reset_index(drop=True),
            check_dtype=False, check_exact=False, rtol=1e-9, obj=name)


def test_sentiment_over_time_matches_across_engines(spark, events, feedback):
    comments = painpoints.pain_points(feedback, events, n_topics=4).comments
    expected = touchpoint_sentiment(comments, period="month")
    for name, fb in _engines(spark, feedback).items():
        out = touchpoint_sentiment(painpoints.pain_points(fb, events, n_topics=4).comments,
                                   period="month")
        key = [c for c in ("touchpoint", "period", "measure") if c in expected]
        pd.testing.assert_frame_equal(
            out.sort_values(key).reset_index(drop=True),
            expected.sort_values(key).reset_index(drop=True),
            check_dtype=False, check_exact=False, rtol=1e-9, obj=name)
