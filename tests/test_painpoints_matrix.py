"""The priority matrix: planted pain point first, human categories ranked as published,
counts that add up, and weights that change the order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import demo, ingest
from analysis.painpoints.matrix import UNLINKED, Weights, pain_points, priority_matrix
from analysis.schema import ParameterError

AIRLINE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "airline_sentiment.csv"


@pytest.fixture(scope="module")
def demo_result():
    d = demo.load()
    return pain_points(d.feedback, d.events, churn=["Cancel subscription"],
                       conversion=["Purchase"], start_at=["Purchase"])


@pytest.fixture(scope="module")
def airline() -> pd.DataFrame:
    raw = ingest.read_table(AIRLINE)
    return ingest.prepare(raw, ingest.guess_mapping(raw, "feedback"), "feedback").data


def test_planted_payment_failure_ranks_first_with_its_hazard_ratio(demo_result):
    top = demo_result.matrix.iloc[0]
    assert top["touchpoint"] == "Payment failed"
    truth = demo.load().ground_truth["payment_failure"]
    assert any(w in top["topic"] for w in truth["top_pain_point"]["keywords"])
    assert top["hr_ci_low"] <= truth["churn_hazard_ratio"] <= top["hr_ci_high"]
    assert top["negative_share"] > 0.8


def test_airline_categories_rank_as_published(airline):
    matrix = priority_matrix(airline, use_categories=True)
    topics = (matrix[matrix["topic_id"] >= 0].groupby("topic")["mentions"].sum()
              .sort_values(ascending=False))
    assert list(topics.index[:2]) == ["Customer Service Issue", "Late Flight"]
    assert list(topics.iloc[:2]) == [2910, 1665]
    assert np.isnan(matrix["churn_hazard_ratio"]).all()  # no journeys: no hazard ratio


def test_counts_add_up_to_each_touchpoints_comments(demo_result):
    m, comments = demo_result.matrix, demo_result.comments
    per_touchpoint = comments.groupby("touchpoint").size()
    assert m.groupby("touchpoint")["mentions"].sum().sort_index().equals(
        per_touchpoint.sort_index())
    scores = pd.to_numeric(comments["score"])
    raw_mean = scores.groupby(comments["touchpoint"]).mean()
    weighted = (m["mean_score"] * m["scored"]).groupby(m["touchpoint"]).sum() / m.groupby(
        "touchpoint")["scored"].sum()
    pd.testing.assert_series_equal(weighted.sort_index(), raw_mean.sort_index(),
                                   check_names=False, rtol=1e-12)
    known = comments["sentiment"] != "unknown"
    raw_negative = (comments["sentiment"] == "negative")[known].groupby(
        comments.loc[known, "touchpoint"]).mean()
    back = m.groupby("touchpoint")["negative"].sum() / m.groupby("touchpoint")["rated"].sum()
    pd.testing.assert_series_equal(back.sort_index(), raw_negative.sort_index(),
                                   check_names=False, rtol=1e-12)


def test_unlinked_feedback_is_counted_not_hidden():
    d = demo.load()
    fb = d.feedback.drop(columns="touchpoint").head(300).copy()
    fb.loc[fb.index[:20], "customer_id"] = None
    result = pain_points(fb, d.events, n_topics=3)
    assert result.links.get("unlinked", 0) >= 20
    assert result.matrix["mentions"].sum() == len(fb)
    assert UNLINKED in set(result.matrix["touchpoint"])


def test_weights_change_the_order_and_are_validated(demo_result):
    d = demo.load()
    reach_only = priority_matrix(d.feedback, d.events, topics=demo_result.topics,
                                 weights=Weights(reach=1, severity=0, churn=0, revenue=0))
    topics = reach_only[reach_only["topic_id"] >= 0]
    assert topics["customers"].is_monotonic_decreasing
    assert (reach_only.iloc[len(topics):]["priority"] == 0).all()  # no topic: last
    with pytest.raises(ParameterError):
        priority_matrix(d.feedback, weights=Weights(reach=0, severity=0, churn=0, revenue=0))
    assert "log(hazard ratio)" in Weights().formula()


def test_deterministic(demo_result):
    d = demo.load()
    again = pain_points(d.feedback, d.events, churn=["Cancel subscription"],
                        conversion=["Purchase"], start_at=["Purchase"])
    pd.testing.assert_frame_equal(again.matrix, demo_result.matrix)


def test_airline_end_to_end_in_well_under_30_seconds(airline):
    import time

    start = time.perf_counter()
    matrix = priority_matrix(airline)  # topics discovered, sentiment from the words
    seconds = time.perf_counter() - start
    assert seconds < 30, f"{seconds:.1f} s for {len(airline):,} comments"
    assert matrix["mentions"].sum() == len(airline) == 14_640
    assert set(matrix["touchpoint"]) == {"United", "US Airways", "American", "Southwest",
                                         "Delta", "Virgin America"}
