"""A/B tests: golden numbers from statsmodels and scipy, CUPED, SRM, power, A/A calibration,
the planted demo effect, engine parity and degenerate input."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analysis import demo
from analysis.experiments.abtest import ab_test
from analysis.schema import MissingColumnError, ParameterError
from analysis.stats import mde_mean, mde_proportion, sample_size_mean, sample_size_proportion


def _units(a_conv, a_n, b_conv, b_n, a_rev, b_rev):
    conv = [1] * a_conv + [0] * (a_n - a_conv) + [1] * b_conv + [0] * (b_n - b_conv)
    return pd.DataFrame({"variant": ["A"] * a_n + ["B"] * b_n,
                         "converted": np.array(conv, dtype=bool),
                         "revenue": np.concatenate([a_rev, b_rev])})


@pytest.fixture
def hand_made():
    rng = np.random.default_rng(3)
    return _units(30, 200, 45, 180, rng.gamma(2, 10, 200), rng.gamma(2, 12, 180))


def test_proportion_matches_statsmodels_ztest(hand_made):
    res = ab_test(hand_made, variant="variant", metrics=["converted"], control="A")
    row = res.table.iloc[0]
    _, p = proportions_ztest([45, 30], [180, 200])
    assert row["p_value"] == pytest.approx(p, rel=1e-9)
    p_b, p_a = 45 / 180, 30 / 200
    half = sps.norm.ppf(0.975) * np.sqrt(p_b * (1 - p_b) / 180 + p_a * (1 - p_a) / 200)
    assert row["difference"] == pytest.approx(p_b - p_a)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((p_b - p_a - half, p_b - p_a + half))
    assert row["relative_lift"] == pytest.approx(p_b / p_a - 1)
    assert row["lift_ci_low"] < row["relative_lift"] < row["lift_ci_high"]
    assert row["test"] == "two-proportion z-test"
    assert (row["units"], row["control_units"]) == (180, 200)
    assert res.status == "ok" and res.message == ""


def test_mean_matches_statsmodels_welch_and_scipy(hand_made):
    res = ab_test(hand_made, variant="variant", metrics=["revenue"], control="A")
    row = res.table.iloc[0]
    b = hand_made.loc[hand_made.variant == "B", "revenue"]
    a = hand_made.loc[hand_made.variant == "A", "revenue"]
    cm = CompareMeans(DescrStatsW(b), DescrStatsW(a))
    _, p, _ = cm.ttest_ind(usevar="unequal")
    low, high = cm.tconfint_diff(usevar="unequal")
    assert row["p_value"] == pytest.approx(p, rel=1e-9)
    assert row["p_value"] == pytest.approx(sps.ttest_ind(b, a, equal_var=False).pvalue)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["test"] == "Welch t-test"


def test_rank_test_uses_mann_whitney(hand_made):
    row = ab_test(hand_made, variant="variant", metrics=["revenue"], control="A",
                  rank_test=True).table.iloc[0]
    b = hand_made.loc[hand_made.variant == "B", "revenue"]
    a = hand_made.loc[hand_made.variant == "A", "revenue"]
    assert row["p_value"] == pytest.approx(sps.mannwhitneyu(b, a).pvalue)
    assert row["test"] == "Mann-Whitney U"


def test_winsorize_caps_at_pooled_quantile(hand_made):
    cap = hand_made["revenue"].quantile(0.9)
    row = ab_test(hand_made, variant="variant", metrics=["revenue"], control="A",
                  winsorize=0.9).table.iloc[0]
    a = hand_made.loc[hand_made.variant == "A", "revenue"].clip(upper=cap)
    assert row["control_value"] == pytest.approx(a.mean())


def test_holm_adjusts_over_all_rows(hand_made):
    res = ab_test(hand_made, variant="variant", metrics=["converted", "revenue"], control="A")
    p = np.sort(res.table["p_value"].to_numpy())
    assert np.sort(res.table["p_adjusted"].to_numpy()) == pytest.approx(
        [min(1, 2 * p[0]), min(1, max(2 * p[0], p[1]))])
    bh = ab_test(hand_made, variant="variant", metrics=["converted", "revenue"],
                 control="A", correction="fdr_bh")
    assert (bh.table["p_adjusted"] <= res.table["p_adjusted"] + 1e-12).all()


def test_default_control_is_most_frequent_then_first_name():
    df = _units(5, 20, 5, 30, np.ones(20), np.ones(30))
    assert ab_test(df, variant="variant", metrics=["converted"]).control == "B"
    tie = _units(5, 20, 5, 20, np.ones(20), np.ones(20))
    assert ab_test(tie, variant="variant", metrics=["converted"]).control == "A"


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_cuped_variance_reduction_is_one_minus_rho_squared(rho):
    rng = np.random.default_rng(11)
    n = 20_000
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    df = pd.DataFrame({"variant": rng.choice(["A", "B"], n), "y": y + 5, "pre": x})
    res = ab_test(df, variant="variant", metrics=["y"], cuped={"y": "pre"})
    assert res.cuped_reduction["y"] == pytest.approx(rho**2, abs=0.02)
    assert res.table.iloc[0]["test"] == "Welch t-test (CUPED)"
    raw = ab_test(df, variant="variant", metrics=["y"])
    ratio = (res.table.iloc[0]["ci_high"] - res.table.iloc[0]["ci_low"]) / (
        raw.table.iloc[0]["ci_high"] - raw.table.iloc[0]["ci_low"])
    assert ratio == pytest.approx(np.sqrt(1 - rho**2), abs=0.03)


def test_srm_detected_on_55_45_not_on_balanced():
    skewed = pd.DataFrame({"variant": ["A"] * 5500 + ["B"] * 4500, "m": 1.0})
    res = ab_test(skewed, variant="variant", metrics=["m"])
    assert res.srm and res.srm_p < 1e-20
    balanced = pd.DataFrame({"variant": ["A"] * 5020 + ["B"] * 4980, "m": 1.0})
    assert not ab_test(balanced, variant="variant", metrics=["m"]).srm
    planned = ab_test(skewed, variant="variant", metrics=["m"],
                      expected_split={"A": 55, "B": 45})
    assert planned.srm_p == pytest.approx(1.0) and not planned.srm


@pytest.mark.parametrize(("n_a", "n_b"), [(1000, 1000), (800, 1500)])
def test_power_helpers_match_statsmodels(n_a, n_b):
    solver = NormalIndPower()
    d = solver.solve_power(nobs1=n_a, ratio=n_b / n_a, alpha=0.05, power=0.8)
    assert mde_mean(2.0, n_a, n_b) == pytest.approx(2.0 * d, rel=1e-4)
    p = 0.1
    assert mde_proportion(p, n_a, n_b) == pytest.approx(d * np.sqrt(p * (1 - p)), rel=1e-4)
    n = solver.solve_power(effect_size=0.5 / 2.0, alpha=0.05, power=0.8, ratio=1)
    assert sample_size_mean(2.0, 0.5) == pytest.approx(n, abs=1.01)
    n_p = solver.solve_power(effect_size=0.02 / np.sqrt(p * (1 - p)), alpha=0.05, power=0.8)
    assert sample_size_proportion(p, 0.02) == pytest.approx(n_p, abs=1.01)
    with pytest.raises(ParameterError):
        sample_size_proportion(1.5, 0.02)


def test_table_mde_is_the_proportion_mde():
    df = _units(100, 1000, 120, 1000, np.ones(1000), np.ones(1000))
    row = ab_test(df, variant="variant", metrics=["converted"], control="A").table.iloc[0]
    assert row["mde"] == pytest.approx(mde_proportion(0.1, 1000, 1000))


def test_aa_false_positive_rate_is_near_alpha():
    rng = np.random.default_rng(2024)
    n, runs = 2000, 200
    hits = 0
    for _ in range(runs):
        df = pd.DataFrame({"variant": rng.choice(["A", "B"], n),
                           "converted": rng.random(n) < 0.1})
        hits += ab_test(df, variant="variant", metrics=["converted"]).table.iloc[0][
            "p_value"] < 0.05
    sd = np.sqrt(0.05 * 0.95 / runs)
    assert abs(hits / runs - 0.05) <= 3 * sd


def test_demo_recovers_planted_ab_lift():
    events = demo.load().events
    bought = set(events.loc[events.touchpoint == "Purchase", "customer_id"])
    units = events.groupby("customer_id", as_index=False)["variant"].first()
    units["converted"] = units["customer_id"].isin(bought)
    row = ab_test(units, variant="variant", metrics=["converted"], control="A").table.iloc[0]
    assert row["variant"] == "B"
    assert row["ci_low"] <= demo.AB_LIFT <= row["ci_high"]
    assert row["ci_low"] > 0


def test_pandas_and_duckdb_give_the_same_table(hand_made):
    con = duckdb.connect()
    rel = con.from_df(hand_made)
    kwargs = {"variant": "variant", "metrics": ["converted", "revenue"], "control": "A"}
    pd.testing.assert_frame_equal(ab_test(hand_made, **kwargs).table, ab_test(rel, **kwargs).table)


def test_unknown_columns_and_control_raise(hand_made):
    with pytest.raises(MissingColumnError, match="revenue"):
        ab_test(hand_made, variant="variant", metrics=["nope"])
    with pytest.raises(MissingColumnError):
        ab_test(hand_made, variant="arm", metrics=["revenue"])
    with pytest.raises(ParameterError, match="A, B"):
        ab_test(hand_made, variant="variant", metrics=["revenue"], control="C")
    with pytest.raises(ParameterError):
        ab_test(hand_made, variant="variant", metrics=["revenue"], correction="sidak")
    with pytest.raises(ParameterError):
        ab_test(hand_made, variant="variant", metrics=["revenue"], expected_split={"A": 1})


def test_one_variant_is_degenerate():
    df = pd.DataFrame({"variant": ["A"] * 10, "m": np.arange(10.0)})
    res = ab_test(df, variant="variant", metrics=["m"])
    assert res.status == "degenerate" and "one variant" in res.message
    assert res.table.empty and np.isnan(res.srm_p)


def test_empty_input_is_empty():
    df = pd.DataFrame({"variant": pd.Series([], dtype=object), "m": pd.Series([], dtype=float)})
    assert ab_test(df, variant="variant", metrics=["m"]).status == "empty"


def test_zero_variance_and_tiny_arms_give_nan_rows_with_notes():
    flat = pd.DataFrame({"variant": ["A"] * 5 + ["B"] * 5, "m": 3.0, "c": False})
    res = ab_test(flat, variant="variant", metrics=["m", "c"])
    assert res.status == "degenerate"
    assert res.table["p_value"].isna().all() and res.table["p_adjusted"].isna().all()
    assert "zero variance" in res.message and "no variation" in res.message
    tiny = pd.DataFrame({"variant": ["A"] * 5 + ["B"], "m": [1.0, 2, 3, 4, 5, 6]})
    row = ab_test(tiny, variant="variant", metrics=["m"]).table.iloc[0]
    assert np.isnan(row["p_value"]) and "fewer than 2" in row["note"]


def test_missing_metric_values_and_unassigned_units_are_counted():
    df = pd.DataFrame({"variant": ["A", "A", "A", "B", "B", "B", None],
                       "m": [1.0, 2.0, np.nan, 2.0, 3.0, 4.0, 9.0]})
    res = ab_test(df, variant="variant", metrics=["m"], control="A")
    assert res.unassigned == 1
    assert tuple(res.table.iloc[0][["units", "control_units"]]) == (3, 2)


@pytest.mark.parametrize("labels", ["text", "numbers", "categories"])
def test_pandas_input_read_directly_matches_plain_pandas_and_duckdb(labels):
    """pandas units are read without an engine round trip: variant labels of any type become
    text, boolean and integer metrics floats, missing values stay out; the table is the one
    from DuckDB and its values are plain pandas group means."""
    rng = np.random.default_rng(5)
    n = 400
    variant = pd.Series(rng.choice([1, 2, 3], n)).where(rng.random(n) > 0.05)
    if labels == "text":
        variant = variant.map({1: "a", 2: "b", 3: "c"})
    elif labels == "categories":
        variant = variant.map({1: "a", 2: "b", 3: "c"}).astype("category")
    units = pd.DataFrame({"variant": variant, "converted": rng.random(n) < 0.3,
                          "orders": rng.integers(0, 4, n),
                          "revenue": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2, 5, n))})
    kwargs = {"variant": "variant", "metrics": ["converted", "orders", "revenue"]}
    res = ab_test(units, **kwargs)
    pd.testing.assert_frame_equal(res.table, ab_test(duckdb.connect().from_df(units),
                                                     **kwargs).table)
    assert res.unassigned == int(variant.isna().sum())
    keys = units["variant"].astype(object).map(lambda v: None if pd.isna(v) else str(v))
    means = units[kwargs["metrics"]].astype(float).groupby(keys).mean()
    for row in res.table.itertuples():
        assert row.value == pytest.approx(means.loc[row.variant, row.metric], rel=1e-12)
        assert row.control_value == pytest.approx(means.loc[res.control, row.metric],
                                                  rel=1e-12)
