"""Home-page KPIs against hand-computed values."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from analysis import demo, ingest, overview

EVENTS = pd.DataFrame(
    {
        "customer_id": ["a", "a", "b", "b", "c", "d"],
        "timestamp": pd.to_datetime(
            ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-09", "2024-01-10", "2024-01-15"]
        ),
        "touchpoint": ["Home", "Purchase", "Home", "Cancel plan", "Home", "Order placed"],
        "channel": ["web", "web", "app", None, "store", "web"],
        "revenue": [None, 10.0, None, None, None, 5.5],
    }
)
FEEDBACK = pd.DataFrame(
    {
        "timestamp": pd.to_datetime(["2024-01-05"] * 9),
        "score": [10, 9, 7, 3, 5, 4, 2, 6, 1],
        "scale": ["nps", "nps", "nps", "nps", "csat", "csat", "csat", "ces", "ces"],
    }
)


def test_overview_on_hand_built_data():
    ov = overview.dataset_overview(EVENTS, FEEDBACK)
    assert (ov.customers, ov.events, ov.touchpoints, ov.channels) == (4, 6, 4, 3)
    assert ov.conversion_touchpoints == ("Order placed", "Purchase")
    assert ov.conversion_rate == pytest.approx(2 / 4)
    assert ov.churn_touchpoints == ("Cancel plan",)
    assert ov.churn_rate == pytest.approx(1 / 4)
    assert ov.revenue == pytest.approx(15.5)
    assert ov.feedback == 9
    # NPS: 2 promoters, 1 detractor (3) of 4 answers -> (2 - 1) / 4 = +25
    assert ov.nps == pytest.approx(25.0)
    assert ov.nps_responses == 4
    assert ov.csat == pytest.approx(2 / 3)  # 5 and 4 of 5, 4, 2
    assert ov.ces == pytest.approx(3.5)
    assert ov.first == pd.Timestamp("2024-01-01") and ov.last == pd.Timestamp("2024-01-15")


def test_explicit_touchpoints_override_detection():
    ov = overview.dataset_overview(EVENTS, conversion=["Home"], churn=[])
    assert ov.conversion_rate == pytest.approx(3 / 4)
    assert ov.churn_rate is None
    assert ov.churn_touchpoints == () and ov.inactivity_days is None


def test_no_feedback_scores_is_a_message_not_an_error():
    ov = overview.dataset_overview(EVENTS, FEEDBACK.drop(columns=["score"]))
    assert ov.nps is None and ov.feedback == 9
    assert any("no scores" in m for m in ov.messages)


def test_empty_after_filters_gives_zero_and_a_message():
    ov = overview.dataset_overview(EVENTS.iloc[0:0])
    assert ov.customers == 0 and ov.conversion_rate is None
    assert any("No events match" in m for m in ov.messages)


def test_polars_gives_the_same_overview():
    a = overview.dataset_overview(EVENTS, FEEDBACK)
    b = overview.dataset_overview(pl.from_pandas(EVENTS), pl.from_pandas(FEEDBACK))
    assert a == b


def test_weekly_activity_counts_match_pandas():
    events = demo.load().events
    weekly = overview.weekly_activity(events, by=None)
    week = events["timestamp"].dt.to_period("W-SUN").dt.start_time
    expected = events.groupby(week).agg(customers=("customer_id", "nunique"),
                                        events=("customer_id", "size"))
    assert weekly["week"].dt.dayofweek.eq(0).all()
    assert weekly.set_index("week")[["customers", "events"]].equals(
        expected.rename_axis("week").astype(weekly[["customers", "events"]].dtypes)
    )


def test_profile_lists_low_cardinality_attributes():
    d = demo.load()
    p = ingest.profile(d.events, "events")
    assert p["customers"] == 5000
    assert p["attributes"]["segment"] == ["Budget", "Mainstream", "Premium"]
    assert "customer_id" not in p["attributes"]
    assert set(p["channels"]) == {"web", "app", "store", "call center", "email", "social", "chat"}
