"""cox_hazards: golden values on the Rossi data, BH adjustment, encoding, degenerate data and
the proportional-hazards check."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi
from statsmodels.stats.multitest import multipletests

from analysis.schema import AnalysisError, MissingColumnError
from analysis.survival.cox import PH_COLUMNS, TABLE_COLUMNS, cox_hazards

ROSSI_COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return load_rossi()


@pytest.fixture(scope="module")
def rossi_fit(rossi):
    return cox_hazards(rossi, covariates=ROSSI_COVARIATES, duration_col="week",
                       event_col="arrest")


def _exponential(rng, rate) -> np.ndarray:
    return rng.exponential(1.0 / np.asarray(rate, dtype=float))


def test_rossi_reproduces_documented_coefficients_and_concordance(rossi_fit):
    # Documented in lifelines' CoxPHFitter examples (and R's survival::coxph on Rossi).
    coef = rossi_fit.table.set_index("covariate")["coef"]
    assert rossi_fit.status == "ok" and rossi_fit.message == ""
    assert list(rossi_fit.table.columns) == TABLE_COLUMNS
    assert round(coef["fin"], 4) == -0.3794
    assert round(coef["prio"], 4) == 0.0915
    assert round(coef["age"], 4) == -0.0574
    assert round(rossi_fit.concordance, 3) == 0.640
    assert rossi_fit.n == 432 and not rossi_fit.sampled
    row = rossi_fit.table.set_index("covariate").loc["fin"]
    assert row.hazard_ratio == pytest.approx(np.exp(row.coef))
    assert row.ci_low < row.hazard_ratio < row.ci_high


def test_p_adjusted_is_benjamini_hochberg(rossi_fit):
    expected = multipletests(rossi_fit.table["p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(rossi_fit.table["p_adjusted"], expected, rtol=1e-12)
    assert (rossi_fit.table["p_adjusted"] >= rossi_fit.table["p_value"]).all()


def test_rossi_schoenfeld_check_flags_age_and_wexp(rossi_fit):
    # lifelines' documented check_assumptions on Rossi flags age and wexp (rank transform).
    p = rossi_fit.ph_test.set_index("covariate")["p_value"]
    assert list(rossi_fit.ph_test.columns) == PH_COLUMNS
    assert p["age"] < 0.01 and p["wexp"] < 0.01 and p["fin"] > 0.5
    assert "The effect of age changes over time" in rossi_fit.ph_message
    assert "wexp" in rossi_fit.ph_message and "fin" not in rossi_fit.ph_message


def test_duckdb_input_gives_the_same_fit(rossi, rossi_fit):
    relation = duckdb.connect().from_df(rossi)
    out = cox_hazards(relation, covariates=ROSSI_COVARIATES, duration_col="week",
                      event_col="arrest")
    pd.testing.assert_frame_equal(out.table, rossi_fit.table)


def test_text_covariate_is_one_hot_against_its_most_frequent_value():
    rng = np.random.default_rng(1)
    plan = np.array(["pro"] * 120 + ["basic"] * 50 + ["team"] * 30)
    rate = np.where(plan == "basic", 0.2, np.where(plan == "team", 0.05, 0.1))
    df = pd.DataFrame({"duration_days": _exponential(rng, rate), "churned": True,
                       "plan": plan})
    out = cox_hazards(df, covariates=["plan"])
    hr = out.table.set_index("covariate")["hazard_ratio"]
    assert out.status == "ok"
    assert list(hr.index) == ["plan=basic", "plan=team"]  # "pro" is the reference
    assert hr["plan=basic"] > 1 > hr["plan=team"]


def test_constant_covariate_is_dropped_with_a_message():
    rng = np.random.default_rng(2)
    x = rng.normal(size=200)
    df = pd.DataFrame({"duration_days": _exponential(rng, np.exp(0.5 * x)),
                       "churned": rng.random(200) < 0.8, "x": x, "region": "north"})
    out = cox_hazards(df, covariates=["x", "region"])
    assert out.status == "ok"
    assert list(out.table["covariate"]) == ["x"]
    assert "region" in out.message
    only = cox_hazards(df, covariates=["region"])
    assert only.status == "degenerate" and only.table.empty and "covariate" in only.message


def test_no_churn_and_too_few_churns_are_degenerate():
    df = pd.DataFrame({"duration_days": np.arange(1.0, 21.0), "churned": False,
                       "x": np.tile([0, 1], 10)})
    out = cox_hazards(df, covariates=["x"])
    assert out.status == "degenerate" and "No customer churned" in out.message
    assert list(out.table.columns) == TABLE_COLUMNS and np.isnan(out.concordance)
    df.loc[0, "churned"] = True
    assert cox_hazards(df, covariates=["x"]).status == "degenerate"


def test_perfect_separation_gives_a_status_not_an_exception():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, 200)
    df = pd.DataFrame({"duration_days": rng.exponential(10, 200), "churned": x == 1, "x": x})
    out = cox_hazards(df, covariates=["x"])
    assert out.status == "degenerate"
    assert "separate" in out.message and "x" in out.message


@pytest.mark.parametrize("ph_rows", [None, 1000])
def test_schoenfeld_message_names_a_planted_time_varying_effect(monkeypatch, ph_rows):
    if ph_rows is not None:  # the check on a sample of the rows, as for big data
        monkeypatch.setattr("analysis.survival.cox.PH_MAX_ROWS", ph_rows)
    rng = np.random.default_rng(4)
    n = 1500
    early = rng.integers(0, 2, n)  # raises the hazard early, lowers it later
    noise = rng.normal(size=n)
    # Piecewise hazard for early=1: 0.5 before day 1, then 0.02; early=0: 0.1 throughout.
    first = rng.exponential(1 / 0.5, n)
    late = 1 + rng.exponential(1 / 0.02, n)
    duration = np.where(early == 1, np.where(first < 1, first, late), rng.exponential(10, n))
    censor = 30.0
    df = pd.DataFrame({"duration_days": np.minimum(duration, censor),
                       "churned": duration < censor, "early": early, "noise": noise})
    out = cox_hazards(df, covariates=["early", "noise"])
    p = out.ph_test.set_index("covariate")["p_value"]
    assert out.status == "ok"
    assert p["early"] < 0.001
    assert out.ph_message.startswith("The effect of early changes over time")
    assert "noise" not in out.ph_message
    assert ("random sample of 1,000" in out.ph_message) == (ph_rows is not None)
    assert out.n == n


def test_more_rows_than_max_rows_fits_a_reproducible_sample(rossi):
    kwargs = dict(covariates=["fin", "prio"], duration_col="week", event_col="arrest",
                  max_rows=300, random_state=7)
    out = cox_hazards(rossi, **kwargs)
    assert out.sampled and out.n == 300 and "sample of 300 of 432" in out.message
    pd.testing.assert_frame_equal(out.table, cox_hazards(rossi, **kwargs).table)


def test_missing_rows_are_left_out_and_counted(rossi):
    df = rossi.copy()
    df.loc[:9, "prio"] = np.nan
    out = cox_hazards(df, covariates=["fin", "prio"], duration_col="week", event_col="arrest")
    assert out.n == 422 and "10 rows with missing values" in out.message
    assert rossi["prio"].notna().all()  # input not mutated


def test_missing_covariate_raises_with_valid_columns(rossi):
    with pytest.raises(MissingColumnError) as info:
        cox_hazards(rossi, covariates=["fin", "salary"], duration_col="week",
                    event_col="arrest")
    assert isinstance(info.value, AnalysisError)
    assert "salary" in info.value.problem and "prio" in info.value.hint


def test_demo_payment_failure_hazard_ratio_recovers_the_planted_value():
    from analysis import demo
    from analysis.survival.covariates import journey_covariates
    from analysis.survival.lifetimes import customer_lifetimes

    events = demo.generate(3000).events
    lifetimes = customer_lifetimes(events, churn_touchpoints=["Cancel subscription"])
    data = lifetimes.merge(journey_covariates(events, top_touchpoints=25), on="customer_id")
    subscribers = data[data["touched: Purchase"] == 1]
    out = cox_hazards(subscribers, covariates=["touched: Payment failed", "segment"])
    row = out.table.set_index("covariate").loc["touched: Payment failed"]
    assert out.status == "ok"
    assert row.ci_low < demo.PAYMENT_FAILURE_HR < row.ci_high and row.ci_low > 1


def _aggregated(seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers with continuous (tie-free) times, and the same rows counted as weights."""
    rng = np.random.default_rng(seed)
    n = 1500
    x = rng.integers(0, 2, n)
    g = rng.choice(["a", "b", "c"], n)
    t = rng.exponential(20 / np.exp(0.7 * x))
    c = rng.uniform(0, 40, n)
    rows = pd.DataFrame({"d": np.round(np.minimum(t, c), 6), "e": t <= c, "x": x, "g": g})
    doubled = pd.concat([rows, rows.iloc[:300]], ignore_index=True)
    counted = doubled.groupby(["d", "e", "x", "g"]).size().rename("w").reset_index()
    return doubled, counted


