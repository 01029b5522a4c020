"""Linking feedback to touchpoints: hand-checkable cases, a merge_asof reference, the demo."""

from __future__ import annotations

import time
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from analysis import demo
from analysis.painpoints.linking import LINKS, link_feedback
from analysis.schema import MissingColumnError, ParameterError

T0 = pd.Timestamp("2025-03-01 12:00")

EVENTS = pd.DataFrame({
    "customer_id": ["a", "a", "a", "b", "t", "t", "t"],
    "timestamp": [T0, T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(days=3),
                  T0, T0, T0, T0 + pd.Timedelta(days=1)],
    "touchpoint": ["Browse", "Checkout", "Support call", "Store visit",
                   "Second", "First", "Later"],
    # Customer t's events at T0 are listed out of journey order: event_seq, not the row
    # order, says "Second" came last.
    "event_seq": [0, 1, 2, 3, 6, 5, 7],
})


def _feedback(rows: list[tuple]) -> pd.DataFrame:
    """rows: (customer_id, hours after T0, touchpoint)."""
    ids, hours, touchpoints = zip(*rows, strict=True)
    return pd.DataFrame({
        "customer_id": list(ids),
        "timestamp": [T0 + pd.Timedelta(hours=h) for h in hours],
        "touchpoint": list(touchpoints),
    })


def _link(rows, events=EVENTS, **kwargs) -> pd.DataFrame:
    return link_feedback(_feedback(rows), events, **kwargs)


def test_explicit_touchpoint_is_kept():
    out = _link([("a", 2, "Newsletter"), ("a", 2, "  ")])
    assert out["link"].tolist() == ["explicit", "preceding event"]
    assert out["linked_touchpoint"].tolist() == ["Newsletter", "Checkout"]
    assert np.isnan(out["link_gap_seconds"].iloc[0])
    assert out["link_gap_seconds"].iloc[1] == 3600.0


def test_latest_preceding_event_and_its_gap():
    out = _link([("a", 2, None), ("a", 0, None), ("a", 1.5, None), ("a", 80, None)])
    assert out["linked_touchpoint"].tolist() == ["Checkout", "Browse", "Checkout", "Support call"]
    assert set(out["link"]) == {"preceding event"}
    # An event at the very moment of the feedback counts as preceding it (gap 0).
    assert out["link_gap_seconds"].tolist() == [3600.0, 0.0, 1800.0, 8 * 3600.0]


def test_tolerance_bounds_the_gap_inclusively():
    week = 7 * 24
    out = _link([("b", week, None), ("b", week + 0.5, None), ("b", 2, None)],
                tolerance=timedelta(days=7))
    assert out["link"].tolist() == ["preceding event", "unlinked", "preceding event"]
    assert out["linked_touchpoint"].tolist() == ["Store visit", None, "Store visit"]
    assert np.isnan(out["link_gap_seconds"].iloc[1])
    shorter = _link([("b", 2, None)], tolerance=timedelta(hours=1))
    assert shorter["link"].tolist() == ["unlinked"]
    unbounded = _link([("b", 10_000, None)], tolerance=None)
    assert unbounded["linked_touchpoint"].tolist() == ["Store visit"]


def test_unlinked_feedback_is_kept_and_counted():
    out = _link([
        ("nobody", 5, None),        # a customer without events
        ("a", -1, None),            # before the customer's first event
        (None, 5, None),            # no customer_id
        ("  ", 5, None),            # a blank customer_id
    ])
    assert len(out) == 4
    assert out["link"].tolist() == ["unlinked"] * 4
    assert out["linked_touchpoint"].isna().all() and out["link_gap_seconds"].isna().all()


def test_ties_at_one_instant_go_to_the_last_event_in_journey_order():
    out = _link([("t", 1, None)])
    assert out["linked_touchpoint"].tolist() == ["Second"]
    # Without event_seq, pandas row order is the journey order (DESIGN.md, Order of events).
    no_seq = EVENTS.drop(columns="event_seq")
    assert _link([("t", 1, None)], no_seq)["linked_touchpoint"].tolist() == ["First"]


def test_events_after_the_feedback_are_never_linked():
    out = _link([("t", 23, None), ("t", 24, None)])
    assert out["linked_touchpoint"].tolist() == ["Second", "Later"]


def test_without_events_or_customer_ids_only_explicit_links():
    rows = [("a", 2, "Web"), ("a", 2, None)]
    assert _link(rows, None)["link"].tolist() == ["explicit", "unlinked"]
    anonymous = _feedback(rows).drop(columns="customer_id")
    assert link_feedback(anonymous, EVENTS)["link"].tolist() == ["explicit", "unlinked"]
    no_touchpoints = _feedback(rows).drop(columns="touchpoint")
    assert link_feedback(no_touchpoints, EVENTS)["linked_touchpoint"].tolist() == [
        "Checkout", "Checkout"]


