"""The priority matrix: planted pain point first, human categories ranked as published,
counts that add up, and weights that change the order."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis import demo, ingest
from analysis.frames import Filters, canonical
from analysis.painpoints.costs import journey_terms
from analysis.painpoints.matrix import UNLINKED, Weights, pain_points, priority_matrix
from analysis.schema import ParameterError
from analysis.survival import customer_lifetimes, from_first
from analysis.survival.exposure import exposure_hazard

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


def test_journey_costs_match_plain_pandas():
    """Conversion impact, the raisers' revenue and the hazard ratios of the matrix, from a
    filtered DuckDB relation with tied timestamps, against a per-row pandas computation."""
    d = demo.load()
    first = d.events["customer_id"].drop_duplicates().iloc[:1500]
    ev = d.events[d.events["customer_id"].isin(first)].reset_index(drop=True)
    ev = ev.astype({"touchpoint": str, "channel": str, "stage": str})
    ev["timestamp"] = ev["timestamp"].dt.floor("D")  # many events at one instant
    ev["event_seq"] = np.arange(len(ev), dtype="int64")
    fb = d.feedback[d.feedback["customer_id"].isin(first)].reset_index(drop=True)
    relation = duckdb.connect().from_df(ev)
    events = canonical(relation, "events", Filters(channels=("web", "app", "email")))
    kept = ev[ev["channel"].isin(["web", "app", "email"])]
    conversion, churn = ["Purchase"], ["Cancel subscription"]
    result = pain_points(fb, events, churn=churn, conversion=conversion, start_at=conversion)
    matrix = journey_terms(result.matrix.drop(columns="priority"), result.comments, events,
                           churn, conversion, conversion).rename(columns={"_revenue": "raised"})
    assert matrix["conversion_impact"].notna().sum() > 5
    assert matrix["churn_hazard_ratio"].notna().sum() > 2

    ids = kept["customer_id"].astype(str)
    converted = kept["touchpoint"].isin(conversion).groupby(ids).max().astype(float)
    revenue = kept["revenue"].groupby(ids).sum()
    reached = ids.groupby(kept["touchpoint"]).agg(set)
    lifetimes = customer_lifetimes(from_first(kept, conversion), churn_touchpoints=churn)
    starts = lifetimes.set_index(lifetimes["customer_id"].astype(str))["start"]
    said = result.comments.dropna(subset=["customer_id"]).assign(
        customer_id=lambda c: c["customer_id"].astype(str))
    for row in matrix.itertuples():
        part = said[(said["touchpoint"] == row.touchpoint) & (said["topic_id"] == row.topic_id)]
        who = set(part["customer_id"]) & set(converted.index)
        others = reached.get(row.touchpoint, set()) - who
        impact = (converted[sorted(who)].mean() - converted[sorted(others)].mean()
                  if who and others and row.touchpoint not in conversion else np.nan)
        assert row.conversion_impact == pytest.approx(impact, nan_ok=True, abs=1e-12)
        negative = set(part.loc[part["sentiment"] == "negative", "customer_id"])
        assert row.raised == pytest.approx(revenue[sorted(negative & set(revenue.index))]
                                           .sum())
        if np.isfinite(row.churn_hazard_ratio):
            first_said = part.groupby("customer_id")["timestamp"].min()
            known = first_said.index.intersection(starts.index)
            days = (first_said[known] - starts[known]).dt.total_seconds() / 86_400
            fit = exposure_hazard(lifetimes, days)
            assert row.churn_hazard_ratio == pytest.approx(fit.hazard_ratio, rel=1e-9)
            assert row.hr_ci_low == pytest.approx(fit.ci_low, rel=1e-9)
