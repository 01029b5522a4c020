"""The scorecard's reach trend sliced from stored counts, and the inputs of its hazard ratios
computed in the engine, each against an independent pandas computation on events with ties
(same instant, ordered by event_seq) and a channel filter."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analysis import stats
from analysis.frames import Filters, canonical
from analysis.survival.exposure import exposure_hazard
from analysis.touchpoints.exposures import MIN_EXPOSED_FOR_HR
from analysis.touchpoints.scorecard import touchpoint_scorecard, with_reach_trend
from analysis.touchpoints.trend import FADING_DROP, FADING_MIN_CUSTOMERS

FILTERS = Filters(channels=("web", "app"))


def trend_events() -> pd.DataFrame:
    """Eight months. Each month 150 new customers visit; Steady reaches a third of them.
    Newcomer reaches 12 different customers a month in the first four months, 2 after (fades:
    36 customers in the earlier half, though no month has 20). Loyal reaches the same 12
    customers every month, then 2 of them (too few to call: 12 customers). Some events share
    their instant; store events are filtered out."""
    rows = []
    for month in range(8):
        start = datetime(2025, month + 1, 2)
        for i in range(150):
            cid, when = f"m{month}c{i:03d}", start + timedelta(hours=3 * i)
            channel = "store" if i % 10 == 9 else ("web" if i % 2 else "app")
            rows += [(cid, when, "Visit", channel), (cid, when, "Steady" if i % 3 == 0 else
                                                     "Browse", channel)]
            if i < (12 if month < 4 else 2):
                rows.append((cid, when, "Newcomer", "web"))
        for i in range(12 if month < 4 else 2):
            rows.append((f"loyal{i}", start + timedelta(days=i, minutes=7), "Loyal", "app"))
            rows.append((f"loyal{i}", start + timedelta(days=i, minutes=7), "Visit", "store"))
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint", "channel"])
    return frame.assign(event_seq=np.arange(len(frame)))


def pandas_trend(events: pd.DataFrame, period: str, periods: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trend and the reach_trend / fading facts, counted directly."""
    ev = events.dropna(subset=["customer_id", "timestamp", "touchpoint"])
    if period == "month":
        key = ev["timestamp"].dt.to_period("M").dt.start_time
    else:
        origin = pd.Timestamp(stats.WEEK_ORIGIN)
        key = origin + pd.to_timedelta((ev["timestamp"] - origin).dt.days // 7 * 7, unit="D")
    ev = ev.assign(key=key)
    active = ev.groupby("key")["customer_id"].nunique().sort_index().iloc[-periods:]
    keys, half = list(active.index), len(active) // 2
    recent = ev[ev["key"] >= keys[0]]
    per = recent.groupby(["touchpoint", "key"])["customer_id"].nunique().unstack(fill_value=0)
    per = per.reindex(columns=keys, fill_value=0)
    reach = per / active
    change = reach.iloc[:, len(keys) - half:].mean(axis=1) / reach.iloc[:, :half].mean(
        axis=1).where(lambda m: m > 0) - 1
    seen = ev[ev["key"].isin(keys[:half])].groupby("touchpoint")["customer_id"].nunique()
    fading = (change <= FADING_DROP) & (seen.reindex(change.index).fillna(0)
                                        >= FADING_MIN_CUSTOMERS)
    trend = per.stack().rename("customers").reset_index().rename(columns={"key": "period"})
    trend["active"] = trend["period"].map(active)
    trend["reach"] = trend["customers"] / trend["active"]
    facts = pd.DataFrame({"reach_trend": change, "fading": fading})
    return trend.sort_values(["touchpoint", "period"]).reset_index(drop=True), facts


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return trend_events()


@pytest.fixture(scope="module")
def card(events):
    return touchpoint_scorecard(canonical(events, "events", FILTERS))


@pytest.mark.parametrize(("period", "periods"), [
    ("month", 8), ("month", 6), ("month", 3), ("month", 2), ("week", 6), ("week", 13),
    ("week", 24), ("week", 30)])
def test_the_trend_from_stored_counts_is_a_direct_count(events, card, period, periods):
    filtered = events[events["channel"].isin(FILTERS.channels)]
    expected_trend, expected = pandas_trend(filtered, period, periods)
    got = with_reach_trend(card, canonical(events, "events", FILTERS), period=period,
                           periods=periods)
    trend = got.trend.sort_values(["touchpoint", "period"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(trend, expected_trend[list(trend.columns)],
                                  check_dtype=False)
    table = got.table.set_index("touchpoint").loc[expected.index]
    np.testing.assert_allclose(table["reach_trend"].astype(float), expected["reach_trend"])
    assert table["fading"].tolist() == expected["fading"].tolist()


def test_fading_needs_enough_distinct_customers_not_visits(card):
    t = card.table.set_index("touchpoint")
    # Both dropped by 5/6, and neither had 20 customers in any one month of the earlier half.
    assert t.loc["Newcomer", "reach_trend"] <= FADING_DROP
    assert t.loc["Loyal", "reach_trend"] <= FADING_DROP
    assert t.loc["Newcomer", "fading"] and not t.loc["Loyal", "fading"]
    assert not t.loc["Steady", "fading"]


# --------------------------------------------------------------------------- hazard inputs


def hazard_events(seed: int = 11) -> pd.DataFrame:
    """400 customers, events on whole days (many at the same instant, ordered by event_seq),
    a Buy and sometimes a Cancel; a touch on the day of the Buy comes before or after it."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(400):
        days = np.sort(rng.integers(0, 120, size=rng.integers(2, 12)))
        for d in days:
            tp = rng.choice(["Ad", "Web", "Call", "Mail"], p=[0.3, 0.3, 0.2, 0.2])
            rows.append((f"c{c:03d}", d, tp, rng.choice(["web", "app", "store"])))
        if rng.random() < 0.6:
            buy = int(rng.choice(days))
            rows.append((f"c{c:03d}", buy, "Buy", "web"))
            if rng.random() < 0.4:
                rows.append((f"c{c:03d}", buy + int(rng.integers(0, 60)), "Cancel", "app"))
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "touchpoint", "channel"])
    frame["timestamp"] = datetime(2025, 1, 1) + pd.to_timedelta(frame.pop("day"), unit="D")
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame.assign(event_seq=rng.permutation(len(frame)))


def days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 86_400


def pandas_hazards(ev: pd.DataFrame) -> pd.DataFrame:
    """Conversion and churn hazard ratios from lifetimes and first touches built by hand."""
    ev = ev.sort_values(["customer_id", "timestamp", "event_seq"]).reset_index(drop=True)
    ev["pos"] = ev.groupby("customer_id").cumcount()
    first = ev.groupby(["touchpoint", "customer_id"])["timestamp"].min()
    start = ev.groupby("customer_id")["timestamp"].min()
    buys = ev[ev["touchpoint"] == "Buy"].groupby("customer_id").first()  # by pos
    end = buys["timestamp"].reindex(start.index).fillna(ev["timestamp"].max())
    conversion = pd.DataFrame({"customer_id": start.index, "duration_days": days(end, start),
                               "churned": start.index.isin(buys.index)})
    population = ev[ev["customer_id"].map(buys["pos"]) <= ev["pos"]]  # from the first Buy
    begin = population.groupby("customer_id")["timestamp"].min()
    cancel = population[population["touchpoint"] == "Cancel"].groupby("customer_id")[
        "timestamp"].min()
    stop = cancel.reindex(begin.index).fillna(population["timestamp"].max())
    churn = pd.DataFrame({"customer_id": begin.index, "duration_days": days(stop, begin),
                          "churned": begin.index.isin(cancel.index)})
    out = {}
    for tp in ["Ad", "Web", "Call", "Mail"]:
        when = first[tp]
        conv = exposure_hazard(conversion, days(when, start.reindex(when.index)))
        left = exposure_hazard(churn, days(when, begin.reindex(when.index)).dropna())
        out[tp] = [fit.hazard_ratio if fit.exposed >= MIN_EXPOSED_FOR_HR else np.nan
                   for fit in (conv, left)]
    return pd.DataFrame(out, index=["conversion_hazard_ratio", "churn_hazard_ratio"]).T


def test_hazard_ratios_match_lifetimes_built_by_hand():
    events = hazard_events()
    got = touchpoint_scorecard(canonical(events, "events", FILTERS), conversion=["Buy"],
                               churn=["Cancel"]).table.set_index("touchpoint")
    expected = pandas_hazards(events[events["channel"].isin(FILTERS.channels)])
    assert expected.notna().all().all()
    pd.testing.assert_frame_equal(got.loc[expected.index, list(expected.columns)], expected,
                                  check_dtype=False, rtol=1e-9)
