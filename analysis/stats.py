"""Statistics used in more than one place, each implemented once and tested once.

Wilson and Newcombe intervals, the chi-square-or-Fisher test of a contingency table, p-value
adjustment for many tests, and the calendar origin of weekly periods. Every function takes
counts (never raw rows), so the heavy counting stays in the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis.schema import ParameterError

Z95 = 1.959963984540054
#: The score definitions every KPI uses (Home, feedback, experiments): NPS promoters answer
#: 9–10 and detractors 0–6; a CSAT answer of 4 or 5 (of 5) is satisfied.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
SATISFIED_MIN = 4
#: Expected counts below this make the chi-square approximation unreliable (Cochran's rule).
MIN_EXPECTED = 5.0

Correction = Literal["holm", "fdr_bh", "bonferroni"]
CORRECTIONS: tuple[str, ...] = ("holm", "fdr_bh", "bonferroni")

Period = Literal["week", "month"]
PERIODS: tuple[str, ...] = ("week", "month")
#: Weeks start on Monday; 1969-12-29 is the Monday before the Unix epoch.
WEEK_ORIGIN = datetime(1969, 12, 29)


# --------------------------------------------------------------------------- validation


def check_alpha(alpha: float) -> float:
    """``alpha`` itself when it is a probability strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ParameterError(
            f"alpha must be a number between 0 and 1 (exclusive), got {alpha!r}.",
            "The usual choice is alpha=0.05.",
        )
    return float(alpha)


def check_correction(correction: str) -> str:
    """``correction`` itself when it names a supported adjustment."""
    if correction not in CORRECTIONS:
        raise ParameterError(
            f"Unknown p-value correction {correction!r}.",
            f"Use one of {', '.join(CORRECTIONS)} (holm controls the family-wise error rate, "
            "fdr_bh the false discovery rate).",
        )
    return correction


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ParameterError(f"Unknown period {period!r}.", f"Use one of {', '.join(PERIODS)}.")
    return period


# --------------------------------------------------------------------------- intervals


