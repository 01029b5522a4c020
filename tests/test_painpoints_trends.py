"""Touchpoint sentiment over time: every count, share and interval of a hand-made set of
comments (intervals against analysis.stats), the period boundaries of stats.period_key, empty
periods as gaps, and weekly counts that add up on the demo data."""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.painpoints import pain_points
from analysis.painpoints.trends import TREND_COLUMNS, touchpoint_sentiment
from analysis.schema import MissingColumnError, ParameterError, UnknownValueError
from analysis.stats import nps_interval, period_key, period_start, wilson_interval

NAN = np.nan


def _comments() -> pd.DataFrame:
    """Checkout, week of Mon 2025-01-06: negative NPS 3, positive NPS 10, neutral NPS 8 (Sunday
    23:59, still that week), an unknown sentiment without a score. Week of 01-13: nothing.
    Week of 01-20: negative CSAT 2, positive CSAT 5 and " CSAT " 4, positive CES 6 and 3,
    a negative NPS 11 (out of range: no KPI). Support: one negative CSAT 1 on Mon 01-13."""
    rows = [
        ("Checkout", "2025-01-06 09:00", "negative", 3, "nps"),
        ("Checkout", "2025-01-08 12:00", "positive", 10, "nps"),
        ("Checkout", "2025-01-12 23:59", "neutral", 8, "nps"),
        ("Checkout", "2025-01-10 08:00", "unknown", NAN, None),
        ("Checkout", "2025-01-20 00:00", "negative", 2, "csat"),
        ("Checkout", "2025-01-21 10:00", "positive", 5, "csat"),
        ("Checkout", "2025-01-22 10:00", "positive", 4, " CSAT "),
        ("Checkout", "2025-01-23 10:00", "positive", 6, "ces"),
        ("Checkout", "2025-01-24 10:00", "positive", 3, "ces"),
        ("Checkout", "2025-01-26 10:00", "negative", 11, "nps"),
        ("Support", "2025-01-13 00:00", "negative", 1, "csat"),
    ]
    frame = pd.DataFrame(rows, columns=["touchpoint", "timestamp", "sentiment", "score", "scale"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame.insert(0, "customer_id", [f"C{i}" for i in range(len(frame))])
    frame["text"] = "x"
    return frame


def _row(table: pd.DataFrame, touchpoint: str, start: str) -> pd.Series:
    hit = table[(table["touchpoint"] == touchpoint)
                & (table["period_start"] == pd.Timestamp(start))]
    assert len(hit) == 1
    return hit.iloc[0]


def _interval(x: int, n: int) -> tuple[float, float]:
    low, high = wilson_interval([x], [n])
    return float(low[0]), float(high[0])


def test_columns_and_grid_of_touchpoints_by_weeks():
    table = touchpoint_sentiment(_comments())
    assert tuple(table.columns) == TREND_COLUMNS
    assert table["touchpoint"].tolist() == ["Checkout"] * 3 + ["Support"] * 3
    weeks = pd.to_datetime(["2025-01-06", "2025-01-13", "2025-01-20"]).tolist()
    assert table["period_start"].tolist() == weeks * 2
    assert table["comments"].tolist() == [4, 0, 6, 0, 1, 0]


def test_first_week_counts_shares_and_nps():
    row = _row(touchpoint_sentiment(_comments()), "Checkout", "2025-01-06")
    assert (row["comments"], row["rated"], row["negative"]) == (4, 3, 1)
    assert row["negative_share"] == pytest.approx(1 / 3)
    assert (row["neg_ci_low"], row["neg_ci_high"]) == pytest.approx(_interval(1, 3))
    assert (row["nps_responses"], row["promoters"], row["detractors"]) == (3, 1, 1)
    assert row["nps"] == pytest.approx(0.0)
    assert (row["nps_ci_low"], row["nps_ci_high"]) == pytest.approx(nps_interval(1, 1, 3))
    assert round(row["nps_ci_low"], 5) == round(-row["nps_ci_high"], 5)  # symmetric at 0
    assert row["csat_responses"] == 0 and row["ces_responses"] == 0
    assert np.isnan([row["csat"], row["csat_ci_low"], row["csat_ci_high"], row["ces"]]).all()


def test_week_without_comments_is_zero_counts_and_nan_measures():
    row = _row(touchpoint_sentiment(_comments()), "Checkout", "2025-01-13")
    counts = ["comments", "rated", "negative", "nps_responses", "csat_responses",
              "ces_responses"]
    assert (row[counts] == 0).all()
    measures = [c for c in TREND_COLUMNS if c in ("negative_share", "nps", "csat", "ces")
                or "_ci_" in c]
    assert row[measures].isna().all()


def test_third_week_csat_ces_and_no_nps():
    row = _row(touchpoint_sentiment(_comments()), "Checkout", "2025-01-20")
    assert (row["comments"], row["rated"], row["negative"]) == (6, 6, 2)
    assert row["negative_share"] == pytest.approx(1 / 3)
    assert (row["neg_ci_low"], row["neg_ci_high"]) == pytest.approx(_interval(2, 6))
    # The NPS answer of 11 is outside 0–10: a comment, but no NPS answer.
    assert row["nps_responses"] == 0 and np.isnan(row["nps"])
    assert np.isnan(row["nps_ci_low"]) and np.isnan(row["nps_ci_high"])
    assert (row["csat_responses"], row["satisfied"]) == (3, 2)
    assert row["csat"] == pytest.approx(2 / 3)
    assert (row["csat_ci_low"], row["csat_ci_high"]) == pytest.approx(_interval(2, 3))
    assert (row["ces_responses"], row["ces"]) == (2, 4.5)


def test_golden_wilson_and_nps_numbers():
    """Outside reference: Wilson (1, 3) = 0.06149, 0.79234 (R binom::binom.wilson); Rocks'
    interval for 1 promoter, 1 detractor of 3 from its formula by hand."""
    row = _row(touchpoint_sentiment(_comments()), "Checkout", "2025-01-06")
    assert (round(row["neg_ci_low"], 5), round(row["neg_ci_high"], 5)) == (0.06149, 0.79234)
    p = 1.75 / 6
    half = 1.959963984540054 * np.sqrt(2 * p / 6)
    assert row["nps_ci_high"] == pytest.approx(100 * half)


def test_single_support_comment_and_its_weeks():
    table = touchpoint_sentiment(_comments())
    row = _row(table, "Support", "2025-01-13")
    assert (row["comments"], row["rated"], row["negative"], row["negative_share"]) == (
        1, 1, 1, 1.0)
    assert (row["csat_responses"], row["satisfied"], row["csat"]) == (1, 0, 0.0)
    assert (row["neg_ci_low"], row["neg_ci_high"]) == pytest.approx(_interval(1, 1))
    assert _row(table, "Support", "2025-01-06")["comments"] == 0


def test_months_start_on_the_first_day():
    table = touchpoint_sentiment(_comments(), period="month")
    assert table["period_start"].tolist() == [pd.Timestamp("2025-01-01")] * 2
    assert table["comments"].tolist() == [10, 1]
    checkout = table.iloc[0]
    assert (checkout["rated"], checkout["negative"]) == (9, 3)
    assert (checkout["nps_responses"], checkout["csat_responses"]) == (3, 3)


@pytest.mark.parametrize("period", ["week", "month"])
def test_periods_match_stats_period_key(period):
    stamps = pd.Series(pd.date_range("2024-12-25", "2025-03-10 23:00", freq="7h"))
    stamps = pd.concat([stamps, pd.Series(pd.to_datetime(
        ["2025-01-05 23:59:59", "2025-01-06 00:00:00", "2025-02-01 00:00:00",
         "2025-01-31 23:59:59"]))])
    frame = pd.DataFrame({"timestamp": stamps.to_numpy(), "touchpoint": "A",
                          "sentiment": "neutral"})
    keys = nw.from_native(frame).with_columns(key=period_key("timestamp", period))["key"]
    expected = period_start(keys.to_native(), period).value_counts().sort_index()
    table = touchpoint_sentiment(frame, period=period)
    got = table.set_index("period_start")["comments"]
    assert got[got > 0].to_dict() == {pd.Timestamp(k): v for k, v in expected.items()}


def test_touchpoints_keep_the_given_order_and_unknown_names_raise():
    table = touchpoint_sentiment(_comments(), touchpoints=["Support", "Checkout"])
    assert table["touchpoint"].drop_duplicates().tolist() == ["Support", "Checkout"]
    only = touchpoint_sentiment(_comments(), touchpoints=["Support"])
    assert only["touchpoint"].unique().tolist() == ["Support"]
    assert only["period_start"].tolist() == [pd.Timestamp("2025-01-13")]
    with pytest.raises(UnknownValueError, match="Chekout"):
        touchpoint_sentiment(_comments(), touchpoints=["Chekout"])


def test_bad_input_raises_with_a_hint():
    with pytest.raises(MissingColumnError, match="sentiment"):
        touchpoint_sentiment(_comments().drop(columns="sentiment"))
    with pytest.raises(ParameterError, match="period"):
        touchpoint_sentiment(_comments(), period="day")


def test_without_scores_the_kpis_are_nan():
    table = touchpoint_sentiment(_comments().drop(columns=["score", "scale"]))
    assert (table[["nps_responses", "csat_responses", "ces_responses"]] == 0).all().all()
    assert table[["nps", "csat", "ces"]].isna().all().all()
    assert table["negative"].sum() == 4


def test_input_not_mutated_and_missing_times_not_counted():
    comments = _comments()
    comments.loc[3, "timestamp"] = pd.NaT
    before = comments.copy()
    table = touchpoint_sentiment(comments)
    pd.testing.assert_frame_equal(comments, before)
    assert table["comments"].sum() == len(comments) - 1


def test_time_zone_aware_stamps_are_read_in_utc():
    comments = _comments()
    # 2025-01-06 00:30 in Berlin is Sunday 23:30 UTC: the week before.
    comments["timestamp"] = comments["timestamp"].dt.tz_localize("UTC")
    comments.loc[0, "timestamp"] = pd.Timestamp("2025-01-06 00:30", tz="Europe/Berlin")
    table = touchpoint_sentiment(comments)
    assert table["period_start"].min() == pd.Timestamp("2024-12-30")
    assert _row(table, "Checkout", "2024-12-30")["negative"] == 1


def test_empty_comments_give_an_empty_table():
    table = touchpoint_sentiment(_comments().iloc[:0])
    assert table.empty and tuple(table.columns) == TREND_COLUMNS
    assert table["comments"].dtype == "int64" and table["nps"].dtype == "float64"


@pytest.fixture(scope="module")
def demo_comments() -> pd.DataFrame:
    d = demo.load()
    return pain_points(d.feedback, d.events, n_topics=5).comments


@pytest.mark.parametrize("period", ["week", "month"])
def test_demo_period_counts_add_up_per_touchpoint(demo_comments, period):
    table = touchpoint_sentiment(demo_comments, period=period)
    per_touchpoint = demo_comments["touchpoint"].value_counts().sort_index()
    pd.testing.assert_series_equal(table.groupby("touchpoint")["comments"].sum(),
                                   per_touchpoint, check_names=False)
    for col in ("nps_responses", "csat_responses", "ces_responses"):
        scale = col.split("_")[0]
        assert table[col].sum() == (demo_comments["scale"] == scale).sum()
    assert (table["rated"] <= table["comments"]).all()
    assert table["negative"].sum() == (demo_comments["sentiment"] == "negative").sum()


def test_demo_weeks_are_consecutive_mondays(demo_comments):
    table = touchpoint_sentiment(demo_comments)
    starts = table["period_start"].drop_duplicates()
    assert (starts.dt.dayofweek == 0).all()
    assert (starts.diff().dropna() == pd.Timedelta(days=7)).all()
    assert len(table) == len(starts) * demo_comments["touchpoint"].nunique()
    shares = table["negative_share"].dropna()
    assert shares.between(0, 1).all()
    known = table.dropna(subset=["neg_ci_low"])
    assert (known["neg_ci_low"] <= known["negative_share"] + 1e-12).all()
    assert (known["negative_share"] <= known["neg_ci_high"] + 1e-12).all()
