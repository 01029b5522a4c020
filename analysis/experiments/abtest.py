"""A/B tests on one row per randomised unit: every variant against a control, per metric.

A boolean or 0/1 metric is a proportion (two-proportion z-test), any other numeric metric a
mean (Welch t-test, or Mann–Whitney U on request). CUPED and winsorising reduce the variance
of mean metrics; a sample-ratio-mismatch (SRM) check guards the randomisation itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.frames import to_lazy
from analysis.results import Status
from analysis.schema import MissingColumnError, ParameterError, unknown_values_error, valid_values
from analysis.stats import adjust_p_values, check_alpha, check_correction, mde_mean, mde_proportion

#: SRM is flagged below this p-value (a strict level: a real mismatch gives tiny p-values).
SRM_LEVEL = 0.01
POWER = 0.8
COLUMNS = (
    "metric", "variant", "units", "value", "control_units", "control_value", "difference",
    "ci_low", "ci_high", "relative_lift", "lift_ci_low", "lift_ci_high", "p_value",
    "p_adjusted", "test", "mde", "note",
)


@dataclass(frozen=True)
class ABResult:
    """The outcome of :func:`ab_test`.

    ``table`` has one row per (metric, non-control variant); ``srm_p`` is the chi-square
    p-value of the observed split against the expected one (NaN with one variant), ``srm``
    whether it is below 0.01; ``cuped_reduction`` maps each CUPED metric to the variance
    reduction achieved, 1 − var(adjusted)/var(raw); ``control`` is the variant compared with;
    ``unassigned`` counts units without a variant (left out of every test).
    """

    table: pd.DataFrame
    srm_p: float
    srm: bool
    cuped_reduction: dict[str, float] = field(default_factory=dict)
    control: str | None = None
    unassigned: int = 0
    status: Status = "ok"
    message: str = ""


def ab_test(
    units: Any,
    *,
    variant: str,
    metrics: Sequence[str],
    control: str | None = None,
    correction: str = "holm",
    alpha: float = 0.05,
    expected_split: Mapping[str, float] | None = None,
    cuped: Mapping[str, str] | None = None,
    winsorize: float | None = None,
    rank_test: bool = False,
) -> ABResult:
    """Compare every variant with the control on each metric.

    Parameters
    ----------
    units : pandas, Polars, DuckDB or PySpark frame
        One row per randomised unit (customer). Not modified.
    variant : str
        Column holding the variant each unit was assigned to.
    metrics : sequence of str
        Metric columns. Boolean or 0/1 columns are proportions: H0 p_variant = p_control,
        pooled-SE z-test, unpooled Wald CI of the difference. Other numeric columns are
        means: Welch t-test with a Welch–Satterthwaite CI (both assume enough units per arm
        for the central limit theorem; heavy tails mislead them, see ``winsorize``).
    control : str, optional
        Control variant; default the most frequent one (ties: the first name in sort order).
    correction : {"holm", "fdr_bh", "bonferroni"}
        Adjustment of the p-values over all rows of the table.
    alpha : float
        Level of the tests; intervals have coverage 1 − alpha.
    expected_split : mapping variant → share, optional
        Planned allocation for the SRM check (normalised; default equal shares).
    cuped : mapping metric → pre-period column, optional
        CUPED: y − θ(x − mean x) with θ = cov(y, x)/var(x) pooled over all units, tested
        with Welch. Units missing x are left out of that metric.
    winsorize : float, optional
        A quantile such as 0.99: mean metrics are capped at it (pooled over arms) first.
    rank_test : bool
        Use the Mann–Whitney U p-value for mean metrics (H0: neither arm tends to larger
        values); difference and CI stay the Welch ones on the means.

    Returns
    -------
    ABResult
        ``table`` columns: metric, variant, units (units with a value in this variant),
        value (its share or mean), control_units, control_value, difference (variant −
        control), ci_low, ci_high (of the difference), relative_lift (difference /
        control_value) with lift_ci_low, lift_ci_high (delta method), p_value, p_adjusted,
        test, mde (smallest absolute difference detectable at 80% power with these sizes),
        note (why a row could not be tested, "" otherwise).
    """
    check_correction(correction)
    alpha = check_alpha(alpha)
    metrics, cuped = _check_options(metrics, cuped, winsorize)
    data = _collect(units, variant, metrics, cuped)
    labels = data[variant].dropna()
    counts = labels.value_counts()
    variants = sorted(counts.index)
    if not variants:
        return ABResult(pd.DataFrame(columns=COLUMNS), np.nan, False, status="empty",
                        message="No units with a variant to compare.")
    if control is not None and str(control) not in variants:
        raise unknown_values_error("control variant", [control], variants)
    control = str(control) if control is not None else max(variants, key=lambda v: counts[v])
    srm_p = _srm_p(counts.reindex(variants).to_numpy(), variants, expected_split)
    srm = bool(srm_p < SRM_LEVEL)
    if len(variants) < 2:
        return ABResult(pd.DataFrame(columns=COLUMNS), srm_p, srm, control=control,
                        unassigned=len(data) - len(labels), status="degenerate",
                        message=f"Only one variant ({control}) in the data; nothing to compare.")
    rows, reduction = [], {}
    arms = {v: (data[variant] == v).to_numpy() for v in variants}  # once, not per metric
    for metric in metrics:
        values, test, kind = _prepare(data, metric, cuped, winsorize, rank_test, reduction)
        values = values.to_numpy(dtype=float)
        known = ~np.isnan(values)
        groups = {v: values[arm & known] for v, arm in arms.items()}
        for v in (v for v in variants if v != control):
            rows.append({"metric": metric, "variant": v,
                         **_compare(groups[v], groups[control], kind, test, alpha)})
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "p_adjusted"])
    table.insert(COLUMNS.index("p_adjusted"), "p_adjusted",
                 adjust_p_values(table["p_value"].to_numpy(), correction))
    return ABResult(table, srm_p, srm, reduction, control, len(data) - len(labels),
                    *_status(table))


def _check_options(metrics, cuped, winsorize) -> tuple[list[str], dict[str, str]]:
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(dict.fromkeys(metrics))
    if not metrics:
        raise ParameterError("No metrics given.", "Pass metrics=['converted', ...].")
    cuped = dict(cuped or {})
    stray = [m for m in cuped if m not in metrics]
    if stray:
        raise ParameterError(f"cuped names metrics that are not tested: {', '.join(stray)}.",
                             f"Use keys among the metrics: {', '.join(metrics)}.")
    if winsorize is not None and (isinstance(winsorize, bool)
                                  or not isinstance(winsorize, int | float)
                                  or not 0.5 < winsorize < 1):
        raise ParameterError(f"winsorize must be a quantile between 0.5 and 1, got {winsorize!r}.",
                             "Pass e.g. winsorize=0.99 to cap at the 99th percentile, or None.")
    return metrics, cuped


def _collect(units: Any, variant: str, metrics: list[str], cuped: dict[str, str]) -> pd.DataFrame:
    """The needed columns as pandas, variant labels as text, metrics as floats."""
    lf = None if isinstance(units, pd.DataFrame) else to_lazy(units)
    names = list(units.columns) if lf is None else lf.collect_schema().names()
    needed = list(dict.fromkeys([variant, *metrics, *cuped.values()]))
    missing = [c for c in needed if c not in names]
    if missing:
        raise MissingColumnError(
            f"ab_test needs the column(s) {', '.join(map(str, missing))}; the table has: "
            f"{valid_values(names)}.",
            "Pass variant=, metrics= and cuped= with column names of the units table.",
        )
    # pandas input is read as it is (the round trip through an engine copies every row).
    source = units if lf is None else lf.select(needed).collect().to_pandas()
    data = pd.DataFrame({variant: _as_text(source[variant])}, index=source.index)
    for col in needed[1:]:
        data[col] = _as_float(source[col], col)
    return data.reset_index(drop=True)


def _as_text(labels: pd.Series) -> pd.Series:
    """Variant labels as str (None where missing), without a Python call per label when
    they are text already."""
    labels = labels.astype(object).where(labels.notna(), None)
    if pd.api.types.infer_dtype(labels, skipna=True) in ("string", "empty"):
        return labels
    return labels.map(lambda v: None if v is None else str(v))


def _as_float(column: pd.Series, name: str) -> pd.Series:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
        return column.astype(float)
    if pd.api.types.is_bool_dtype(column) or column.dtype == object:
        column = column.map(lambda v: float(v) if isinstance(v, bool | np.bool_) else v)
    try:
        return pd.to_numeric(column, errors="raise").astype(float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"Metric column {name!r} is not numeric or boolean.",
            "Metrics must be numbers, or true/false (0/1) for conversions.",
        ) from exc


def _srm_p(counts: np.ndarray, variants: list[str], expected: Mapping[str, float] | None) -> float:
    """Chi-square goodness-of-fit p of the observed split (H0: units were assigned with the
    expected shares)."""
    if len(variants) < 2:
        return np.nan
    if expected is None:
        shares = np.full(len(variants), 1 / len(variants))
    else:
        expected = {str(k): v for k, v in expected.items()}
        if sorted(expected) != variants or not all(float(v) > 0 for v in expected.values()):
            raise ParameterError(
                f"expected_split must give a positive share for each variant: "
                f"{', '.join(variants)}; got {expected!r}.",
                "Pass e.g. expected_split={'A': 0.5, 'B': 0.5}.",
            )
        shares = np.array([float(expected[v]) for v in variants])
        shares = shares / shares.sum()
    return float(sps.chisquare(counts, counts.sum() * shares).pvalue)


def _prepare(data, metric, cuped, winsorize, rank_test, reduction):
    """The metric values to test, the test name and the kind ("proportion" or "mean")."""
    y = data[metric]
    observed = y.dropna()
    binary = ((observed.to_numpy() == 0.0) | (observed.to_numpy() == 1.0)).all()
    if metric not in cuped and binary:
        return y, "two-proportion z-test", "proportion"
    if winsorize is not None and len(observed):
        y = y.clip(upper=float(observed.quantile(winsorize)))
    test = "Mann-Whitney U" if rank_test else "Welch t-test"
    if metric in cuped:
        y, reduction[metric] = _cuped(y, data[cuped[metric]])
        test += " (CUPED)"
    return y, test, "mean"


def _cuped(y: pd.Series, x: pd.Series) -> tuple[pd.Series, float]:
    """y − θ(x − mean x) over units with both values, and the variance reduction achieved."""
    both = y.notna() & x.notna()
    yb, xb = y[both], x[both]
    var_x = float(xb.var()) if len(xb) > 1 else np.nan
    if not var_x > 0:
        return y.where(both), 0.0 if len(xb) > 1 else np.nan
    theta = float(np.cov(yb, xb)[0, 1]) / var_x
    adjusted = (y - theta * (x - float(xb.mean()))).where(both)
    var_y = float(yb.var())
    return adjusted, (1 - float(adjusted.var()) / var_y) if var_y > 0 else np.nan


def _compare(t: np.ndarray, c: np.ndarray, kind: str, test: str, alpha: float) -> dict:
    """One row of the table: variant values ``t`` against control values ``c``."""
    n_t, n_c = len(t), len(c)
    row = {"units": n_t, "value": t.mean() if n_t else np.nan, "control_units": n_c,
           "control_value": c.mean() if n_c else np.nan, "test": test, "note": ""}
    nan = dict.fromkeys(("difference", "ci_low", "ci_high", "relative_lift", "lift_ci_low",
                         "lift_ci_high", "p_value", "mde"), np.nan)
    if n_t < 2 or n_c < 2:
        which = "an arm is empty" if min(n_t, n_c) == 0 else "an arm has fewer than 2 units"
        return {**row, **nan, "note": f"Not tested: {which}."}
    if kind == "proportion":
        stats = _ztest(t.mean(), n_t, c.mean(), n_c, alpha)
    else:
        stats = _welch(t, c, alpha, rank="Mann" in test)
    return {**row, **nan, **stats}


def _ztest(p_t: float, n_t: int, p_c: float, n_c: int, alpha: float) -> dict:
    """Two-proportion z-test (pooled SE, H0: equal rates) with an unpooled Wald CI."""
    z_crit = float(sps.norm.ppf(1 - alpha / 2))
    diff = p_t - p_c
    var_t, var_c = p_t * (1 - p_t) / n_t, p_c * (1 - p_c) / n_c
    half = z_crit * np.sqrt(var_t + var_c)
    out = {"difference": diff, "ci_low": diff - half, "ci_high": diff + half,
           "mde": mde_proportion(p_c, n_c, n_t, alpha, POWER),
           **_lift(p_t, var_t, p_c, var_c, z_crit)}
    pooled = (p_t * n_t + p_c * n_c) / (n_t + n_c)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    if se0 == 0:
        return {**out, "note": "Not tested: no variation (every unit has the same value)."}
    return {**out, "p_value": float(2 * sps.norm.sf(abs(diff / se0)))}


def _welch(t: np.ndarray, c: np.ndarray, alpha: float, rank: bool) -> dict:
    """Welch t-test (H0: equal means) with a Welch–Satterthwaite CI; Mann–Whitney U p-value
    instead when ``rank``."""
    n_t, n_c = len(t), len(c)
    var_t, var_c = t.var(ddof=1) / n_t, c.var(ddof=1) / n_c
    diff = t.mean() - c.mean()
    sd_c = float(np.sqrt(c.var(ddof=1)))
    out = {"difference": diff, "mde": mde_mean(sd_c, n_c, n_t, alpha, POWER),
           **_lift(t.mean(), var_t, c.mean(), var_c, float(sps.norm.ppf(1 - alpha / 2)))}
    se = np.sqrt(var_t + var_c)
    if se == 0:
        return {**out, "note": "Not tested: zero variance in both arms."}
    df = (var_t + var_c) ** 2 / (var_t**2 / (n_t - 1) + var_c**2 / (n_c - 1))
    half = float(sps.t.ppf(1 - alpha / 2, df)) * se
    if rank:
        p = float(sps.mannwhitneyu(t, c, alternative="two-sided").pvalue)
    else:
        p = float(2 * sps.t.sf(abs(diff / se), df))
    return {**out, "ci_low": diff - half, "ci_high": diff + half, "p_value": p}


def _lift(m_t: float, var_t: float, m_c: float, var_c: float, z_crit: float) -> dict:
    """Relative lift m_t/m_c − 1 with a delta-method CI (var_* are variances of the means):
    Var ≈ var_t/m_c² + m_t² var_c/m_c⁴. NaN when the control value is 0."""
    if m_c == 0:
        return {}
    lift = m_t / m_c - 1
    half = z_crit * np.sqrt(var_t / m_c**2 + m_t**2 * var_c / m_c**4)
    return {"relative_lift": lift, "lift_ci_low": lift - half, "lift_ci_high": lift + half}


def _status(table: pd.DataFrame) -> tuple[Status, str]:
    """"degenerate" when some row could not be tested, the message naming which and why."""
    notes = [f"{r.metric} / {r.variant}: {r.note}" for r in table.itertuples() if r.note]
    return ("degenerate", " ".join(notes)) if notes else ("ok", "")