def test_rows_align_with_the_input_which_is_not_modified():
    feedback = _feedback([("a", 2, None), ("x", 2, None), ("a", 2, "Web")])
    feedback.index = [30, 10, 20]
    before, events_before = feedback.copy(), EVENTS.copy()
    out = link_feedback(feedback, EVENTS)
    pd.testing.assert_frame_equal(feedback, before)
    pd.testing.assert_frame_equal(EVENTS, events_before)
    assert list(out.index) == [30, 10, 20]
    assert list(out.columns) == ["linked_touchpoint", "link", "link_gap_seconds"]
    assert set(out["link"]) <= set(LINKS)
    assert out["linked_touchpoint"].tolist() == ["Checkout", None, "Web"]


def test_polars_and_duckdb_frames_give_the_same_links():
    rows = [("a", 2, None), ("t", 1, None), ("b", 500, None), ("a", 2, "Web"), (None, 1, None)]
    expected = _link(rows)
    feedback = _feedback(rows)
    via_polars = link_feedback(pl.from_pandas(feedback), pl.from_pandas(EVENTS))
    con = duckdb.connect()
    con.register("events_view", EVENTS)
    via_duckdb = link_feedback(feedback, con.table("events_view"))
    for got in (via_polars, via_duckdb):
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)


@pytest.mark.parametrize("tolerance", [timedelta(days=-1), 7, "7 days", pd.NaT, 1.5])
def test_bad_tolerance_is_refused(tolerance):
    with pytest.raises(ParameterError, match="tolerance"):
        _link([("a", 2, None)], tolerance=tolerance)


def test_missing_columns_are_refused():
    with pytest.raises(MissingColumnError):
        _link([("a", 2, None)], EVENTS.drop(columns="touchpoint"))
    with pytest.raises(MissingColumnError):
        link_feedback(_feedback([("a", 2, None)]).drop(columns="timestamp"), EVENTS)


def _reference(feedback: pd.DataFrame, events: pd.DataFrame, tolerance) -> pd.Series:
    """pandas merge_asof: the last event (by timestamp, event_seq) at or before each item."""
    last = events.sort_values(["timestamp", "event_seq"]).drop_duplicates(
        ["customer_id", "timestamp"], keep="last")
    items = feedback.assign(row=np.arange(len(feedback))).sort_values("timestamp")
    merged = pd.merge_asof(items, last.rename(columns={"touchpoint": "linked"}),
                           on="timestamp", by="customer_id", tolerance=tolerance,
                           direction="backward")
    return merged.sort_values("row")["linked"].reset_index(drop=True)


def test_agrees_with_a_merge_asof_reference_on_many_events():
    rng = np.random.default_rng(3)
    n_events, n_feedback, customers = 300_000, 30_000, 20_000
    events = pd.DataFrame({
        "customer_id": [f"c{i}" for i in rng.integers(0, customers, n_events)],
        # Whole hours only: many customers have several events at one instant.
        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 90 * 24, n_events), unit="h"),
        "touchpoint": rng.choice(["A", "B", "C", "D", "E", "F"], n_events),
        "event_seq": rng.permutation(n_events),
    })
    feedback = pd.DataFrame({
        "customer_id": [f"c{i}" for i in rng.integers(0, customers * 1.1, n_feedback)],
        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 90 * 86_400, n_feedback), unit="s"),
    })
    started = time.perf_counter()
    out = link_feedback(feedback, events, tolerance=timedelta(days=2))
    seconds = time.perf_counter() - started
    expected = _reference(feedback, events, pd.Timedelta(days=2))
    got = out["linked_touchpoint"].reset_index(drop=True)
    assert got.fillna("-").tolist() == expected.fillna("-").tolist()
    assert (out["link"] == "preceding event").sum() == expected.notna().sum()
    assert out["link_gap_seconds"].dropna().between(0, 2 * 86_400).all()
    assert seconds < 30  # about 0.3 s alone; loose because other runs may share the CPU


def test_demo_feedback_without_its_touchpoint_links_back_to_it():
    """The demo's own touchpoints are the survey's subject; the latest event before a survey
    is often a later one (an NPS survey comes 14 days after the purchase, a checkout CES
    survey 30 minutes after the purchase that followed it), so only the surveys sent right
    after their touchpoint (CSAT after a support call) must match almost always."""
    data = demo.load()
    feedback = data.feedback
    out = link_feedback(feedback.drop(columns="touchpoint"), data.events)
    linked = out["link"] == "preceding event"
    match = out["linked_touchpoint"] == feedback["touchpoint"]
    by_scale = match.groupby(feedback["scale"]).mean()
    print(f"\ndemo: {linked.mean():.1%} linked; given touchpoint matched for {match.mean():.1%} "
          f"of all ({match[linked].mean():.1%} of linked); by scale {by_scale.round(3).to_dict()}")
    assert len(out) == len(feedback)
    assert linked.mean() > 0.9
    assert match.mean() > 0.5
    assert by_scale["csat"] > 0.85
    ces = feedback["scale"] == "ces"
    checkout_flow = {"Checkout", "Payment failed", "Purchase"}
    assert out.loc[ces & linked, "linked_touchpoint"].isin(checkout_flow).all()
    # With the touchpoints kept, every row is explicit.
    assert set(link_feedback(feedback, data.events)["link"]) == {"explicit"}
