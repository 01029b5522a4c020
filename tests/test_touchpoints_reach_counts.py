"""The scorecard's reach counts (distinct customers per touchpoint and period, and active
customers per period) against plain-pandas distinct counts, through every way the events
arrive: counted by distinct ids, or from the times precomputed at import (each customer's last
step and first touch of the period), with whole-customer filters that keep them and a channel
filter that drops them; on journeys full of equal timestamps, events without a time or a
touchpoint, and months and weeks whose edges journeys cross."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import pytest

from analysis import stats
from analysis.frames import Filters, canonical
from analysis.precompute import PREV_SAME_TOUCHPOINT, add_journey_columns
from analysis.touchpoints.trend import (
    NEIGHBOUR_TIMES,
    neighbour_times_usable,
    period_counts,
    reach_counts,
    trend_events,
)

T0 = datetime(2025, 1, 27, 22)  # a Monday night, days before a month's end
TOUCHPOINTS = ["Ad", "Mail", "Visit", "Buy"]


def make_events(seed: int, customers: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for _ in range(int(rng.integers(1, 14))):
            stamp = T0 + timedelta(hours=int(rng.integers(0, 24 * 70)) // 6 * 6)
            rows.append({"customer_id": f"c{c:03d}",
                         "timestamp": None if rng.random() < 0.03 else stamp,
                         "touchpoint": None if rng.random() < 0.04 else str(
                             rng.choice(TOUCHPOINTS)),
                         "channel": str(rng.choice(["web", "app"])),
                         "segment": "A" if c % 3 else "B"})
    out = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    out["event_seq"] = rng.permutation(len(out)).astype("int64")
    return out.astype({"timestamp": "datetime64[us]"})


def reference(df: pd.DataFrame, period: str, periods: int) -> pd.DataFrame:
    """Distinct customers per (touchpoint or None, period key), last ``periods`` periods."""
    d = df.dropna(subset=["timestamp", "touchpoint", "customer_id"])
    if period == "month":
        key = d["timestamp"].dt.to_period("M").dt.to_timestamp()
    else:
        key = ((d["timestamp"] - pd.Timestamp(stats.WEEK_ORIGIN)).dt.total_seconds()
               // (7 * 86_400))
    d = d.assign(_period=key.to_numpy())
    active = d.groupby("_period")["customer_id"].nunique().sort_index().iloc[-periods:]
    per = d[d["_period"] >= active.index[0]].groupby(["touchpoint", "_period"])[
        "customer_id"].nunique()
    rows = [(None, k, n) for k, n in active.items()] + [(t, k, n) for (t, k), n in per.items()]
    return pd.DataFrame(rows, columns=["_tp", "_period", "customers"])


def stored(df: pd.DataFrame, filters: Filters | None) -> nw.LazyFrame:
    con = duckdb.connect()
    relation = add_journey_columns(con.from_df(df))
    whole = filters is None or not (filters.channels or filters.start or filters.end)
    return canonical(nw.from_native(relation), "events", filters, whole_journeys=whole)


def tidy(counts: pd.DataFrame) -> pd.DataFrame:
    out = counts[["_tp", "_period", "customers"]].copy()
    out["_tp"] = out["_tp"].astype(object).where(out["_tp"].notna(), "")
    out["_period"] = out["_period"].astype(str) if out["_period"].dtype.kind == "M" else (
        out["_period"].astype(float).astype(str))
    return out.astype({"customers": "int64"}).sort_values(["_tp", "_period"]).reset_index(
        drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("period,periods", [("month", 24), ("month", 2), ("week", 24),
                                            ("week", 3)])
def test_reach_counts_match_distinct_customers_on_every_path(seed, period, periods):
    df = make_events(seed)
    seg, web = Filters(attributes=(("segment", ("A",)),)), Filters(channels=("web",))
    cases = [("pandas", canonical(df, "events"), df, False),
             ("precomputed", stored(df, None), df, True),
             ("whole-customer filter", stored(df, seg), df[df["segment"] == "A"], True),
             ("channel filter", stored(df, web), df[df["channel"] == "web"], False)]
    for name, lf, expected_rows, fast in cases:
        ev = trend_events(lf)
        assert all(c in ev.collect_schema().names() for c in NEIGHBOUR_TIMES) == fast, name
        got = tidy(reach_counts(ev, period, periods))
        pd.testing.assert_frame_equal(got, tidy(reference(expected_rows, period, periods)),
                                      obj=name)


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("precomputed", [True, False])
def test_months_and_weeks_counted_together_match_each_alone(seed, precomputed):
    """The scorecard counts both kinds of period in one grouped query: the same rows as the
    distinct customers of each kind alone."""
    df = make_events(seed)
    ev = trend_events(stored(df, None) if precomputed else canonical(df, "events"))
    both = period_counts(ev, {"month": 3, "week": 24})
    for kind, periods in (("month", 3), ("week", 24)):
        pd.testing.assert_frame_equal(tidy(both[both["period"] == kind].infer_objects()),
                                      tidy(reference(df, kind, periods)), obj=kind)


def test_previous_same_touchpoint_time_is_the_preceding_event_of_that_touchpoint():
    df = make_events(3, customers=30)
    relation = add_journey_columns(duckdb.connect().from_df(df))
    out = relation.df().sort_values(["customer_id", "timestamp", "event_seq"],
                                    na_position="first")
    for _, g in out[out["touchpoint"].notna()].groupby(["customer_id", "touchpoint"]):
        expected = g["timestamp"].shift(1)
        pd.testing.assert_series_equal(g[PREV_SAME_TOUCHPOINT], expected, check_names=False)
    assert out.loc[out["touchpoint"].isna(), PREV_SAME_TOUCHPOINT].isna().all()


def test_datasets_stored_before_the_column_count_distinct_ids():
    df = make_events(4)
    lf = stored(df, None)
    old = nw.from_native(lf.to_native().select(duckdb.StarExpression(
        exclude=[PREV_SAME_TOUCHPOINT])))
    assert not neighbour_times_usable(old)
    got = tidy(reach_counts(trend_events(old), "month", 6))
    pd.testing.assert_frame_equal(got, tidy(reference(df, "month", 6)))


@pytest.mark.parametrize("seed", [5, 6])
def test_scorecard_reads_first_touches_alike_from_the_precomputed_times(seed):
    """The scorecard's first touches come from the precomputed previous times when present
    (no grouping): the same table as from pandas, with ties and events without a time."""
    from analysis.touchpoints.scorecard import touchpoint_scorecard

    df = make_events(seed, customers=120)
    options = {"conversion": ["Buy"], "churn": ["Visit"], "start_at": []}
    lf = stored(df, None)
    assert neighbour_times_usable(lf)
    fast = touchpoint_scorecard(lf, **options)
    slow = touchpoint_scorecard(df, **options)
    pd.testing.assert_frame_equal(fast.table, slow.table)
    pd.testing.assert_frame_equal(fast.trend, slow.trend)
