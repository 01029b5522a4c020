"""Difference-in-differences, event study and the per-customer DiD table."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis import demo
from analysis.experiments import did as did_module
from analysis.experiments.did import customer_periods, diff_in_diff
from analysis.experiments.event_study import event_study
from analysis.schema import MissingColumnError, ParameterError, UnknownValueError


def _two_by_two(n: int = 800, effect: float = 0.5, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.4
    post = rng.random(n) < 0.5
    y = 1 + 0.3 * treated + 0.2 * post + effect * treated * post + rng.normal(0, 1 + treated, n)
    return pd.DataFrame({"y": y, "g": treated, "after": post.astype(int),
                         "seg": rng.integers(0, 20, n)})


def _panel(effect: float = 2.0, seed: int = 2, units: int = 40, periods: int = 8,
           pretrend: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(units):
        treated = u < units // 2
        alpha_u = rng.normal(0, 3)
        for t in range(periods):
            post = t >= periods // 2
            y = (alpha_u + 0.5 * t + effect * (treated and post)
                 + pretrend * treated * (t - periods // 2) * (not post) + rng.normal(0, 1))
            rows.append({"unit": f"u{u}", "t": t, "treated": treated, "post": post, "y": y})
    return pd.DataFrame(rows)


def test_plain_did_matches_statsmodels_ols() -> None:
    df = _two_by_two()
    res = diff_in_diff(df, outcome="y", treated="g", post="after")
    ref = smf.ols("y ~ g + after + g:after", data=df.assign(g=df["g"].astype(int))).fit(
        cov_type="HC1")
    assert res.status == "ok" and res.model == "plain"
    assert round(res.estimate, 5) == round(ref.params["g:after"], 5)
    assert round(res.std_error, 5) == round(ref.bse["g:after"], 5)
    assert round(res.p_value, 5) == round(ref.pvalues["g:after"], 5)
    low, high = ref.conf_int().loc["g:after"]
    assert res.ci_low == pytest.approx(low) and res.ci_high == pytest.approx(high)
    assert res.n_obs == len(df)
    means = res.means.set_index(["group", "period"])
    assert means.loc[("treated", "after"), "n"] == int((df["g"] & (df["after"] == 1)).sum())
    changes = means["mean"].unstack()
    manual = ((changes.loc["treated", "after"] - changes.loc["treated", "before"])
              - (changes.loc["control", "after"] - changes.loc["control", "before"]))
    assert res.estimate == pytest.approx(manual)
    assert res.before_after == pytest.approx(changes.loc["treated", "after"]
                                             - changes.loc["treated", "before"])
    assert res.before_after_ci_low < res.before_after < res.before_after_ci_high


def test_cluster_robust_se_matches_statsmodels() -> None:
    df = _two_by_two()
    res = diff_in_diff(df, outcome="y", treated="g", post="after", cluster="seg")
    ref = smf.ols("y ~ g + after + g:after", data=df.assign(g=df["g"].astype(int))).fit(
        cov_type="cluster", cov_kwds={"groups": df["seg"]})
    assert res.std_error == pytest.approx(ref.bse["g:after"], rel=1e-9)
    assert res.p_value == pytest.approx(ref.pvalues["g:after"], rel=1e-9)


def test_twfe_recovers_planted_effect_and_matches_dummy_regression() -> None:
    df = _panel(effect=2.0)
    res = diff_in_diff(df, outcome="y", treated="treated", post="post", unit="unit", time="t",
                       cluster="unit")
    assert res.status == "ok" and res.model == "fixed effects"
    assert res.ci_low < 2.0 < res.ci_high
    ref = smf.ols("y ~ did + C(unit) + C(t)",
                  data=df.assign(did=(df["treated"] & df["post"]).astype(int))).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df["unit"])[0]})
    assert res.estimate == pytest.approx(ref.params["did"], rel=1e-9)
    assert res.std_error == pytest.approx(ref.bse["did"], rel=1e-9)


@pytest.mark.parametrize("cluster", [None, "unit"])
def test_absorbed_unit_effects_equal_dummies(monkeypatch, cluster) -> None:
    df = _panel(effect=1.0, seed=5).sample(frac=0.9, random_state=0)  # unbalanced
    dummies = diff_in_diff(df, outcome="y", treated="treated", post="post", unit="unit",
                           time="t", cluster=cluster)
    monkeypatch.setattr(did_module, "MAX_UNIT_DUMMIES", 0)
    absorbed = diff_in_diff(df, outcome="y", treated="treated", post="post", unit="unit",
                            time="t", cluster=cluster)
    assert absorbed.estimate == pytest.approx(dummies.estimate, rel=1e-9)
    assert absorbed.std_error == pytest.approx(dummies.std_error, rel=1e-9)


def test_no_control_gives_before_after_with_warning() -> None:
    df = _two_by_two()
    df = df[df["g"]]
    res = diff_in_diff(df, outcome="y", treated="g", post="after")
    assert res.status == "ok"
    assert "not a causal effect" in res.message
    assert np.isnan(res.estimate) and np.isnan(res.ci_low) and np.isnan(res.p_value)
    expected = df.loc[df["after"] == 1, "y"].mean() - df.loc[df["after"] == 0, "y"].mean()
    assert res.before_after == pytest.approx(expected)
    assert res.before_after_ci_low < res.before_after < res.before_after_ci_high


def test_pandas_and_duckdb_input_agree() -> None:
    df = _two_by_two()
    a = diff_in_diff(df, outcome="y", treated="g", post="after", cluster="seg")
    rel = duckdb.connect().from_df(df)
    b = diff_in_diff(rel, outcome="y", treated="g", post="after", cluster="seg")
    assert (a.estimate, a.std_error, a.p_value) == pytest.approx(
        (b.estimate, b.std_error, b.p_value), rel=1e-12)
    pd.testing.assert_frame_equal(a.means, b.means)


@pytest.mark.parametrize(
    ("frame", "status", "words"),
    [
        (pd.DataFrame({"y": [1.0, 2, 3, 4], "g": [1, 0, 1, 0], "after": [1, 1, 1, 1]}),
         "degenerate", "no rows before"),
        (pd.DataFrame({"y": [1.0, 2, 3, 4], "g": [1, 0, 1, 0], "after": [0, 0, 0, 0]}),
         "degenerate", "no rows after"),
        (pd.DataFrame({"y": [1.0] * 8, "g": [1, 0] * 4, "after": [0, 0, 1, 1] * 2}),
         "degenerate", "does not vary"),
        (pd.DataFrame({"y": [1.0, 2, 3, 4], "g": [1, 0, 1, 0], "after": [0, 0, 1, 1]}),
         "degenerate", "too few"),
        (pd.DataFrame({"y": [1.0, 2, 3, 4], "g": [0, 0, 0, 0], "after": [0, 0, 1, 1]}),
         "degenerate", "no treated"),
        (pd.DataFrame({"y": pd.Series([], dtype=float), "g": pd.Series([], dtype=int),
                       "after": pd.Series([], dtype=int)}), "empty", "No rows"),
    ],
)
def test_degenerate_cases_return_a_status(frame, status, words) -> None:
    res = diff_in_diff(frame, outcome="y", treated="g", post="after")
    assert res.status == status
    assert words in res.message
    assert np.isnan(res.estimate)


def test_bad_input_raises_with_hints() -> None:
    df = _two_by_two()
    with pytest.raises(MissingColumnError, match=r"nope.*the table has y, g, after"):
        diff_in_diff(df, outcome="nope", treated="g", post="after")
    with pytest.raises(ParameterError, match="true/false or 0/1"):
        diff_in_diff(df.assign(g="yes"), outcome="y", treated="g", post="after")
    with pytest.raises(ParameterError, match="alpha"):
        diff_in_diff(df, outcome="y", treated="g", post="after", alpha=1.5)


def test_missing_values_are_counted_not_silently_dropped() -> None:
    df = _two_by_two()
    df.loc[:4, "y"] = np.nan
    res = diff_in_diff(df, outcome="y", treated="g", post="after")
    assert res.n_obs == len(df) - 5 and "5 rows with missing values" in res.message


def test_event_study_flags_diverging_pretrends_only() -> None:
    parallel = event_study(_panel(effect=2.0, pretrend=0.0), outcome="y", treated="treated",
                           time="t", change=4, unit="unit", cluster="unit", leads=3, lags=3)
    diverging = event_study(_panel(effect=2.0, pretrend=1.0), outcome="y", treated="treated",
                            time="t", change=4, unit="unit", cluster="unit", leads=3, lags=3)
    assert parallel.status == "ok" and parallel.pretrend_warning == ""
    assert parallel.pretrend_p > 0.05
    assert diverging.pretrend_p < 0.05
    assert diverging.pretrend_warning.startswith("Before the change the treated group")
    table = parallel.table.set_index("relative_period")
    assert list(table.index) == [-3, -2, -1, 0, 1, 2, 3]
    assert table.loc[-1, "estimate"] == 0.0
    for k in range(4):
        assert table.loc[k, "ci_low"] < 2.0 < table.loc[k, "ci_high"]


def test_event_study_accepts_dates_binned_to_months() -> None:
    df = _panel(effect=2.0)
    df["month"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(df["t"] * 31, unit="D")
    by_date = event_study(df, outcome="y", treated="treated", time="month",
                          change=pd.Timestamp("2025-05-10"), unit="unit", leads=2, lags=2)
    by_int = event_study(df, outcome="y", treated="treated", time="t", change=4, unit="unit",
                         leads=2, lags=2)
    pd.testing.assert_frame_equal(by_date.table, by_int.table)


def test_event_study_degenerate_and_bad_window() -> None:
    df = _panel()
    res = event_study(df[df["treated"]], outcome="y", treated="treated", time="t", change=4)
    assert res.status == "degenerate" and "no control" in res.message
    with pytest.raises(ParameterError, match="leads"):
        event_study(df, outcome="y", treated="treated", time="t", change=4, leads=0)


def test_demo_planted_effect_is_recovered() -> None:
    data = demo.load()
    table = customer_periods(data.events, conversion="Purchase",
                             change_date=demo.CHANGE_DATE, treated_column="region",
                             treated_values=[demo.TREATED_REGION])
    assert len(table) == data.events["customer_id"].nunique()
    assert list(table.columns) == ["customer_id", "first_seen", "period", "converted",
                                   "treated", "post"]
    res = diff_in_diff(table, outcome="converted", treated="treated", post="post")
    assert res.status == "ok"
    assert res.ci_low < demo.DID_EFFECT < res.ci_high
    realized = data.ground_truth["diff_in_diff"]["realized_effect"]
    assert res.estimate == pytest.approx(realized, abs=1e-3)


def test_customer_periods_rejects_unknown_values() -> None:
    events = demo.load().events.head(200)
    with pytest.raises(UnknownValueError, match="Purchse"):
        customer_periods(events, conversion="Purchse", change_date=demo.CHANGE_DATE,
                         treated_column="region", treated_values=["North"])
    with pytest.raises(MissingColumnError):
        customer_periods(events, conversion="Purchase", change_date=demo.CHANGE_DATE,
                         treated_column="area", treated_values=["North"])
