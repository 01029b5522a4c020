"""Funnels: hand-checked modes and windows, invariants, a real log against a reference."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import duckdb
import hypothesis.strategies as st
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from scipy import stats

from analysis import demo, frames, funnel, ingest
from analysis.schema import AnalysisError

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
T0 = pd.Timestamp("2024-01-01 00:00")


def _events(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    """(customer, hours after T0, touchpoint)."""
    df = pd.DataFrame(rows, columns=["customer_id", "hours", "touchpoint"])
    df["timestamp"] = T0 + pd.to_timedelta(df.pop("hours"), unit="h")
    df["channel"] = "web"
    return df


HAND = _events(
    [
        ("a", 1, "A"), ("a", 2, "B"), ("a", 3, "C"),  # straight through
        ("b", 1, "A"), ("b", 2, "X"), ("b", 3, "B"), ("b", 4, "C"),  # something in between
        ("c", 1, "B"), ("c", 2, "A"), ("c", 3, "C"),  # step 2 before step 1
        ("d", 1, "A"), ("d", 1, "B"),  # same instant: A sorts before B
        ("f", 1, "A"), ("f", 2, "A"), ("f", 3, "B"),  # repeated step 1
        ("g", 1, "C"),  # never starts
    ]
)


def _counts(df, steps, **kw) -> list[int]:
    return funnel.funnel(df, steps, **kw)["customers"].tolist()


def test_ordered_mode_by_hand():
    out = funnel.funnel(HAND, ["A", "B", "C"])
    assert out["customers"].tolist() == [5, 4, 2]  # a,b,c,d,f / a,b,d,f / a,b
    assert out["conversion_from_start"].tolist() == pytest.approx([1, 0.8, 0.4])
    assert out["conversion_from_previous"].tolist() == pytest.approx([1, 0.8, 0.5])
    # a: 1 h, b: 2 h, d: 0 h, f: 2 h (the first A counts) -> median 1.5 h
    assert out["median_seconds_from_previous"].iloc[1] == pytest.approx(1.5 * 3600)
    assert np.isnan(out["median_seconds_from_previous"].iloc[0])
    assert list(out.columns) == funnel.COLUMNS


def test_strict_mode_by_hand():
    # b has X between A and B; f's first A is followed by A, not B.
    assert _counts(HAND, ["A", "B", "C"], mode="strict") == [5, 2, 1]


def test_any_order_mode_by_hand():
    # a, b, c, d, f have A and B (c did B first); a, b, c have all three.
    assert _counts(HAND, ["A", "B", "C"], mode="any_order") == [5, 5, 3]


def test_step_sets_and_labels():
    out = funnel.funnel(HAND, [["A", "X"], ["B", "C"]])
    assert out["step"].tolist() == ["A | X", "B | C"]
    assert out["customers"].tolist() == [5, 5]


def test_window_boundary_is_inclusive():
    df = _events([("a", 0, "A"), ("a", 168, "B"), ("b", 0, "A"), ("b", 168.001, "B")])
    assert _counts(df, ["A", "B"], window=timedelta(days=7)) == [2, 1]
    assert _counts(df, ["A", "B"], window=timedelta(days=7), mode="strict") == [2, 1]
    assert _counts(df, ["A", "B"], window=timedelta(days=7), mode="any_order") == [2, 1]


def test_repeated_steps_need_two_events():
    df = _events([("a", 1, "A"), ("a", 2, "A"), ("b", 1, "A"), ("c", 1, "A"), ("c", 1, "A")])
    # c's two events at the same instant are two events, in file order (DESIGN.md)
    assert _counts(df, ["A", "A"]) == [3, 2]
    assert _counts(df, ["A", "A"], mode="strict") == [3, 2]
    assert _counts(df, ["A", "A"], mode="any_order") == [3, 2]


def test_any_order_does_not_let_one_event_count_twice():
    df = _events([("a", 1, "A"), ("a", 2, "B"), ("b", 1, "A"), ("b", 2, "A"), ("b", 3, "B")])
    # ["A", "B", "A"]: a has one A, so it completes two steps; b has two As and completes all.
    assert _counts(df, ["A", "B", "A"], mode="any_order") == [2, 2, 1]
    with pytest.raises(AnalysisError, match="share A"):
        funnel.funnel(df, ["A", ["A", "B"]], mode="any_order")


def test_breakdown_has_wilson_intervals_and_a_chi_square_test():
    ev = demo.load().events
    out = funnel.funnel(ev, ["Product page", "Purchase"], by="variant")
    assert set(out["variant"]) == {"A", "B"}
    a = out[(out["variant"] == "A") & (out["step_index"] == 2)].iloc[0]
    b = out[(out["variant"] == "B") & (out["step_index"] == 2)].iloc[0]
    n_a = out[(out["variant"] == "A") & (out["step_index"] == 1)]["customers"].iloc[0]
    n_b = out[(out["variant"] == "B") & (out["step_index"] == 1)]["customers"].iloc[0]
    table = [[a["customers"], b["customers"]], [n_a - a["customers"], n_b - b["customers"]]]
    assert a["p_value"] == pytest.approx(stats.chi2_contingency(table, correction=False)[1])
    # Wilson interval against statsmodels
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(a["customers"], n_a, method="wilson")
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((low, high))


def test_small_groups_are_not_tested():
    out = funnel.funnel(HAND, ["A", "B"], by="customer_id")
    assert out["p_value"].isna().all()
    assert out["note"].str.contains("not tested").all()


def test_bad_input_says_how_to_fix():
    with pytest.raises(AnalysisError, match="list of steps"):
        funnel.funnel(HAND, "A")
    with pytest.raises(AnalysisError, match="mode"):
        funnel.funnel(HAND, ["A", "B"], mode="fuzzy")
    with pytest.raises(AnalysisError, match="timedelta"):
        funnel.funnel(HAND, ["A", "B"], window=7)
    with pytest.raises(AnalysisError, match="no column"):
        funnel.funnel(HAND, ["A", "B"], by="segment")


def test_nobody_starts_gives_zeros():
    # "A" is a touchpoint of the dataset (a category) that no row left after a filter holds.
    kept = HAND[HAND["touchpoint"] != "A"].astype(
        {"touchpoint": pd.CategoricalDtype(["A", "B", "C", "X"])})
    out = funnel.funnel(kept, ["A", "B"])
    assert out["customers"].tolist() == [0, 0]
    assert out["conversion_from_start"].isna().all()


def test_unknown_step_names_the_valid_ones():
    with pytest.raises(AnalysisError, match=r"'Bb' \(did you mean 'B'\?\); the data has: A, B"):
        funnel.funnel(HAND, ["A", "Bb"])


rows = st.lists(
    st.tuples(st.sampled_from("pqrst"), st.integers(0, 30), st.sampled_from("ABCX")),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=rows, steps=st.lists(st.sampled_from("ABC"), min_size=2, max_size=4),
       hours=st.integers(0, 20))
def test_funnel_invariants(rows, steps, hours):
    df = _events([(c, float(h), t) for c, h, t in rows])
    # The dataset's touchpoints are A, B, C and X even when a sample lacks some (as a stored
    # dataset's ENUM does after a filter).
    df["touchpoint"] = pd.Categorical(df["touchpoint"], categories=list("ABCX"))
    ordered = _counts(df, steps)
    strict = _counts(df, steps, mode="strict")
    windowed = _counts(df, steps, window=timedelta(hours=hours))
    any_order = _counts(df, steps, mode="any_order")
    for counts in (ordered, strict, windowed, any_order):
        assert all(x >= y for x, y in pairwise(counts))
    assert all(o >= s for o, s in zip(ordered, strict, strict=True))
    assert all(o >= w for o, w in zip(ordered, windowed, strict=True))
    assert all(a >= o for a, o in zip(any_order, ordered, strict=True))


def _reference(df: pd.DataFrame, steps: list[str]) -> list[int]:
    """A plain-Python greedy funnel, customer by customer."""
    counts = [0] * len(steps)
    ordered = df.sort_values(["customer_id", "timestamp"], kind="stable")
    for _, journey in ordered.groupby("customer_id"):
        names = journey["touchpoint"].tolist()
        position = -1
        for i, step in enumerate(steps):
            later = [j for j in range(position + 1, len(names)) if names[j] == step]
            if not later:
                break
            position = later[0]
            counts[i] += 1
    return counts


def test_receipt_log_funnel_matches_a_reference():
    raw = ingest.read_table(DATASETS / "receipt_process_log.csv")
    data = ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events").data
    data = data.astype({"touchpoint": str, "channel": str})
    steps = ["Confirmation of receipt", "T02 Check confirmation of receipt",
             "T04 Determine confirmation of receipt"]
    assert _counts(data, steps) == _reference(data, steps)
    assert _counts(data, steps)[0] == 1434


@pytest.mark.parametrize("backend", ["duckdb", "polars", "polars-lazy"])
def test_same_results_from_every_backend(backend):
    ev = demo.load().events
    native = {
        "duckdb": lambda: duckdb.connect().from_df(ev),
        "polars": lambda: pl.from_pandas(ev),
        "polars-lazy": lambda: pl.from_pandas(ev).lazy(),
    }[backend]()
    steps = ["Product page", ["Add to cart", "Chat with advisor"], "Purchase"]
    for kw in ({}, {"mode": "strict"}, {"window": timedelta(days=3), "by": "segment"}):
        pd.testing.assert_frame_equal(funnel.funnel(native, steps, **kw),
                                      funnel.funnel(ev, steps, **kw))


def test_planted_conversion_change_shows_over_time():
    d = demo.load()
    first_touches = ["Social ad view", "Search landing", "Newsletter open", "Store walk-in",
                     "App install"]
    steps = [first_touches, "Purchase"]

    def lift(events: pd.DataFrame) -> float:
        out = funnel.funnel_over_time(events, steps)
        conv = out[out["step_index"] == 2].set_index("period")["conversion_from_start"]
        return conv[conv.index >= "2025-07-01"].mean() - conv[conv.index < "2025-07-01"].mean()

    north = lift(d.events[d.events["region"] == "North"])
    others = lift(d.events[d.events["region"] != "North"])
    assert north - others == pytest.approx(demo.DID_EFFECT, abs=0.06)
    assert north > 0.05 and abs(others) < 0.04


def test_time_to_convert_quantiles_match_numpy():
    ev = demo.load().events
    steps = ["Add to cart", "Checkout"]
    result = funnel.time_to_convert(ev, steps)
    summary, histogram = result.summary, result.histogram
    per = funnel.customer_steps(frames.canonical(ev), funnel.step_sets(steps))
    per = per.collect().to_pandas()
    gaps = (per["_t1"] - per["_t0"]).dt.total_seconds().dropna()
    assert summary["customers"].iloc[0] == len(gaps)
    assert summary["median_seconds"].iloc[0] == pytest.approx(np.median(gaps))
    assert summary["p90_seconds"].iloc[0] == pytest.approx(np.quantile(gaps, 0.9))
    assert histogram["customers"].sum() == len(gaps)


def test_drop_off_accounts_for_everyone_who_left():
    ev = demo.load().events
    steps = ["Checkout", "Purchase"]
    result = funnel.drop_off(ev, steps, 1, limit=100)
    table = result.table
    assert table["customers"].sum() == result.dropped
    out = funnel.funnel(ev, steps)
    assert result.dropped == out["customers"].iloc[0] - out["customers"].iloc[1]
    assert result.continued == out["customers"].iloc[1]
    assert table["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("mode", funnel.MODES)
def test_step_times_twins_match_the_direct_calls(mode):
    ev = demo.load().events
    steps = ["Product page", ["Add to cart", "Chat with advisor"], "Purchase"]
    kw = {"mode": mode, "window": timedelta(days=3)}
    times = funnel.step_times(ev, steps, by="segment", **kw)
    pd.testing.assert_frame_equal(funnel.funnel_from_times(times, steps, by="segment"),
                                  funnel.funnel(ev, steps, by="segment", **kw))
    direct, shared = funnel.time_to_convert(ev, steps, **kw), funnel.time_to_convert_from_times(
        times, steps)
    pd.testing.assert_frame_equal(shared.summary, direct.summary)
    pd.testing.assert_frame_equal(shared.histogram, direct.histogram)
    pd.testing.assert_frame_equal(funnel.funnel_over_time_from_times(times, steps, period="week"),
                                  funnel.funnel_over_time(ev, steps, period="week", **kw))


def test_step_times_twins_when_nobody_starts():
    kept = HAND[HAND["touchpoint"] != "A"].astype(
        {"touchpoint": pd.CategoricalDtype(["A", "B", "C", "X"])})
    times = funnel.step_times(kept, ["A", "B"])
    assert len(times) == 0
    pd.testing.assert_frame_equal(funnel.funnel_from_times(times, ["A", "B"]),
                                  funnel.funnel(kept, ["A", "B"]))
    shared = funnel.time_to_convert_from_times(times, ["A", "B"])
    assert (shared.status, shared.summary["customers"].tolist()) == ("empty", [0])
    pd.testing.assert_frame_equal(funnel.funnel_over_time_from_times(times, ["A", "B"]),
                                  funnel.funnel_over_time(kept, ["A", "B"]))


def _strict_reference(df: pd.DataFrame, steps: list, window: timedelta | None) -> list:
    """A plain-Python strict funnel: from each customer's first step-1 event, step i is
    reached when the event i places later (journey order; file order breaks ties) is one
    of step i's and every step before it was; within the window of that first event."""
    sets = [{s} if isinstance(s, str) else set(s) for s in steps]
    counts = [0] * len(sets)
    named = df[df["touchpoint"].notna()]
    ordered = named.sort_values(["customer_id", "timestamp", "event_seq"], kind="stable")
    for _, journey in ordered.groupby("customer_id"):
        names, times = journey["touchpoint"].astype(str).tolist(), journey["timestamp"].tolist()
        starts = [j for j, n in enumerate(names) if n in sets[0]]
        if not starts:
            continue
        p = starts[0]
        for i, wanted in enumerate(sets):
            ok = p + i < len(names) and names[p + i] in wanted and (
                window is None or times[p + i] <= times[p] + window)
            if not ok:
                break
            counts[i] += 1
    return counts


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 6),
                               st.sampled_from(["A", "B", "C", "X", None])),
                     min_size=1, max_size=40),
       steps=st.lists(st.sampled_from(["A", "B", "C", ("B", "C"), ("A", "X")]),
                      min_size=2, max_size=4),
       hours=st.one_of(st.none(), st.integers(0, 4)))
def test_strict_mode_matches_a_plain_python_reference(rows, steps, hours):
    """Equal times (file order decides), events without a touchpoint, step sets, repeats
    and windows; the funnel reads the steps' own events only, so a gap is a miss."""
    df = _events([(c, float(h), t) for c, h, t in rows])
    df["event_seq"] = np.arange(len(df))
    df["touchpoint"] = pd.Categorical(df["touchpoint"], categories=list("ABCX"))
    window = None if hours is None else timedelta(hours=hours)
    steps = [list(s) if isinstance(s, tuple) else s for s in steps]
    assert _counts(df, steps, mode="strict", window=window) == _strict_reference(
        df, steps, window)
