"""The numpy Efron fit against lifelines' CoxPHFitter (the reference implementation): the
coefficients, standard errors, p-values, the Schoenfeld test and Harrell's C, with tied times,
weights and a penalizer."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import concordance_index

from analysis.survival.efron import FitFailed, concordance, fit_efron, schoenfeld_test

ROSSI = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


def _tied(seed: int = 0, n: int = 1500) -> pd.DataFrame:
    """Whole-day durations (many ties, tied churns and censorings), binary, count and
    continuous covariates, and integer weights."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.integers(0, 2, n), "b": rng.normal(size=n),
                       "c": rng.integers(0, 4, n)})
    df["t"] = np.ceil(rng.exponential(10 / np.exp(0.5 * df["a"] - 0.2 * df["b"])))
    df["e"] = (rng.random(n) < 0.7).astype(int)
    df["w"] = rng.integers(1, 4, n).astype(float)
    return df


CASES = {
    "rossi": (load_rossi(), ROSSI, "week", "arrest", None, 0.0),
    "rossi_penalized": (load_rossi(), ROSSI, "week", "arrest", None, 0.01),
    "ties": (_tied(), ["a", "b", "c"], "t", "e", None, 0.0),
    "ties_weighted_penalized": (_tied(1), ["a", "b", "c"], "t", "e", "w", 0.05),
}


def _lifelines(df, covariates, duration, event, weights, penalizer):
    columns = [*covariates, duration, event, *([weights] if weights else [])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = CoxPHFitter(penalizer=penalizer).fit(df[columns], duration, event,
                                                      weights_col=weights)
        ph = proportional_hazard_test(fitter, df[columns], time_transform="rank")
    return fitter, ph.summary["p"].reindex(covariates).to_numpy()


def _ours(df, covariates, duration, event, weights, penalizer):
    x = df[covariates].to_numpy(dtype=float)
    time, flag = df[duration].to_numpy(dtype=float), df[event].to_numpy().astype(bool)
    weight = None if weights is None else df[weights].to_numpy(dtype=float)
    fit = fit_efron(x, time, flag, weight, penalizer=penalizer)
    return fit, schoenfeld_test(fit, x, time, flag, weight)


@pytest.mark.parametrize("case", list(CASES))
def test_fit_matches_lifelines(case):
    fitter, ph = _lifelines(*CASES[case])
    fit, ours_ph = _ours(*CASES[case])
    summary = fitter.summary
    assert fit.converged
    np.testing.assert_allclose(fit.params, summary["coef"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.se, summary["se(coef)"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.p_values, summary["p"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.variance, fitter.variance_matrix_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours_ph, ph, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.means, fitter._norm_mean, rtol=1e-12)


@pytest.mark.parametrize("case", ["rossi", "ties"])
def test_concordance_matches_lifelines(case):
    fitter, _ = _lifelines(*CASES[case])
    df, covariates, duration, event, _, _ = CASES[case]
    fit, _ = _ours(*CASES[case])
    risk = np.exp(fit.log_hazard(df[covariates].to_numpy(dtype=float)))
    ours = concordance(df[duration].to_numpy(dtype=float), risk, df[event].to_numpy() == 1)
    assert ours == pytest.approx(fitter.concordance_index_, abs=1e-12)


def test_concordance_with_ties_in_time_and_risk_is_lifelines():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 400, 1025):
        t = np.ceil(rng.exponential(10, n))
        e = rng.random(n) < 0.7
        e[0] = True
        risk = np.round(rng.normal(size=n), 1)
        expected = concordance_index(t, -risk, e) if n > 1 else np.nan
        assert concordance(t, risk, e) == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_collinear_columns_fail_cleanly():
    df = _tied()
    x = np.column_stack([df["a"], df["a"] * 2.0, df["b"]])
    with pytest.raises(FitFailed):
        fit_efron(x, df["t"].to_numpy(float), df["e"].to_numpy() == 1)
