"""customer_lifetimes: churn by touchpoint, by inactivity, both, and censoring at as_of."""

from __future__ import annotations

import duckdb
import pandas as pd
import polars as pl
import pytest

from analysis.schema import ParameterError, UnknownValueError
from analysis.survival.lifetimes import customer_lifetimes

T = pd.Timestamp


@pytest.fixture
def events() -> pd.DataFrame:
    # a: cancels on day 4 (then a stray event); b: quiet after Jan 3; c: active to Mar 1;
    # d: joins Feb 1, one event.
    return pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c", "c", "d"],
        "timestamp": pd.to_datetime([
            "2024-01-01", "2024-01-05", "2024-01-10", "2024-01-02", "2024-01-03",
            "2024-01-01", "2024-03-01", "2024-02-01",
        ]),
        "touchpoint": ["visit", "cancel", "visit", "visit", "visit", "visit", "visit", "visit"],
    })


def _rows(out: pd.DataFrame) -> dict[str, tuple]:
    return {r.customer_id: (r.start, r.end, r.duration_days, r.churned)
            for r in out.itertuples()}


def test_touchpoint_churn_ends_at_first_cancel_others_censored_at_last_event(events):
    out = customer_lifetimes(events, churn_touchpoints=["cancel"])
    assert list(out.columns) == ["customer_id", "start", "end", "duration_days", "churned"]
    assert _rows(out) == {
        "a": (T("2024-01-01"), T("2024-01-05"), 4.0, True),
        "b": (T("2024-01-02"), T("2024-03-01"), 59.0, False),
        "c": (T("2024-01-01"), T("2024-03-01"), 60.0, False),
        "d": (T("2024-02-01"), T("2024-03-01"), 29.0, False),
    }
    assert out["churned"].dtype == bool


def test_inactivity_churn_ends_at_last_event(events):
    out = customer_lifetimes(events, inactivity_days=30)
    # as_of Mar 1: a last seen Jan 10 and b Jan 3 (> 30 days), d Feb 1 (29 days: stays).
    assert _rows(out) == {
        "a": (T("2024-01-01"), T("2024-01-10"), 9.0, True),
        "b": (T("2024-01-02"), T("2024-01-03"), 1.0, True),
        "c": (T("2024-01-01"), T("2024-03-01"), 60.0, False),
        "d": (T("2024-02-01"), T("2024-03-01"), 29.0, False),
    }


def test_both_rules_touchpoint_wins_and_as_of_cuts_the_data(events):
    out = customer_lifetimes(events, churn_touchpoints=["cancel"], inactivity_days=30,
                             as_of="2024-02-15")
    # c's Mar 1 event is after as_of: last seen Jan 1, more than 30 days before Feb 15.
    assert _rows(out) == {
        "a": (T("2024-01-01"), T("2024-01-05"), 4.0, True),
        "b": (T("2024-01-02"), T("2024-01-03"), 1.0, True),
        "c": (T("2024-01-01"), T("2024-01-01"), 0.0, True),
        "d": (T("2024-02-01"), T("2024-02-15"), 14.0, False),
    }


def test_as_of_censoring_drops_customers_not_yet_started(events):
    out = customer_lifetimes(events, churn_touchpoints=["cancel"], as_of="2024-01-04")
    assert _rows(out) == {
        "a": (T("2024-01-01"), T("2024-01-04"), 3.0, False),
        "b": (T("2024-01-02"), T("2024-01-04"), 2.0, False),
        "c": (T("2024-01-01"), T("2024-01-04"), 3.0, False),
    }


def test_pandas_polars_and_duckdb_give_identical_lifetimes(events):
    kwargs = {"churn_touchpoints": ["cancel"], "inactivity_days": 30, "as_of": "2024-02-20"}
    expected = customer_lifetimes(events, **kwargs)
    copy = events.copy()
    pd.testing.assert_frame_equal(customer_lifetimes(pl.from_pandas(events), **kwargs),
                                  expected)
    pd.testing.assert_frame_equal(customer_lifetimes(duckdb.from_df(copy), **kwargs), expected)
    pd.testing.assert_frame_equal(events, copy)  # input not mutated


def test_date_only_timestamps(events):
    dated = events.assign(timestamp=events["timestamp"].dt.date)
    out = customer_lifetimes(pl.from_pandas(dated), churn_touchpoints=["cancel"])
    assert out["duration_days"].tolist() == [4.0, 59.0, 60.0, 29.0]


