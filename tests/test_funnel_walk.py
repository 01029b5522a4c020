"""The funnel's numpy walk over the step events gives the engine plans' step times."""

from __future__ import annotations

from datetime import timedelta

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from analysis import demo, frames, funnel

T0 = pd.Timestamp("2024-01-01 00:00")


def _engine(events, steps, **kw) -> pd.DataFrame:
    """Step times from the engine plans (:func:`analysis.funnel.customer_steps`)."""
    per = funnel.customer_steps(frames.canonical(events), funnel.step_sets(steps), **kw)
    return frames.to_pandas(per.drop("customer_id"))


def _sorted(times: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order (engines return groups in any order), times as datetime64[us]."""
    out = times.astype({"_group": str}).astype(
        {c: "datetime64[us]" for c in times.columns if c != "_group"})
    return out.sort_values(list(out.columns), na_position="last").reset_index(drop=True)


def _events(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "hours", "touchpoint", "segment"])
    df["timestamp"] = T0 + pd.to_timedelta(df.pop("hours"), unit="h")
    df["channel"] = "web"
    df["event_seq"] = np.arange(len(df))[::-1]  # file order disagrees with row order
    df["touchpoint"] = pd.Categorical(df["touchpoint"], categories=list("ABCX"))
    return df


@settings(max_examples=120, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 6),
                               st.sampled_from(["A", "B", "C", "X", None]),
                               st.sampled_from(["s", "t", None])),
                     min_size=1, max_size=40),
       steps=st.lists(st.sampled_from(["A", "B", "C", ("B", "C"), ("A", "X")]),
                      min_size=2, max_size=4),
       mode=st.sampled_from(funnel.MODES),
       hours=st.one_of(st.none(), st.integers(0, 4)),
       by=st.sampled_from([None, "segment"]))
def test_walk_matches_the_engine_plans(rows, steps, mode, hours, by):
    """Equal times (file order decides), events without a touchpoint, step sets, repeats,
    windows and breakdowns, in every mode."""
    df = _events(rows)
    steps = [list(s) if isinstance(s, tuple) else s for s in steps]
    window = None if hours is None else timedelta(hours=hours)
    if mode == "any_order":
        distinct = list(dict.fromkeys(map(tuple, map(np.atleast_1d, steps))))
        if any(set(a) & set(b) for i, a in enumerate(distinct) for b in distinct[i + 1:]):
            return  # refused in any order (tested in test_funnel)
    walked = funnel.step_times(df, steps, window=window, mode=mode, by=by)
    engine = _engine(df, steps, window=window, mode=mode, by=by)
    pd.testing.assert_frame_equal(_sorted(walked), _sorted(engine))


@pytest.mark.parametrize("mode", funnel.MODES)
def test_walk_matches_the_engine_on_the_demo(mode):
    ev = demo.load().events
    steps = ["Product page", ["Add to cart", "Chat with advisor"], "Checkout", "Purchase"]
    for window in (None, timedelta(days=2)):
        walked = funnel.step_times(ev, steps, mode=mode, window=window, by="segment")
        engine = _engine(ev, steps, mode=mode, window=window, by="segment")
        assert len(walked) > 100
        pd.testing.assert_frame_equal(_sorted(walked), _sorted(engine))


def test_one_table_serves_every_mode_and_window():
    ev = demo.load().events
    steps = ["Product page", "Add to cart", "Purchase"]
    table = funnel.step_events(ev, steps, by="channel")
    assert list(table.columns) == ["_customer", "_full", "timestamp", "_name", "_group"]
    for mode in funnel.MODES:
        for window in (None, timedelta(hours=1)):
            shared = funnel.step_times_from_events(table, steps, mode=mode, window=window)
            direct = funnel.step_times(ev, steps, mode=mode, window=window, by="channel")
            pd.testing.assert_frame_equal(_sorted(shared), _sorted(direct))


def test_rows_out_of_journey_order_are_sorted():
    df = _events([("a", 1, "A", "s"), ("b", 1, "A", "s"), ("a", 2, "B", "s"),
                  ("b", 3, "B", "s"), ("a", 0, "X", "s")])
    times = funnel.step_times(df.sample(frac=1, random_state=3), ["A", "B"], mode="strict")
    assert times["_t1"].notna().sum() == 2


def test_bad_mode_and_window_are_refused_without_the_events():
    table = funnel.step_events(demo.load().events, ["Product page", "Purchase"])
    with pytest.raises(funnel.core.ParameterError):
        funnel.step_times_from_events(table, ["Product page", "Purchase"], mode="loose")
    with pytest.raises(funnel.core.ParameterError):
        funnel.step_times_from_events(table, ["Product page", "Purchase"],
                                      window=timedelta(days=-1))


def _dated(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint"])
    df["timestamp"] = pd.to_datetime(df["timestamp"]).astype("datetime64[us]")
    df["event_seq"] = np.arange(len(df), dtype="int64")
    return df


@pytest.mark.parametrize("mode", ["ordered", "any_order"])
def test_an_undated_step_event_is_skipped_not_taken_as_the_start(mode):
    """A step-1 event without a time sorts first, but has no time to measure from: the
    customer's step 1 is their first dated one (as the engine's minimum time takes it)."""
    df = _dated([("a", None, "view"), ("a", "2025-01-02", "view"),
                 ("a", "2025-01-03", "cart"), ("a", "2025-01-04", "buy")])
    steps = [["view"], ["cart"], ["buy"]]
    got = funnel.step_times_from_events(funnel.step_events(df, steps), steps, mode=mode)
    assert [got[f"_t{i}"].iloc[0] for i in range(3)] == [
        pd.Timestamp(f"2025-01-0{d}") for d in (2, 3, 4)]


@pytest.mark.parametrize("mode", ["ordered", "strict", "any_order"])
def test_events_without_a_customer_join_no_journey(mode):
    df = _dated([(None, "2025-01-01", "view"), (None, "2025-01-02", "view"),
                 (None, "2025-01-03", "cart"), (None, "2025-01-04", "buy"),
                 ("c", "2025-02-01", "cart"), ("c", "2025-02-02", "view")])
    steps = [["view"], ["cart"], ["buy"]]
    got = funnel.step_times_from_events(funnel.step_events(df, steps), steps, mode=mode)
    assert len(got) == 1  # customer c only
    assert pd.isna(got["_t2"].iloc[0])  # c never bought
    engine = funnel.funnel(df, steps, mode=mode)
    assert int(engine["customers"].iloc[0]) == 1
