"""Touchpoint scorecard: every number against an independent pandas computation, a published
Newcombe interval, the demo's planted effects, a planted fading touchpoint and engine parity."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from analysis import demo
from analysis.painpoints.linking import link_feedback
from analysis.painpoints.sentiment import comment_sentiment
from analysis.schema import MissingColumnError, ParameterError, UnknownValueError
from analysis.touchpoints.scorecard import (
    BREAK_NEGATIVE_LOW,
    COLUMNS,
    MIN_LIFT,
    MIN_RATED,
    TREND_COLUMNS,
    Scorecard,
    scorecard,
    touchpoint_scorecard,
    with_reach_trend,
)

T0 = datetime(2025, 1, 1)
CONVERSION = ["Purchase"]
CHURN = ["Cancel subscription"]
ENGINE_KW = {"conversion": CONVERSION, "churn": CHURN, "start_at": CONVERSION}


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate(n_customers=1500)


@pytest.fixture(scope="module")
def full(data) -> Scorecard:
    return touchpoint_scorecard(data.events, data.feedback, conversion=CONVERSION, churn=CHURN,
                                start_at=CONVERSION)


def rows(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("touchpoint")


def expected_rates(events: pd.DataFrame, conversion: list[str]) -> pd.DataFrame:
    """Independent count: customers, touched before the first conversion and the rates."""
    ev = events.copy()
    if "event_seq" not in ev:
        ev["event_seq"] = np.arange(len(ev))
    ev = ev.sort_values(["customer_id", "timestamp", "event_seq"]).reset_index(drop=True)
    ev["pos"] = ev.groupby("customer_id").cumcount()
    conv_pos = ev[ev["touchpoint"].isin(conversion)].groupby("customer_id")["pos"].min()
    ev["conv_pos"] = ev["customer_id"].map(conv_pos)
    converted = set(conv_pos.index)
    everyone = set(ev["customer_id"])
    out = {}
    for tp, part in ev.groupby("touchpoint"):
        before = set(part.loc[part["conv_pos"].isna() | (part["pos"] < part["conv_pos"]),
                              "customer_id"])
        others = everyone - before
        # The outcome itself is not compared, nor a touchpoint with an empty group.
        outcome = tp in conversion or not before or not others
        out[tp] = {
            "customers": part["customer_id"].nunique(),
            "reach": part["customer_id"].nunique() / len(everyone),
            "touched_before_conversion": len(before),
            "conversion_rate_with": (len(before & converted) / len(before)
                                     if before and not outcome else np.nan),
            "conversion_rate_without": (len(others & converted) / len(others)
                                        if others and not outcome else np.nan),
        }
    return pd.DataFrame(out).T.astype(float)


def tiny() -> pd.DataFrame:
    """Date-only events: ties on a day are ordered by event_seq. A's Web comes before its
    Purchase on the same day, B's Web after it; Login after the purchase (A, E) is not a touch
    before conversion, D's Login (no purchase) is."""
    day = [T0 + timedelta(days=d) for d in range(3)]
    rows_ = [("A", day[0], "Ad", 0), ("A", day[1], "Web", 1), ("A", day[1], "Purchase", 2),
             ("A", day[2], "Login", 3),
             ("B", day[0], "Ad", 4), ("B", day[1], "Purchase", 5), ("B", day[1], "Web", 6),
             ("C", day[0], "Ad", 7), ("C", day[1], "Web", 8),
             ("D", day[0], "Login", 9),
             ("E", day[0], "Purchase", 10), ("E", day[1], "Login", 11)]
    frame = pd.DataFrame(rows_, columns=["customer_id", "timestamp", "touchpoint", "event_seq"])
    # Shuffled rows: the order comes from timestamp and event_seq, not from the row order.
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


# --------------------------------------------------------------------------- counts and rates