def test_customers_table_with_ready_durations():
    customers = pd.DataFrame({"customer_id": [2, 1], "duration": [10, 3.5],
                              "churned": ["yes", "no"]})
    out = customer_lifetimes(customers)
    assert out["customer_id"].tolist() == ["1", "2"]
    assert out["duration_days"].tolist() == [3.5, 10.0]
    assert out["churned"].tolist() == [False, True]
    assert out["start"].isna().all()


def test_bad_input_raises_with_hint(events):
    with pytest.raises(UnknownValueError, match="cancel"):
        customer_lifetimes(events, churn_touchpoints=["cancle"])
    with pytest.raises(ParameterError, match="positive"):
        customer_lifetimes(events, inactivity_days=-3)
    with pytest.raises(ParameterError, match="before the first event"):
        customer_lifetimes(events, as_of="2023-01-01")
    with pytest.raises(ParameterError, match="as_of"):
        customer_lifetimes(events, as_of=12)
    with pytest.raises(ParameterError, match="negative"):
        customer_lifetimes(pd.DataFrame({"customer_id": [1], "duration": [-1],
                                         "churned": [True]}))


def test_empty_events_give_an_empty_table(events):
    out = customer_lifetimes(events.iloc[:0])
    assert out.empty and list(out.columns) == [
        "customer_id", "start", "end", "duration_days", "churned"]


@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
def test_enum_touchpoints_in_one_pass_give_the_same_lifetimes(events, zone):
    # ENUM touchpoints (as stored datasets have) skip the pass that finds the first and
    # last events; the lifetimes are those of the same events with text touchpoints. A row
    # without a time and a customer with no timed event are left out by both.
    con = duckdb.connect()
    con.execute("CREATE TYPE tp AS ENUM ('visit', 'cancel', 'never')")
    raw = pd.concat([events, pd.DataFrame({
        "customer_id": ["a", "e"], "timestamp": [pd.NaT, pd.NaT],
        "touchpoint": ["cancel", "visit"]})], ignore_index=True)
    if zone:
        raw["timestamp"] = raw["timestamp"].dt.tz_localize(zone)
    con.register("raw", raw)
    text = con.sql("SELECT * FROM raw")
    enum = con.sql("SELECT * REPLACE (touchpoint::tp AS touchpoint) FROM raw")
    for kwargs in ({"churn_touchpoints": ["cancel"]}, {"inactivity_days": 30},
                   {"churn_touchpoints": ["cancel"], "inactivity_days": 20}, {}):
        fast = customer_lifetimes(enum, **kwargs)
        pd.testing.assert_frame_equal(fast, customer_lifetimes(text, **kwargs))
        assert "e" not in set(fast["customer_id"]) and len(fast) == 4
    with pytest.raises(UnknownValueError):
        customer_lifetimes(enum, churn_touchpoints=["close"])
    untimed = con.sql("SELECT * REPLACE (touchpoint::tp AS touchpoint) FROM raw "
                      "WHERE timestamp IS NULL")
    assert customer_lifetimes(untimed, inactivity_days=5).empty


def test_lifetimes_from_first_equal_those_of_the_population(tmp_path):
    """The shortcut through the starts (a stored dataset: ENUM touchpoints, precomputed
    last times) and the plain path give customer_lifetimes(from_first(...)) exactly."""
    from analysis import demo, frames, ingest
    from analysis.store import Workspace
    from analysis.survival import from_first
    from analysis.survival.lifetimes import lifetimes_from_first

    events = demo.load().events
    ws = Workspace(tmp_path / "ws")
    info = ws.import_result(ingest.prepare(events, ingest.guess_mapping(events, "events"),
                                           "events"), name="demo")
    stored = frames.load(ws, info.id)
    for frame in (stored, events):
        for start in (["Purchase"], ["Purchase", "Renewal"], []):
            want = customer_lifetimes(from_first(frame, start) if start else frame,
                                      churn_touchpoints=["Cancel subscription"])
            got = lifetimes_from_first(frame, start, churn_touchpoints=["Cancel subscription"])
            key = ["customer_id"]
            pd.testing.assert_frame_equal(
                got.sort_values(key).reset_index(drop=True),
                want.sort_values(key).reset_index(drop=True), check_dtype=False)
