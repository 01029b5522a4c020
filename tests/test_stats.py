"""analysis.stats against statsmodels and scipy: one tested implementation of each statistic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis import stats
from analysis.schema import ParameterError


@pytest.mark.parametrize(("x", "n"), [(0, 10), (3, 10), (10, 10), (512, 1000), (1, 3)])
def test_wilson_matches_statsmodels(x, n):
    low, high = stats.wilson_interval([x], [n])
    expected = proportion_confint(x, n, method="wilson")
    assert (low[0], high[0]) == pytest.approx(expected, abs=1e-12)


def test_wilson_is_nan_without_units():
    low, high = stats.wilson_interval([0], [0])
    assert np.isnan(low[0]) and np.isnan(high[0])


@pytest.mark.parametrize(("xa", "na", "xb", "nb"), [(56, 70, 48, 80), (9, 10, 3, 10),
                                                     (0, 25, 4, 30)])
def test_newcombe_matches_statsmodels(xa, na, xb, nb):
    expected = confint_proportions_2indep(xa, na, xb, nb, method="newcomb", compare="diff")
    assert stats.newcombe_interval(xa, na, xb, nb) == pytest.approx(expected, abs=1e-10)


def test_newcombe_published_example():
    # Newcombe (1998), Table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339 (method 10).
    low, high = stats.newcombe_interval(56, 70, 48, 80)
    assert round(low, 4) == 0.0524 and round(high, 4) == 0.3339


def test_chi_square_when_expected_counts_are_large():
    table = [[120, 80], [90, 110]]
    test, p = stats.contingency_test(table)
    assert test == "chi-square"
    assert p == pytest.approx(sps.chi2_contingency(table, correction=False)[1])


def test_fisher_for_small_two_by_two():
    table = [[3, 1], [1, 3]]
    test, p = stats.contingency_test(table)
    assert test == "Fisher exact"
    assert p == pytest.approx(sps.fisher_exact(table)[1])


def test_small_larger_tables_are_not_tested():
    test, p = stats.contingency_test([[3, 1, 2], [1, 4, 2]])
    assert test.startswith("not tested (too few") and np.isnan(p)


def test_no_variation_is_not_tested():
    test, p = stats.contingency_test([[10, 0], [20, 0]])
    assert test.startswith("not tested") and np.isnan(p)


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "bonferroni"])
def test_adjustment_matches_statsmodels_and_skips_untested(method):
    p = np.array([0.01, np.nan, 0.04, 0.03, np.nan, 0.2])
    out = stats.adjust_p_values(p, method)
    tested = ~np.isnan(p)
    assert np.isnan(out[~tested]).all()
    np.testing.assert_allclose(out[tested], multipletests(p[tested], method=method)[1])


def test_parameters_are_checked_with_the_valid_values():
    with pytest.raises(ParameterError, match="holm, fdr_bh, bonferroni"):
        stats.check_correction("sidak")
    for alpha in (0, 1, 1.5, "0.05", True):
        with pytest.raises(ParameterError, match="between 0 and 1"):
            stats.check_alpha(alpha)
    assert stats.check_alpha(0.05) == 0.05
    with pytest.raises(ParameterError, match="week, month"):
        stats.check_period("day")


def test_week_periods_start_on_monday():
    import narwhals as nw
    import polars as pl

    times = pl.DataFrame({"t": pd.to_datetime(["2025-01-05 23:00", "2025-01-06 00:00",
                                               "2025-03-01 00:00"])})
    keys = nw.from_native(times).select(stats.period_key("t", "week").alias("k")).to_pandas()
    starts = stats.period_start(keys["k"], "week")
    assert [d.strftime("%Y-%m-%d %a") for d in starts] == [
        "2024-12-30 Mon", "2025-01-06 Mon", "2025-02-24 Mon"]


def test_holm_matches_statsmodels_with_ties_and_nans():
    from statsmodels.stats.multitest import multipletests

    from analysis.stats import adjust_p_values

    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.random(int(rng.integers(1, 30))) ** 3
        p[rng.random(len(p)) < 0.2] = p[0]  # ties
        np.testing.assert_allclose(adjust_p_values(p, "holm"),
                                   multipletests(p, method="holm")[1], rtol=1e-12)
    with_nan = np.array([0.01, np.nan, 0.04])
    np.testing.assert_allclose(adjust_p_values(with_nan, "holm"), [0.02, np.nan, 0.04])
