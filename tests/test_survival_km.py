"""kaplan_meier: a curve computed by hand, lifelines as the outside reference, invariants."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import restricted_mean_survival_time

from analysis.schema import MissingColumnError, ParameterError
from analysis.survival.km import kaplan_meier, pairwise_logrank
from analysis.survival.lifetimes import customer_lifetimes

Z = 1.959963984540054

# Times 1 (churn), 2 (churn, churn, censored), 3 (censored), 4 (churn, censored), 5 (churn).
HAND = pd.DataFrame({
    "duration_days": [1, 2, 2, 2, 3, 4, 4, 5],
    "churned": [True, True, True, False, False, True, False, True],
})


def test_product_limit_by_hand_with_ties_between_churn_and_censoring():
    result = kaplan_meier(HAND, horizons=(2, 4.5, 9))
    curve = result.curves
    assert curve["time"].tolist() == [0, 1, 2, 3, 4, 5]
    # The customer censored at 2 is still at risk at 2: churns come first at a tie.
    assert curve["at_risk"].tolist() == [8, 8, 7, 4, 3, 1]
    s1 = 7 / 8
    s2 = s1 * (1 - 2 / 7)
    s4 = s2 * (1 - 1 / 3)
    np.testing.assert_allclose(curve["survival"], [1, s1, s2, s2, s4, 0])
    # log-log band at t = 2 from Greenwood's sum.
    greenwood = 1 / (8 * 7) + 2 / (7 * 5)
    se = np.sqrt(greenwood) / abs(np.log(s2))
    assert curve["ci_lower"].iloc[2] == pytest.approx(s2 ** np.exp(Z * se))
    assert curve["ci_upper"].iloc[2] == pytest.approx(s2 ** np.exp(-Z * se))
    row = result.summary.iloc[0]
    assert (row["group"], row["customers"], row["churned"]) == ("All", 8, 5)
    assert row["median_time"] == 4
    assert result.rmst_horizon == 5
    assert row["rmst"] == pytest.approx(1 + s1 + s2 + s2 + s4)
    assert row["survival_at_2"] == pytest.approx(s2)
    assert row["survival_at_4.5"] == pytest.approx(s4)
    assert row["survival_at_9"] == 0  # the curve reached 0 at 5
    assert result.logrank_p is None and result.pairwise.empty
    assert (result.status, result.message) == ("ok", "")


def test_median_is_nan_when_not_reached_and_survival_past_the_end_is_unknown():
    data = pd.DataFrame({"duration_days": [1, 5, 6, 7], "churned": [True, False, False, False]})
    row = kaplan_meier(data, horizons=(30,)).summary.iloc[0]
    assert np.isnan(row["median_time"]) and np.isnan(row["survival_at_30"])


@st.composite
def lifetimes(draw):
    n = draw(st.integers(1, 40))
    durations = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    churned = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    groups = draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n))
    return pd.DataFrame({"duration_days": durations, "churned": churned, "g": groups})


@settings(max_examples=60, deadline=None)
@given(lifetimes())
def test_survival_is_monotone_in_unit_interval_and_bands_contain_it(data):
    result = kaplan_meier(data, by="g")
    for _, curve in result.curves.groupby("group"):
        s = curve["survival"].to_numpy()
        assert ((s >= 0) & (s <= 1)).all()
        assert (np.diff(s) <= 1e-12).all()
        assert (curve["ci_lower"] <= s + 1e-12).all() and (s <= curve["ci_upper"] + 1e-12).all()
        assert ((curve["ci_lower"] >= 0) & (curve["ci_upper"] <= 1)).all()
    p = result.logrank_p
    assert p is None or np.isnan(p) or 0 <= p <= 1


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return load_rossi()


def test_curves_bands_median_and_rmst_match_lifelines(rossi):
    result = kaplan_meier(rossi, duration_col="week", event_col="arrest", by="fin",
                          rmst_horizon=30.5)
    for value, group in rossi.groupby("fin"):
        kmf = KaplanMeierFitter().fit(group["week"], group["arrest"])
        curve = result.curves[result.curves["group"] == str(value)]
        np.testing.assert_allclose(curve["time"], kmf.survival_function_.index)
        np.testing.assert_allclose(curve["survival"], kmf.survival_function_.iloc[:, 0],
                                   atol=1e-10)
        np.testing.assert_allclose(curve["ci_lower"], kmf.confidence_interval_.iloc[:, 0],
                                   atol=1e-10)
        np.testing.assert_allclose(curve["ci_upper"], kmf.confidence_interval_.iloc[:, 1],
                                   atol=1e-10)
        np.testing.assert_allclose(curve["at_risk"], kmf.event_table["at_risk"])
        row = result.summary.set_index("group").loc[str(value)]
        assert np.isnan(row["median_time"]) and np.isinf(kmf.median_survival_time_)
        assert row["rmst"] == pytest.approx(restricted_mean_survival_time(kmf, t=30.5))


def test_median_matches_lifelines_when_reached(rossi):
    data = rossi.assign(week=rossi["week"] * (1 + rossi["prio"] % 3), arrest=1)
    kmf = KaplanMeierFitter().fit(data["week"], data["arrest"])
    result = kaplan_meier(data, duration_col="week", event_col="arrest")
    assert result.summary["median_time"].iloc[0] == kmf.median_survival_time_


def test_logrank_p_matches_lifelines_on_rossi(rossi):
    result = kaplan_meier(rossi, duration_col="week", event_col="arrest", by="fin")
    a, b = rossi[rossi["fin"] == 0], rossi[rossi["fin"] == 1]
    expected = logrank_test(a["week"], b["week"], a["arrest"], b["arrest"]).p_value
    assert round(result.logrank_p, 5) == round(expected, 5)
    assert result.logrank_p == pytest.approx(expected, rel=1e-9)


def test_multigroup_logrank_and_holm_pairwise_match_lifelines(rossi):
    data = rossi.assign(prio_band=pd.cut(rossi["prio"], [-1, 0, 2, 99],
                                         labels=["none", "few", "many"]).astype(str))
    result = kaplan_meier(data, duration_col="week", event_col="arrest", by="prio_band")
    expected = multivariate_logrank_test(data["week"], data["prio_band"], data["arrest"])
    assert result.logrank_p == pytest.approx(expected.p_value, rel=1e-9)
    assert len(result.pairwise) == 3
    for row in result.pairwise.itertuples():
        a, b = data[data["prio_band"] == row.group_a], data[data["prio_band"] == row.group_b]
        p = logrank_test(a["week"], b["week"], a["arrest"], b["arrest"]).p_value
        assert row.p_value == pytest.approx(p, rel=1e-9)
    ranked = np.sort(result.pairwise["p_value"].to_numpy())
    holm = np.maximum.accumulate(np.minimum(1, ranked * np.array([3, 2, 1])))
    np.testing.assert_allclose(np.sort(result.pairwise["p_adjusted"]), holm)


def test_weighted_counts_give_the_same_curve_as_expanded_rows():
    counts = HAND.groupby(["duration_days", "churned"]).size().rename("n").reset_index()
    counts = counts.assign(g="x")
    weighted = kaplan_meier(counts, weights="n", by="g")
    plain = kaplan_meier(HAND.assign(g="x"), by="g")
    pd.testing.assert_frame_equal(weighted.curves, plain.curves)
    pd.testing.assert_frame_equal(weighted.summary, plain.summary, check_dtype=False)


def test_weighted_logrank_matches_expanded_rows(rossi):
    counts = rossi.groupby(["week", "arrest", "fin"]).size().rename("n").reset_index()
    result = kaplan_meier(counts, duration_col="week", event_col="arrest", by="fin",
                          weights="n")
    plain = kaplan_meier(rossi, duration_col="week", event_col="arrest", by="fin")
    assert result.logrank_p == pytest.approx(plain.logrank_p, rel=1e-12)


def test_same_result_from_pandas_polars_and_duckdb_lifetimes():
    events = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", "d", "d", "e"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-02", "2024-02-20",
                                     "2024-01-05", "2024-01-03", "2024-01-04", "2024-03-01"]),
        "touchpoint": ["visit", "cancel", "visit", "visit", "visit", "visit", "cancel",
                       "visit"],
        "channel": ["web", "web", "app", "app", "web", "app", "app", "web"],
    })
    lifetimes = customer_lifetimes(events, churn_touchpoints=["cancel"], inactivity_days=40)
    channel = events.groupby("customer_id")["channel"].first()
    lifetimes = lifetimes.assign(channel=lifetimes["customer_id"].map(channel))
    expected = kaplan_meier(lifetimes, by="channel")
    for native in (pl.from_pandas(lifetimes), duckdb.from_df(lifetimes)):
        got = kaplan_meier(native, by="channel")
        pd.testing.assert_frame_equal(got.curves, expected.curves)
        pd.testing.assert_frame_equal(got.summary, expected.summary)
        assert got.logrank_p == pytest.approx(expected.logrank_p)


def test_degenerate_and_empty_inputs_give_a_status():
    no_churn = kaplan_meier(HAND.assign(churned=False))
    assert no_churn.status == "degenerate" and "No customer churned" in no_churn.message
    assert (no_churn.curves["survival"] == 1).all()
    one_group = kaplan_meier(HAND.assign(g="only"), by="g")
    assert one_group.status == "degenerate" and one_group.logrank_p is None
    empty = kaplan_meier(HAND.iloc[:0])
    assert empty.status == "empty" and empty.curves.empty and empty.logrank_p is None
    two = kaplan_meier(HAND.assign(g=list("abababab"), churned=False), by="g")
    assert two.status == "degenerate" and np.isnan(two.logrank_p)


def test_bad_input_raises_with_hint():
    with pytest.raises(MissingColumnError, match="duration_days"):
        kaplan_meier(HAND.rename(columns={"duration_days": "d"}))
    with pytest.raises(ParameterError, match="negative"):
        kaplan_meier(HAND.assign(duration_days=-1))
    with pytest.raises(ParameterError, match="weights"):
        kaplan_meier(HAND.assign(w=-1.0), weights="w")
    with pytest.raises(ParameterError, match="true/false"):
        kaplan_meier(HAND.assign(churned=3))


def test_pairwise_on_demand_is_the_same_table(rossi):
    data = rossi.assign(prio_band=pd.cut(rossi["prio"], [-1, 0, 2, 99],
                                         labels=["none", "few", "many"]).astype(str))
    options = dict(duration_col="week", event_col="arrest", by="prio_band")
    full = kaplan_meier(data, **options)
    lean = kaplan_meier(data, **options, pairwise=False)
    assert lean.pairwise.empty and lean.logrank_p == full.logrank_p
    pd.testing.assert_frame_equal(lean.curves, full.curves, check_exact=True)
    pd.testing.assert_frame_equal(lean.summary, full.summary, check_exact=True)
    pd.testing.assert_frame_equal(pairwise_logrank(data, **options), full.pairwise,
                                  check_exact=True)
    two = data[data["prio_band"] != "many"]
    assert pairwise_logrank(two, **options).empty