def wilson_interval(
    successes: np.ndarray | Sequence[float], n: np.ndarray | Sequence[float], z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for binomial proportions (95% by default; NaN where n is 0).

    Unlike the Wald interval it stays inside [0, 1] and keeps its coverage near 0 and 1.
    """
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(n > 0, centre - half, np.nan)
    high = np.where(n > 0, centre + half, np.nan)
    return low, high


def nps_interval(
    promoters: float, detractors: float, n: float, z: float = Z95
) -> tuple[float, float]:
    """Adjusted-Wald interval of the NPS, in points (Rocks 2016, The American Statistician).

    Adds 3/4 of an answer to promoters and to detractors (3 answers in all, the rest to
    passives), then uses the variance of a difference of two multinomial shares,
    (p_P + p_D − (p_P − p_D)²) / n. Best coverage of the methods Rocks compared, also near
    ±100 where the plain Wald interval collapses to a point. NaN when n is 0.
    """
    if n <= 0:
        return np.nan, np.nan
    n_adj = n + 3
    p_p, p_d = (promoters + 0.75) / n_adj, (detractors + 0.75) / n_adj
    centre = p_p - p_d
    half = z * np.sqrt((p_p + p_d - centre**2) / n_adj)
    return 100 * max(centre - half, -1.0), 100 * min(centre + half, 1.0)


def newcombe_interval(
    x_a: float, n_a: float, x_b: float, n_b: float, z: float = Z95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for the difference of two proportions p_a − p_b.

    Built from the two Wilson intervals (Newcombe 1998, method 10); NaN when a group is empty.
    """
    if n_a <= 0 or n_b <= 0:
        return np.nan, np.nan
    p_a, p_b = x_a / n_a, x_b / n_b
    (l_a,), (u_a,) = wilson_interval([x_a], [n_a], z)
    (l_b,), (u_b,) = wilson_interval([x_b], [n_b], z)
    d = p_a - p_b
    low = d - np.sqrt((p_a - l_a) ** 2 + (u_b - p_b) ** 2)
    high = d + np.sqrt((u_a - p_a) ** 2 + (p_b - l_b) ** 2)
    return float(low), float(high)


# --------------------------------------------------------------------------- tests


def contingency_test(table: np.ndarray | Sequence[Sequence[int]]) -> tuple[str, float]:
    """Test independence of rows and columns of a contingency table of counts.

    H0: the rows share one distribution over the columns (for a 2×k table of reached / not
    reached per group: every group converts at the same rate). Pearson's chi-square is used
    when every expected count is at least 5; otherwise Fisher's exact test for a 2×2 table,
    and no test for larger tables (the approximation would mislead).

    Returns
    -------
    (test, p_value): test is "chi-square", "Fisher exact", "not tested (too few: expected
    count below 5)" or "not tested (no variation)"; p_value is NaN when not tested.
    """
    table = np.asarray(table, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.ndim != 2 or min(table.shape) < 2:
        return "not tested (no variation)", np.nan
    expected = sps.contingency.expected_freq(table)
    if (expected >= MIN_EXPECTED).all():
        return "chi-square", float(sps.chi2_contingency(table, correction=False)[1])
    if table.shape == (2, 2):
        return "Fisher exact", float(sps.fisher_exact(table.astype(int))[1])
    return "not tested (too few: expected count below 5)", np.nan


def adjust_p_values(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """p-values adjusted for the number of tests actually run (NaN entries stay NaN and do not
    count as tests)."""
    check_correction(method)
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        out[tested] = (_holm(p[tested]) if method == "holm"
                       else multipletests(p[tested], method=method)[1])
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment, as statsmodels' multipletests (which runs a full garbage
    collection on every call, 70 ms each)."""
    order = np.argsort(p, kind="stable")
    steps = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.minimum(np.maximum.accumulate(steps), 1.0)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


# --------------------------------------------------------------------------- periods


def period_key(column: str, period: str, lf: nw.LazyFrame | None = None) -> nw.Expr:
    """An expression giving the period an event time falls in: the month's first day, or the
    number of whole weeks since :data:`WEEK_ORIGIN` (portable where SQL engines lack week
    truncation). Turn keys into dates with :func:`period_start`.

    Pass the frame ``lf`` the expression runs on: Narwhals has no duration arithmetic on
    Spark, so there weeks are counted from the epoch time of ``column``."""
    check_period(period)
    if period == "month":
        return nw.col(column).dt.truncate("1mo")
    if lf is not None and lf.implementation.is_spark_like():
        from analysis.frames import epoch_micros

        origin = int((WEEK_ORIGIN - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
        dtype = lf.collect_schema()[column]
        return (epoch_micros(column, dtype) - origin) // (7 * 86_400 * 1_000_000)
    return (nw.col(column) - nw.lit(WEEK_ORIGIN)).dt.total_seconds() // (7 * 86_400)


def period_start(keys: pd.Series, period: str) -> pd.Series:
    """The start date of each period key made by :func:`period_key`."""
    if period == "month":
        return pd.to_datetime(keys)
    return pd.Timestamp(WEEK_ORIGIN) + pd.to_timedelta(keys.astype(float) * 7, unit="D")


# --------------------------------------------------------------------------- power


def _z_sum(alpha: float, power: float) -> float:
    """z_{1−α/2} + z_{power}: the distance, in standard errors, between H0 and the smallest
    effect a two-sided test at level ``alpha`` detects with probability ``power``."""
    check_alpha(alpha)
    if isinstance(power, bool) or not isinstance(power, int | float) or not 0 < power < 1:
        raise ParameterError(
            f"power must be a number between 0 and 1 (exclusive), got {power!r}.",
            "The usual choice is power=0.8.",
        )
    return float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ParameterError(f"{name} must be a positive number, got {value!r}.",
                             f"Pass {name} as a number above 0.")
    return float(value)


def mde_mean(
    sd: float, n_a: float, n_b: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Minimum detectable absolute difference of two means (two-sided normal approximation).

    ``sd`` is the standard deviation of the metric (taken equal in both groups), ``n_a`` and
    ``n_b`` the group sizes: MDE = (z_{1−α/2} + z_power) · sd · √(1/n_a + 1/n_b). The rejection
    region on the far side is ignored (it adds under 1e-6 to the power at the usual settings).
    NaN when a group has no units or ``sd`` is not positive.
    """
    z = _z_sum(alpha, power)
    if not (n_a > 0 and n_b > 0 and sd > 0):
        return np.nan
    return float(z * sd * np.sqrt(1 / n_a + 1 / n_b))


def mde_proportion(
    p: float, n_a: float, n_b: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Minimum detectable absolute difference of two proportions around a baseline ``p``.

    Uses the baseline variance p(1 − p) in both groups: MDE = (z_{1−α/2} + z_power) ·
    √(p(1 − p)(1/n_a + 1/n_b)). NaN when p is 0 or 1 or a group is empty.
    """
    if not 0 < p < 1:
        _z_sum(alpha, power)
        return np.nan
    return mde_mean(float(np.sqrt(p * (1 - p))), n_a, n_b, alpha, power)


def sample_size_mean(sd: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Units per group (two equal groups, two-sided test) needed to detect an absolute
    difference ``mde`` of means with standard deviation ``sd``:
    n = 2 · ((z_{1−α/2} + z_power) · sd / mde)², rounded up."""
    z = _z_sum(alpha, power)
    sd = _check_positive("sd", sd)
    mde = _check_positive("mde", abs(mde) if isinstance(mde, int | float) else mde)
    return int(np.ceil(2 * (z * sd / mde) ** 2))


def sample_size_proportion(p: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Units per group (two equal groups, two-sided test) needed to detect an absolute change
    ``mde`` of a proportion whose baseline is ``p`` (baseline variance p(1 − p) in both
    groups, as in :func:`mde_proportion`)."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 1:
        raise ParameterError(f"p must be a proportion strictly between 0 and 1, got {p!r}.",
                             "Pass the baseline conversion rate, e.g. p=0.1.")
    return sample_size_mean(float(np.sqrt(p * (1 - p))), mde, alpha, power)