def test_tiny_frame_rates_by_hand():
    result = touchpoint_scorecard(tiny(), conversion=CONVERSION)
    t = rows(result.table)
    assert (result.customers, result.converters) == (5, 3)
    assert t.loc["Ad", ["customers", "touched_before_conversion"]].tolist() == [3, 3]
    assert t.loc["Ad", "conversion_rate_with"] == pytest.approx(2 / 3)
    assert t.loc["Ad", "conversion_rate_without"] == pytest.approx(1 / 2)
    # Web: A before the purchase (event_seq breaks the tie), B after it, C never converts.
    assert t.loc["Web", "touched_before_conversion"] == 2
    assert t.loc["Web", "conversion_rate_with"] == pytest.approx(1 / 2)
    assert t.loc["Web", "conversion_rate_without"] == pytest.approx(2 / 3)
    # Login: only D's counts; the logins after a purchase are not credited with it.
    assert t.loc["Login", "touched_before_conversion"] == 1
    assert t.loc["Login", "conversion_rate_with"] == 0
    assert t.loc["Login", "conversion_rate_without"] == pytest.approx(3 / 4)
    assert t.loc["Login", "conversion_lift"] == pytest.approx(-3 / 4)
    assert t.loc["Purchase", ["conversion_rate_with", "conversion_lift",
                              "attribution_share"]].isna().all()
    expected = expected_rates(tiny(), CONVERSION)
    pd.testing.assert_frame_equal(t[expected.columns].astype(float).sort_index(),
                                  expected.sort_index(), check_names=False)


def test_demo_rates_match_an_independent_count(data, full):
    expected = expected_rates(data.events, CONVERSION)
    got = rows(full.table)[expected.columns].astype(float)
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert full.customers == data.events["customer_id"].nunique()
    assert full.converters == data.events.loc[data.events["touchpoint"] == "Purchase",
                                              "customer_id"].nunique()
    assert list(full.table.columns) == list(COLUMNS)


def two_groups(n_a: int, x_a: int, n_b: int, x_b: int, offer: str = "Offer") -> pd.DataFrame:
    """Everyone visits; ``n_a`` customers also get the offer, ``x_a`` of them buy after it;
    ``x_b`` of the ``n_b`` others buy."""
    converts = np.r_[np.arange(n_a) < x_a, np.arange(n_b) < x_b]
    touched = np.arange(n_a + n_b) < n_a
    ids = pd.Series([f"{offer}{i:05d}" for i in range(n_a + n_b)])
    parts = [pd.DataFrame({"customer_id": ids, "timestamp": T0, "touchpoint": "Visit"}),
             pd.DataFrame({"customer_id": ids[touched], "timestamp": T0 + timedelta(hours=1),
                           "touchpoint": offer}),
             pd.DataFrame({"customer_id": ids[converts], "timestamp": T0 + timedelta(hours=2),
                           "touchpoint": "Purchase"})]
    return pd.concat(parts, ignore_index=True)


def test_lift_ci_and_p_value_match_newcombe_1998_and_statsmodels():
    # Newcombe (1998), Table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339 (method 10).
    t = rows(touchpoint_scorecard(two_groups(70, 56, 80, 48), conversion=CONVERSION).table)
    assert round(t.loc["Offer", "lift_ci_low"], 4) == 0.0524
    assert round(t.loc["Offer", "lift_ci_high"], 4) == 0.3339
    assert t.loc["Offer", "conversion_lift"] == pytest.approx(56 / 70 - 48 / 80)
    _, p = proportions_ztest([56, 48], [70, 80])
    assert t.loc["Offer", "lift_p_value"] == pytest.approx(p, rel=1e-10)
    # Everyone visits: there is no one without it to compare with.
    assert np.isnan(t.loc["Visit", "conversion_lift"])


def test_a_significant_but_small_lift_neither_makes_nor_breaks():
    # 10,000 a side: 3 pp worse is significant (z ≈ 4.3) but below MIN_LIFT; 15 pp is not.
    small = rows(touchpoint_scorecard(two_groups(10_000, 4_200, 10_000, 4_500),
                                      conversion=CONVERSION).table).loc["Offer"]
    assert small["lift_p_adjusted"] < 1e-4 and small["lift_ci_high"] < 0
    assert small["conversion_lift"] == pytest.approx(-0.03) and MIN_LIFT > 0.03
    assert small["role"] == "neutral"
    large = rows(touchpoint_scorecard(two_groups(400, 120, 400, 180),
                                      conversion=CONVERSION).table).loc["Offer"]
    assert large["role"] == "break" and large["role_reason"].startswith("Converts 15 pp worse")


