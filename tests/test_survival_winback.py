"""win_back: churn-and-return gaps, re-entry points, next steps and second lifetimes."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from analysis import survival
from analysis.schema import ParameterError, UnknownValueError
from analysis.survival.km import KMResult
from analysis.survival.winback import AFTER_RETURN, FIRST_LIFETIME, WinBackResult, win_back

T = pd.Timestamp
AS_OF = "2024-06-30"
RULES = {"inactivity_days": 30, "churn_touchpoints": ["cancel"], "as_of": AS_OF}


@pytest.fixture
def events() -> pd.DataFrame:
    """Journeys in 2024 (a leap year), as_of 2024-06-30, 30 days of inactivity or "cancel".

    a: quiet 51 days after Jan 10, back by email on Mar 1, quiet again after Mar 20.
    b: cancels Feb 3, back in store on Feb 10, active to the end (second lifetime censored).
    c: quiet 56 days after its first event, back in the app, cancels again on Mar 11, then
       comes back once more (only the first return counts).
    d: cancels and never returns. e: never churns. f: one event, quiet until as_of.
    g: cancel and a store visit at the same instant, cancel first in row order: a return
       after 0 days. h: the same instant the other way round: no return.
    i: a run of two cancels, back by chat two days after the second.
    """
    rows = [
        ("a", "2024-01-01", "visit", "web"), ("a", "2024-01-10", "buy", "web"),
        ("a", "2024-03-01", "email_open", "email"), ("a", "2024-03-05", "visit", "web"),
        ("a", "2024-03-20", "buy", "app"),
        ("b", "2024-02-01", "visit", "web"), ("b", "2024-02-03", "cancel", "web"),
        ("b", "2024-02-10", "visit", "store"), ("b", "2024-03-01", "buy", "store"),
        ("b", "2024-03-25", "visit", "web"), ("b", "2024-04-20", "visit", "web"),
        ("b", "2024-05-15", "visit", "web"), ("b", "2024-06-10", "visit", "web"),
        ("b", "2024-06-25", "visit", "web"),
        ("c", "2024-01-05", "visit", "web"), ("c", "2024-03-01", "visit", "app"),
        ("c", "2024-03-11", "cancel", "app"), ("c", "2024-04-01", "visit", "web"),
        ("d", "2024-01-01", "visit", "web"), ("d", "2024-01-02", "cancel", "web"),
        ("e", "2024-06-01", "visit", "web"), ("e", "2024-06-15", "visit", "web"),
        ("f", "2024-02-01", "visit", "web"),
        ("g", "2024-02-25", "visit", "web"), ("g", "2024-03-01", "cancel", "web"),
        ("g", "2024-03-01", "visit", "store"),
        ("h", "2024-03-01", "visit", "web"), ("h", "2024-03-01", "cancel", "web"),
        ("i", "2024-04-01", "visit", "web"), ("i", "2024-04-02", "cancel", "web"),
        ("i", "2024-04-03", "cancel", "web"), ("i", "2024-04-05", "visit", "chat"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


# customer, churned_at, returned_at, gap_days, touchpoint, channel, first_days, second_days,
# second_churned
EXPECTED_RETURNS = [
    ("a", "2024-01-10", "2024-03-01", 51.0, "email_open", "email", 9.0, 19.0, True),
    ("b", "2024-02-03", "2024-02-10", 7.0, "visit", "store", 2.0, 141.0, False),
    ("c", "2024-01-05", "2024-03-01", 56.0, "visit", "app", 0.0, 10.0, True),
    ("g", "2024-03-01", "2024-03-01", 0.0, "visit", "store", 5.0, 0.0, True),
    ("i", "2024-04-03", "2024-04-05", 2.0, "visit", "chat", 2.0, 0.0, True),
]
RETURN_COLUMNS = ["customer_id", "churned_at", "returned_at", "gap_days", "reentry_touchpoint",
                  "reentry_channel", "first_duration_days", "second_duration_days",
                  "second_churned"]


def _expected_returns() -> pd.DataFrame:
    frame = pd.DataFrame(EXPECTED_RETURNS, columns=RETURN_COLUMNS)
    for column in ("churned_at", "returned_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame


def test_returns_match_hand_computed_gaps_reentries_and_second_lifetimes(events):
    out = win_back(events, **RULES)
    assert isinstance(out, WinBackResult)
    assert (out.status, out.message) == ("ok", "")
    pd.testing.assert_frame_equal(out.returns, _expected_returns())
    # a, b, c, d, f, g, h, i churned at least once; e never did.
    assert (out.churned, out.returned) == (8, 5)
    assert out.return_share == pytest.approx(5 / 8)
    assert out.median_gap_days == pytest.approx(7.0)
    assert out.as_of == T(AS_OF)


def test_entries_count_reentry_points_sorted_by_customers_then_name(events):
    entries = win_back(events, **RULES).entries
    expected = pd.DataFrame({
        "reentry_touchpoint": ["visit", "email_open", "visit", "visit"],
        "reentry_channel": ["store", "email", "app", "chat"],
        "customers": [2, 1, 1, 1],
        "share": [0.4, 0.2, 0.2, 0.2],
        "median_gap_days": [3.5, 51.0, 56.0, 2.0],
    })
    pd.testing.assert_frame_equal(entries, expected)


def test_links_follow_the_first_steps_after_the_return(events):
    links = win_back(events, **RULES, steps=3).links
    expected = pd.DataFrame(
        [(1, "visit", "(end)", 2),        # g and i: nothing after the re-entry
         (1, "email_open", "visit", 1),   # a
         (1, "visit", "buy", 1),          # b
         (1, "visit", "cancel", 1),       # c
         (2, "buy", "visit", 1),          # b
         (2, "cancel", "visit", 1),       # c
         (2, "visit", "buy", 1)],         # a
        columns=["step", "source", "target", "customers"],
    )
    pd.testing.assert_frame_equal(links.astype({"step": "int64", "customers": "int64"}),
                                  expected)


def test_survival_compares_first_lifetimes_with_lives_after_return(events):
    km = win_back(events, **RULES).survival
    assert isinstance(km, KMResult)
    summary = km.summary.set_index("group")
    # First lifetimes are customer_lifetimes under the same rules: everyone but e churned
    # (a and f by inactivity before as_of, the others by cancelling).
    assert summary.loc[FIRST_LIFETIME, ["customers", "churned"]].tolist() == [9, 8]
    assert summary.loc[AFTER_RETURN, ["customers", "churned"]].tolist() == [5, 4]
    assert km.logrank_p is not None and 0 <= km.logrank_p <= 1


def test_without_channel_the_channel_columns_are_left_out(events):
    out = win_back(events.drop(columns="channel"), **RULES)
    assert "reentry_channel" not in out.returns.columns
    assert list(out.entries.columns) == ["reentry_touchpoint", "customers", "share",
                                         "median_gap_days"]
    assert out.entries["customers"].tolist() == [4, 1]


def test_inactivity_only_and_as_of_default(events):
    out = win_back(events, inactivity_days=30)
    assert out.as_of == T("2024-06-25")     # the last event
    # Without "cancel" only a and c have a gap of more than 30 days (c's first one).
    assert out.returns["customer_id"].tolist() == ["a", "c"]
    assert out.returns["gap_days"].tolist() == [51.0, 56.0]
    # "cancel" is an ordinary event now: c's second lifetime runs through it (gaps of 10
    # and 21 days) to its last event, Apr 1, quiet for over 30 days before Jun 25: 31 days.
    assert out.returns["second_duration_days"].tolist() == [19.0, 31.0]
    assert out.returns["second_churned"].tolist() == [True, True]
    # Churned: a and c (gaps) plus d, f, g, h, i (quiet for 30 days before Jun 25).
    assert (out.churned, out.returned) == (7, 2)


def test_duckdb_and_polars_input_give_the_same_result(events):
    expected = win_back(events, **RULES)
    relation = duckdb.connect().from_df(events.assign(event_seq=np.arange(len(events))))
    for data in (relation, duckdb.from_df(events.assign(event_seq=np.arange(len(events)))),
                 pl.from_pandas(events)):
        out = win_back(data, **RULES)
        pd.testing.assert_frame_equal(out.returns, expected.returns)
        pd.testing.assert_frame_equal(out.entries, expected.entries)
        pd.testing.assert_frame_equal(out.links, expected.links)
        pd.testing.assert_frame_equal(out.survival.summary, expected.survival.summary)
        assert (out.churned, out.returned) == (expected.churned, expected.returned)


def test_input_is_not_mutated_and_the_function_is_exported(events):
    before = events.copy()
    win_back(events, **RULES)
    pd.testing.assert_frame_equal(events, before)
    assert survival.win_back is win_back and survival.WinBackResult is WinBackResult


def test_nobody_back_is_empty_with_a_message(events):
    out = win_back(events[events["customer_id"].isin(["d", "e", "h"])], **RULES)
    assert out.status == "empty" and out.message == "No customer came back after churning."
    assert (out.churned, out.returned, out.return_share) == (2, 0, 0.0)
    assert np.isnan(out.median_gap_days)
    assert out.returns.empty and list(out.returns.columns) == RETURN_COLUMNS
    assert out.entries.empty and out.links.empty
    assert list(out.links.columns) == ["step", "source", "target", "customers"]


def test_nobody_churned_is_degenerate_and_no_data_is_empty(events):
    out = win_back(events[events["customer_id"] == "e"], inactivity_days=30)
    assert out.status == "degenerate" and "No customer churned" in out.message
    assert (out.churned, out.returned) == (0, 0) and np.isnan(out.return_share)

    empty = win_back(events.iloc[:0], inactivity_days=30)
    assert empty.status == "empty" and empty.message
    assert empty.returns.empty and list(empty.returns.columns) == RETURN_COLUMNS
    assert empty.survival.status == "empty" and empty.as_of is None


@pytest.mark.parametrize("days", [0, -5, None, "30", True])
def test_bad_inactivity_days_raises(events, days):
    with pytest.raises(ParameterError, match="inactivity_days"):
        win_back(events, inactivity_days=days)


def test_bad_touchpoints_steps_and_as_of_raise_with_hints(events):
    with pytest.raises(UnknownValueError, match="did you mean 'cancel'"):
        win_back(events, inactivity_days=30, churn_touchpoints=["cancl"])
    with pytest.raises(ParameterError, match="max_steps"):
        win_back(events, inactivity_days=30, steps=1)
    with pytest.raises(ParameterError, match="as_of"):
        win_back(events, inactivity_days=30, as_of="2023-01-01")


def test_demo_returns_follow_a_gap_longer_than_the_inactivity_window():
    from analysis import demo

    out = win_back(demo.load().events, inactivity_days=60)
    assert out.status == "ok" and 0 < out.returned <= out.churned
    assert (out.returns["gap_days"] > 60).all()
    assert (out.returns["returned_at"] > out.returns["churned_at"]).all()
    assert out.entries["customers"].sum() == out.returned
    assert out.links.loc[out.links["step"] == 1, "customers"].sum() == out.returned