def test_weights_as_counts_match_the_expanded_rows():
    expanded, counted = _aggregated()
    assert len(counted) < len(expanded)
    plain = cox_hazards(expanded, covariates=["x", "g"], duration_col="d", event_col="e")
    weighted = cox_hazards(counted, covariates=["x", "g"], duration_col="d", event_col="e",
                           weights="w")
    assert weighted.status == "ok"
    # A count of 2 is a tie of two identical rows; lifelines' weighted Efron correction for
    # ties differs from the expanded rows' in the fourth decimal, nothing more.
    columns = ["coef", "hazard_ratio", "ci_low", "ci_high"]
    np.testing.assert_allclose(weighted.table[columns], plain.table[columns], atol=1e-3)
    np.testing.assert_allclose(np.log10(weighted.table["p_value"]),
                               np.log10(plain.table["p_value"]), atol=0.05)
    assert weighted.concordance == pytest.approx(plain.concordance, abs=1e-9)


def test_weighted_concordance_with_unit_weights_is_lifelines():
    from lifelines.utils import concordance_index

    from analysis.survival.cox import weighted_concordance

    rng = np.random.default_rng(3)
    t = np.ceil(rng.exponential(10, 400))  # many ties in time
    e = rng.random(400) < 0.7
    risk = np.round(rng.normal(size=400), 1)  # and in the prediction
    ours = weighted_concordance(t, risk, e, np.ones(400))
    assert ours == pytest.approx(concordance_index(t, -risk, e), abs=1e-12)


def test_weights_must_be_positive():
    _, counted = _aggregated()
    counted.loc[0, "w"] = 0
    with pytest.raises(AnalysisError, match="not positive"):
        cox_hazards(counted, covariates=["x"], duration_col="d", event_col="e", weights="w")