def test_p_values_are_adjusted_by_benjamini_hochberg(full):
    tested = full.table.dropna(subset=["lift_p_value"])
    expected = multipletests(tested["lift_p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(tested["lift_p_adjusted"], expected, rtol=1e-12)


# --------------------------------------------------------------------------- planted effects


def test_demo_planted_effects(full):
    t = rows(full.table)
    assert t.loc["Payment failed", "role"] == "break"
    low, high = t.loc["Payment failed", ["hr_ci_low", "hr_ci_high"]]
    assert low < demo.PAYMENT_FAILURE_HR < high
    assert "Churn hazard" in t.loc["Payment failed", "role_reason"]
    assert "make" in set(t.loc[["Checkout", "Add to cart"], "role"])
    assert t.loc["Checkout", "conversion_lift"] > 0.3
    # Conversion and churn touchpoints are outcomes: no lift, no hazard ratio.
    assert np.isnan(t.loc["Purchase", "conversion_lift"])
    assert np.isnan(t.loc["Cancel subscription", "churn_hazard_ratio"])
    ranks = full.table["role"].map({"break": 0, "make": 1, "neutral": 2})
    assert ranks.is_monotonic_increasing
    for _, part in full.table.groupby("role"):
        assert part["customers"].is_monotonic_decreasing
    assert full.status == "ok" and "1.25" in full.rule and "30%" in full.rule


def test_feedback_terms_match_linked_feedback(data, full):
    fb = data.feedback
    linked = link_feedback(fb, data.events)["linked_touchpoint"]
    sentiment = comment_sentiment(fb)["sentiment"]
    t = rows(full.table)
    for tp, scale, (low, high) in (("Payment failed", "ces", (1, 7)),
                                   ("Purchase", "nps", (0, 10))):
        mine = (linked == tp).to_numpy()
        assert t.loc[tp, "feedback"] == mine.sum()
        scores = fb.loc[mine & (fb["scale"] == scale).to_numpy(), "score"]
        assert t.loc[tp, "mean_score"] == pytest.approx(((scores - low) / (high - low)).mean()
                                                        * 100)
        rated = sentiment[mine] != "unknown"
        negative = (sentiment[mine] == "negative").sum()
        assert t.loc[tp, "negative_share"] == pytest.approx(negative / rated.sum())
        n, p, z = rated.sum(), negative / rated.sum(), 1.959963984540054
        wilson = (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
            1 + z * z / n)
        assert t.loc[tp, "negative_ci_low"] == pytest.approx(wilson)
    assert t.loc["Payment failed", "negative_ci_low"] >= BREAK_NEGATIVE_LOW
    assert (linked == "Payment failed").sum() >= MIN_RATED


def test_median_seconds_to_next_matches_pandas_diff(data, full):
    ev = data.events.sort_values(["customer_id", "timestamp"], kind="stable")
    gap = (ev.groupby("customer_id")["timestamp"].shift(-1) - ev["timestamp"]).dt.total_seconds()
    expected = gap.groupby(ev["touchpoint"]).median()
    got = rows(full.table)["median_seconds_to_next"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert np.isnan(got["Cancel subscription"])  # always the last event


def test_channels_most_frequent_first(data, full):
    counts = data.events.groupby(["touchpoint", "channel"]).size()
    t = rows(full.table)
    for tp in ("Product page", "Checkout", "Cancel subscription"):
        expected = counts[tp].sort_values(ascending=False, kind="stable")
        assert t.loc[tp, "channels"] == ", ".join(expected.index)


# --------------------------------------------------------------------------- trend


def fading_frame() -> pd.DataFrame:
    """Six months, 100 new customers a month, each with one Visit. Steady reaches 50% every
    month; Fading 40% in the first three months, then 10%; Rare fades from 5% to 1%."""
    rows_ = []
    for month in range(6):
        start = datetime(2025, month + 1, 3)
        for i in range(100):
            cid, when = f"m{month}c{i:03d}", start + timedelta(hours=i)
            rows_.append((cid, when, "Visit"))
            if i % 2 == 0:
                rows_.append((cid, when + timedelta(minutes=5), "Steady"))
            if i < (40 if month < 3 else 10):
                rows_.append((cid, when + timedelta(minutes=10), "Fading"))
            if i < (5 if month < 3 else 1):
                rows_.append((cid, when + timedelta(minutes=15), "Rare"))
    return pd.DataFrame(rows_, columns=["customer_id", "timestamp", "touchpoint"])


def test_a_planted_fading_touchpoint_is_flagged():
    result = touchpoint_scorecard(fading_frame())
    t = rows(result.table)
    assert t.loc["Fading", "reach_trend"] == pytest.approx(0.10 / 0.40 - 1)
    assert t.loc["Fading", "fading"]
    assert t.loc["Steady", "reach_trend"] == pytest.approx(0.0)
    assert not t.loc["Steady", "fading"]
    # Rare falls by 80% but had only 15 customers in the earlier half: too few to call.
    assert t.loc["Rare", "reach_trend"] == pytest.approx(0.01 / 0.05 - 1)
    assert not t.loc["Rare", "fading"]
    trend = result.trend
    assert list(trend.columns) == list(TREND_COLUMNS)
    fading = trend[trend["touchpoint"] == "Fading"]
    assert fading["period"].tolist() == [pd.Timestamp(2025, m, 1) for m in range(1, 7)]
    assert fading["customers"].tolist() == [40, 40, 40, 10, 10, 10]
    assert (fading["active"] == 100).all()


def test_trend_keeps_the_last_periods_and_weeks_work():
    result = touchpoint_scorecard(fading_frame(), periods=4)
    assert result.trend["period"].nunique() == 4
    # Earlier half: months 3-4 (40%, 10%), later half: months 5-6 (10%, 10%).
    assert rows(result.table).loc["Fading", "reach_trend"] == pytest.approx(0.1 / 0.25 - 1)
    weekly = touchpoint_scorecard(fading_frame(), period="week", periods=6)
    assert weekly.trend["period"].nunique() == 6
    assert (weekly.trend["period"].dt.dayofweek == 0).all()  # weeks start on Monday


@pytest.mark.parametrize(("period", "periods"), [("week", 8), ("month", 3), ("month", 6)])
def test_swapping_the_trend_gives_the_scorecard_of_that_trend(data, full, period, periods):
    """The page recounts only the trend when its period changes: the same card as scoring
    again with that period (the demo has fading and steady touchpoints both ways)."""
    swapped = with_reach_trend(full, data.events, period=period, periods=periods)
    direct = touchpoint_scorecard(data.events, data.feedback, period=period, periods=periods,
                                  **ENGINE_KW)
    pd.testing.assert_frame_equal(swapped.table, direct.table)
    pd.testing.assert_frame_equal(swapped.trend, direct.trend)
    assert (swapped.rule, swapped.status, swapped.message) == (
        direct.rule, direct.status, direct.message)
    with pytest.raises(ParameterError):
        with_reach_trend(full, data.events, periods=1)


# --------------------------------------------------------------------------- engines


@pytest.fixture(scope="module")
def small(data) -> tuple[pd.DataFrame, pd.DataFrame, Scorecard]:
    """250 demo customers (with event_seq, so every engine breaks ties alike) and their
    scorecard from pandas."""
    keep = set(data.events["customer_id"].drop_duplicates().iloc[:250])
    events = data.events[data.events["customer_id"].isin(keep)].reset_index(drop=True)
    events = events.assign(event_seq=np.arange(len(events)))
    feedback = data.feedback[data.feedback["customer_id"].isin(keep)].reset_index(drop=True)
    expected = touchpoint_scorecard(events, feedback, **ENGINE_KW)
    assert expected.table["churn_hazard_ratio"].notna().sum() >= 5
    return events, feedback, expected


def same(got: Scorecard, expected: Scorecard, name: str) -> None:
    pd.testing.assert_frame_equal(got.table, expected.table, check_dtype=False, rtol=1e-6,
                                  obj=name)
    pd.testing.assert_frame_equal(got.trend, expected.trend, check_dtype=False, obj=name)
    assert (got.customers, got.converters, got.status) == (
        expected.customers, expected.converters, expected.status)


def test_same_table_from_duckdb_and_polars(small):
    events, feedback, expected = small
    others = {"duckdb": duckdb.connect().from_df(events), "polars": pl.from_pandas(events),
              "polars_lazy": pl.from_pandas(events).lazy()}
    for name, frame in others.items():
        same(touchpoint_scorecard(frame, pl.from_pandas(feedback), **ENGINE_KW), expected, name)


def test_same_table_from_spark(spark, small):
    events, feedback, expected = small
    plain = events.astype({"touchpoint": str, "channel": str, "stage": str})
    got = touchpoint_scorecard(spark.createDataFrame(plain), spark.createDataFrame(feedback),
                               **ENGINE_KW)
    same(got, expected, "spark")


def test_hazard_ratio_matches_lifelines_time_varying_cox(data, full):
    from lifelines import CoxTimeVaryingFitter

    ev = data.events
    start = ev[ev["touchpoint"] == "Purchase"].groupby("customer_id")["timestamp"].min()
    ev = ev[ev["customer_id"].isin(start.index)]
    ev = ev[ev["timestamp"] >= ev["customer_id"].map(start)]
    cancel = ev[ev["touchpoint"] == "Cancel subscription"].groupby("customer_id")[
        "timestamp"].min()
    end = cancel.reindex(start.index).fillna(ev["timestamp"].max())
    duration = (end - start).dt.total_seconds() / 86_400
    churned = start.index.isin(cancel.index)
    t = rows(full.table)
    for tp in ("Payment failed", "App login", "Support call"):
        first = data.events[data.events["touchpoint"] == tp].groupby("customer_id")[
            "timestamp"].min()
        at = ((first.reindex(start.index) - start).dt.total_seconds() / 86_400).to_numpy()
        episodes = []
        for i, (d, c, a) in enumerate(zip(duration.to_numpy(), churned, at, strict=True)):
            if not d > 0:
                continue
            if np.isnan(a) or a >= d:
                episodes.append((i, 0.0, d, c, 0))
            elif a <= 0:
                episodes.append((i, 0.0, d, c, 1))
            else:
                episodes += [(i, 0.0, a, False, 0), (i, a, d, c, 1)]
        frame = pd.DataFrame(episodes, columns=["id", "start", "stop", "event", "exposed"])
        fit = CoxTimeVaryingFitter().fit(frame, id_col="id", event_col="event",
                                         start_col="start", stop_col="stop")
        hr = float(np.exp(fit.params_["exposed"]))
        assert t.loc[tp, "churn_hazard_ratio"] == pytest.approx(hr, rel=1e-3), tp
        assert t.loc[tp, "hr_p_value"] == pytest.approx(float(fit.summary.loc["exposed", "p"]),
                                                        rel=1e-2, abs=1e-6), tp


def test_scorecard_is_the_table_and_inputs_are_not_modified(data):
    events = tiny()
    before = events.copy()
    table = scorecard(events, conversion=CONVERSION)
    pd.testing.assert_frame_equal(table, touchpoint_scorecard(events,
                                                              conversion=CONVERSION).table)
    pd.testing.assert_frame_equal(events, before)


# --------------------------------------------------------------------------- degenerate input


def test_empty_events():
    result = touchpoint_scorecard(tiny().iloc[:0], conversion=CONVERSION)
    assert result.status == "empty" and result.message
    assert result.table.empty and list(result.table.columns) == list(COLUMNS)
    assert result.trend.empty and (result.customers, result.converters) == (0, 0)


def test_without_conversion_rates_are_empty():
    result = touchpoint_scorecard(tiny())
    assert result.status == "ok" and "conversion" in result.message
    conversion_columns = list(COLUMNS[4:13])
    assert result.table[conversion_columns].isna().all().all()
    assert result.converters == 0
    assert set(result.table["role"]) == {"neutral"}
    assert result.table["feedback"].isna().all()


def test_one_touchpoint_is_degenerate():
    events = pd.DataFrame({"customer_id": ["a", "b", "a"], "touchpoint": "Visit",
                           "timestamp": [T0, T0, T0 + timedelta(hours=1)]})
    result = touchpoint_scorecard(events)
    assert result.status == "degenerate" and "one touchpoint" in result.message
    t = rows(result.table)
    assert t.loc["Visit", "customers"] == 2 and t.loc["Visit", "reach"] == 1
    assert t.loc["Visit", "median_seconds_to_next"] == 3600


def test_feedback_without_customer_id_uses_explicit_touchpoints():
    feedback = pd.DataFrame({"timestamp": [T0, T0, T0], "touchpoint": ["Web", "Web", None],
                             "score": [0.0, 10.0, 5.0], "scale": "nps",
                             "text": ["awful", "great", "meh"]})
    t = rows(touchpoint_scorecard(tiny(), feedback, conversion=CONVERSION).table)
    assert t.loc["Web", "feedback"] == 2 and t.loc["Web", "mean_score"] == 50
    assert t.loc["Web", "negative_share"] == 0.5
    assert t.loc["Ad", "feedback"] == 0 and np.isnan(t.loc["Ad", "mean_score"])


def test_bad_arguments_say_how_to_fix_them():
    with pytest.raises(ParameterError, match=r"\['Purchase'\]"):
        touchpoint_scorecard(tiny(), conversion="Purchase")
    with pytest.raises(UnknownValueError, match="did you mean 'Purchase'"):
        touchpoint_scorecard(tiny(), conversion=["Purchse"])
    with pytest.raises(UnknownValueError):
        touchpoint_scorecard(tiny(), churn=["Cancel"])
    with pytest.raises(ParameterError, match="periods"):
        touchpoint_scorecard(tiny(), periods=1)
    with pytest.raises(ParameterError, match="alpha"):
        touchpoint_scorecard(tiny(), alpha=2)
    with pytest.raises(MissingColumnError):
        touchpoint_scorecard(tiny().drop(columns="touchpoint"))
    with pytest.raises(MissingColumnError):
        touchpoint_scorecard(tiny(), pd.DataFrame({"text": ["x"]}))


def test_a_recurring_touch_unrelated_to_buying_is_not_a_break_point():
    """A monthly newsletter to everyone: non-converters get it over their whole history,
    converters only before buying, so the plain lift is strongly negative; the time-varying
    conversion hazard sees no effect, and the touchpoint stays neutral."""
    rng = np.random.default_rng(3)
    rows_ = []
    for i in range(2_000):
        cid = f"N{i:05d}"
        rows_.append((cid, T0, "Visit"))
        start = float(rng.uniform(0, 60))  # sign-ups spread: each starts on another day
        rows_ += [(cid, T0 + timedelta(days=start + 30 * k), "Newsletter") for k in range(12)]
        if rng.random() < 0.4:
            rows_.append((cid, T0 + timedelta(days=float(rng.exponential(60))), "Purchase"))
    events = pd.DataFrame(rows_, columns=["customer_id", "timestamp", "touchpoint"])
    t = rows(touchpoint_scorecard(events, conversion=CONVERSION).table).loc["Newsletter"]
    assert t["lift_ci_high"] < -0.1 and t["lift_p_adjusted"] < 1e-3  # looks like a break...
    assert 0.85 < t["conversion_hazard_ratio"] < 1.15  # ...but buying is not slower after it
    assert t["role"] == "neutral"


def test_churn_is_judged_among_converters_by_default(data):
    """Without start_at, lifetimes start at the first conversion: post-purchase touchpoints
    (renewals, logins) are not break points for merely happening to subscribers."""
    events, feedback = data.events, data.feedback
    card = rows(scorecard(events, feedback, conversion=["Purchase"],
                          churn=["Cancel subscription"]))
    assert card.loc["Payment failed", "role"] == "break"
    assert card.loc["Payment failed", "hr_ci_low"] < 2.5 < card.loc["Payment failed", "hr_ci_high"]
    for touchpoint in ("Renewal", "Order tracking", "Loyalty email click"):
        assert not card.loc[touchpoint, "role_reason"].startswith("Churn hazard"), touchpoint
