"""Home-page KPIs against hand-computed values."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import polars as pl
import pytest

from analysis import demo, ingest, overview
from analysis.frames import Filters, canonical

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


def _enum_events(clash: bool) -> tuple[duckdb.DuckDBPyRelation, pd.DataFrame]:
    """A DuckDB relation with ENUM touchpoint and channel (as a stored dataset has them),
    events at equal timestamps, a missing channel, a channel spelt like a missing one and a
    missing customer (with ``clash``, a channel spelt "(none)" in a week with a missing one);
    and the same rows in pandas."""
    frame = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", None, "c", "c", "d", "d"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-03",
                                     "2024-01-03", "2024-01-04", "2024-01-10", "2024-02-20",
                                     "2024-01-09", "2024-01-09"]),
        "touchpoint": ["Home", "Purchase", "Home", "Home", "Cancel plan", "Purchase", "Home",
                       "Home", "Purchase", "Cancel plan"],
        "channel": ["web", "web", None, "app", "app", "web", "store", None, "web",
                    "(none)" if clash else "app"],
        "revenue": [None, 10.0, None, None, None, 3.0, None, None, 5.5, None],
    })
    con = duckdb.connect()
    con.execute("CREATE TYPE tp AS ENUM ('Cancel plan', 'Home', 'Purchase')")
    con.execute("CREATE TYPE ch AS ENUM ('(none)', 'app', 'store', 'web')")
    con.register("raw", frame)
    rel = con.sql("SELECT customer_id, timestamp, CAST(touchpoint AS tp) AS touchpoint, "
                  "CAST(channel AS ch) AS channel, revenue FROM raw")
    return rel, frame


@pytest.mark.parametrize(("filtered", "clash"), [(False, False), (True, False), (True, True)])
def test_rates_and_weekly_activity_match_plain_pandas(filtered, clash):
    rel, frame = _enum_events(clash)
    filters = Filters(end=date(2024, 1, 31)) if filtered else None
    events = canonical(rel, "events", filters)
    if filtered:
        frame = frame[frame["timestamp"] < "2024-02-01"]
    ov = overview.dataset_overview(events, conversion=["Purchase"], churn=["Cancel plan"],
                                   inactivity_days=20)
    ids = frame["customer_id"].fillna("<missing>")
    customers = ids.nunique()
    converted = ids[frame["touchpoint"] == "Purchase"].nunique()
    last = frame.groupby(ids)["timestamp"].max()
    quiet = last[last < frame["timestamp"].max() - pd.Timedelta(days=20)].index
    churned = set(ids[frame["touchpoint"] == "Cancel plan"]) | set(quiet)
    assert (ov.customers, ov.events) == (customers, len(frame))
    assert ov.conversion_rate == converted / customers
    assert ov.churn_rate == len(churned) / customers
    assert ov.touchpoints == frame["touchpoint"].nunique()
    assert ov.channels == frame["channel"].nunique()

    weekly = overview.weekly_activity(events)
    week = frame["timestamp"].dt.to_period("W-SUN").dt.start_time.rename("week")
    expected = (frame.assign(week=week, channel=frame["channel"].fillna("(none)"),
                             customer_id=ids)
                .groupby(["week", "channel"])
                .agg(customers=("customer_id", "nunique"), events=("customer_id", "size"))
                .reset_index())
    pd.testing.assert_frame_equal(weekly, expected, check_dtype=False)
