"""Cox proportional-hazards model of churn: which covariates make customers leave faster.

One row per customer is fitted by :mod:`analysis.survival.efron` (lifelines' algorithm,
vectorised). Text covariates are one-hot encoded against their most frequent value, so each
hazard ratio compares a value with the most common one.
Degenerate data (no churn, too few churns, a constant covariate, perfect separation, a fit
that does not converge) gives a result with ``status="degenerate"`` and a message, never an
exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.frames import to_lazy
from analysis.results import Status
from analysis.schema import MissingColumnError, ParameterError, valid_values
from analysis.stats import adjust_p_values
from analysis.survival.design import code_text, model_matrix, numeric
from analysis.survival.efron import (
    EfronFit,
    FitFailed,
    fit_efron,
    schoenfeld_test,
    weighted_concordance,
)
from analysis.survival.efron import concordance as efron_concordance

TABLE_COLUMNS = ["covariate", "coef", "hazard_ratio", "ci_low", "ci_high", "p_value",
                 "p_adjusted"]
PH_COLUMNS = ["covariate", "p_value"]
#: A coefficient this large (hazard ratio above ~22,000) only comes from separated data.
_MAX_ABS_COEF = 10.0
_PH_ALPHA = 0.05
_NONE = pd.Series(dtype=float)
#: The proportional-hazards check runs on at most this many rows (see _ph_check).
PH_MAX_ROWS = 10_000


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model of churn.

    ``table``: covariate ("column" or "column=value" for one-hot text), coef (log hazard
    ratio), hazard_ratio, ci_low/ci_high (95% CI of the hazard ratio), p_value (Wald test of
    H0: hazard ratio = 1), p_adjusted (Benjamini–Hochberg over the covariates of this model).
    ``concordance``: Harrell's C, the share of comparable pairs whose order of churn the model
    predicts (0.5 is chance). ``ph_test``: covariate, p_value of the Schoenfeld-residual test
    (rank time transform) of H0: the covariate's effect is constant over time; a small p means
    its hazard ratio is an average over a changing effect. ``ph_message``: that in plain words
    ("" when no covariate violates it at p < 0.05). ``n``: rows fitted; ``sampled``: True when
    the fit ran on a random sample of ``max_rows`` rows.
    """

    table: pd.DataFrame
    concordance: float
    ph_test: pd.DataFrame
    ph_message: str
    n: int
    sampled: bool
    status: Status
    message: str


@dataclass(frozen=True)
class CoxFit:
    """A fitted model with the rows it saw, for predictions (the at-risk list).

    ``result``: the :class:`CoxResult`. ``rows``: the complete rows (the requested columns,
    original order, one per customer); ``design``: their model matrix (same index);
    ``coefficients``: log hazard ratio per design column (empty when degenerate);
    ``means``: each design column's mean over the fitted rows (the "average customer");
    ``separated``: the design terms that separate churners perfectly when that made the fit
    degenerate.
    """

    result: CoxResult
    rows: pd.DataFrame
    design: pd.DataFrame
    coefficients: pd.Series
    means: pd.Series
    separated: tuple[str, ...] = ()


def cox_hazards(
    lifetimes: Any,
    *,
    covariates: Sequence[str],
    duration_col: str = "duration_days",
    event_col: str = "churned",
    weights: str | None = None,
    penalizer: float = 0.0,
    max_rows: int | None = None,
    random_state: int = 0,
) -> CoxResult:
    """Fit a Cox proportional-hazards model of churn on per-customer covariates.

    Parameters
    ----------
    lifetimes : pandas, Polars, DuckDB or PySpark frame
        One row per customer: a duration, a churn flag and the covariates (for example
        :func:`customer_lifetimes` joined with :func:`journey_covariates`).
    covariates : sequence of str
        Column names. Numeric and 0/1 (or boolean) columns enter as they are; text columns are
        one-hot encoded against their most frequent value (named "column=value"); a column
        with one value is dropped and the message says so.
    duration_col, event_col : str
        Time to churn or censoring, and whether the lifetime ended in churn.
    weights : str, optional
        A column of positive case weights: how many identical customers a row stands for,
        so aggregated counts fit like the rows they count (tied times use lifelines'
        weighted Efron correction, which can differ from the expanded rows in the fourth
        decimal). Concordance is then weighted too.
    penalizer : float
        L2 penalty on the coefficients (0: the plain partial likelihood); a small value
        (0.01–0.1) helps with many or correlated covariates.
    max_rows : int, optional
        Fit on a random sample of this many rows when there are more (``sampled`` says so).
    random_state : int
        Seed of that sample.

    Returns
    -------
    CoxResult
        Rows with a missing duration, churn flag or covariate are left out, and the message
        says how many. ``n`` is the number of rows fitted, the denominator of every estimate.

    Raises
    ------
    MissingColumnError
        A covariate, duration, churn or weights column the table does not have.
    ParameterError
        No covariates, a negative penalizer, a ``max_rows`` below 2 or weights that are not
        positive.
    """
    return fit_cox(lifetimes, covariates=covariates, duration_col=duration_col,
                   event_col=event_col, weights=weights, penalizer=penalizer,
                   max_rows=max_rows, random_state=random_state).result


def fit_cox(
    lifetimes: Any,
    *,
    covariates: Sequence[str],
    duration_col: str = "duration_days",
    event_col: str = "churned",
    weights: str | None = None,
    penalizer: float = 0.0,
    max_rows: int | None = None,
    random_state: int = 0,
    keep: Sequence[str] = (),
) -> CoxFit:
    """:func:`cox_hazards` that also returns the design and coefficients; ``keep`` names
    extra columns (such as customer_id) carried along in ``rows``."""
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    _check_parameters(covariates, penalizer, max_rows)
    data = _collect(lifetimes, [*covariates, *keep], duration_col, event_col, weights)
    notes: list[str] = []
    # A missing text value is a level of its own; missing numbers leave the row out.
    coded = {c: code_text(data[c]) for c in covariates if not numeric(data[c])}
    for name, text in coded.items():
        data[name] = text.labels()
    checked = [c for c in data.columns if c not in keep and c not in coded]
    present = data[checked].notna().all(axis=1).to_numpy()
    complete = data
    if not present.all():
        complete = data[present]
        coded = {name: text.take(present) for name, text in coded.items()}
    if len(complete) < len(data):
        notes.append(f"{len(data) - len(complete):,} rows with missing values were left out.")
    counts = None if weights is None else _check_weights(complete[weights], weights)
    design, dropped = model_matrix(complete, covariates, coded, counts)
    design.index = complete.index
    if dropped:
        notes.append(f"Left out {', '.join(dropped)}: the same value for every customer.")
    design[duration_col] = complete[duration_col].astype(float)
    design[event_col] = complete[event_col].astype(bool).astype(int)
    if counts is not None:
        design[weights] = counts
    fitted = design
    sampled = max_rows is not None and len(design) > max_rows
    if sampled:
        fitted = design.sample(n=max_rows, random_state=random_state)
        notes.append(f"Fitted on a random sample of {max_rows:,} of {len(data):,} rows.")
    problem = _degenerate_reason(fitted, duration_col, event_col, weights)
    if problem:
        result = _degenerate(" ".join([problem, *notes]), len(fitted), sampled)
        return CoxFit(result, complete, design, pd.Series(dtype=float), pd.Series(dtype=float))
    result, coefficients, separated = _fit(fitted, duration_col, event_col, weights,
                                           penalizer, notes, sampled)
    if separated:
        return CoxFit(result, complete, design, _NONE, _NONE, separated)
    terms = [c for c in design.columns if c not in (duration_col, event_col, weights)]
    return CoxFit(result, complete, design[terms], coefficients, fitted[terms].mean())


def _check_weights(values: pd.Series, name: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    if not (numbers > 0).all():
        raise ParameterError(f"The weights column {name!r} has values that are not positive.",
                             "Use positive numbers (row counts) as weights, or no weights.")
    return numbers


def _check_parameters(covariates: list[str], penalizer: float, max_rows: int | None) -> None:
    if not covariates:
        raise ParameterError("No covariates were given.", "Pass at least one column name.")
    if penalizer < 0:
        raise ParameterError(f"penalizer={penalizer} is negative.", "Use 0 or a small positive "
                             "value such as 0.1.")
    if max_rows is not None and max_rows < 2:
        raise ParameterError(f"max_rows={max_rows} is too small.", "Use None or at least 2.")


def _collect(lifetimes: Any, covariates: list[str], duration_col: str, event_col: str,
             weights: str | None) -> pd.DataFrame:
    """The needed columns as pandas (one row per customer, so small enough)."""
    plain = isinstance(lifetimes, pd.DataFrame) and all(
        isinstance(dtype, np.dtype) for dtype in lifetimes.dtypes)
    frame = None if plain else to_lazy(lifetimes)
    names = list(lifetimes.columns) if plain else frame.collect_schema().names()
    extra = [weights] if weights is not None else []
    wanted = list(dict.fromkeys([duration_col, event_col, *extra, *covariates]))
    missing = [c for c in wanted if c not in names]
    if missing:
        raise MissingColumnError(
            f"The lifetimes have no column(s) {', '.join(map(repr, missing))}.",
            f"Valid columns: {valid_values(names, limit=40)}.",
        )
    if plain:  # numpy columns come back from an engine as they are: no round trip
        data = lifetimes.reindex(columns=wanted)  # a copy: reset_index would copy it again
        return data if data.index.equals(pd.RangeIndex(len(data))) else data.reset_index(
            drop=True)
    return frame.select(wanted).collect().to_pandas()


def _degenerate_reason(design: pd.DataFrame, duration_col: str, event_col: str,
                       weights: str | None) -> str:
    n_covariates = design.shape[1] - (2 if weights is None else 3)
    events = int(design[event_col].sum())
    if len(design) == 0:
        return "No rows to fit."
    if n_covariates == 0:
        return "No covariate varies between customers, so there is nothing to compare."
    if events == 0:
        return "No customer churned, so there is no hazard to model."
    if events <= n_covariates:
        return (f"Only {events} churn(s) for {n_covariates} covariate term(s): too few to "
                "estimate hazard ratios. Use fewer covariates or more data.")
    if (design[duration_col] < 0).any():
        return "Some durations are negative; check the start and end of the lifetimes."
    return ""


def _degenerate(message: str, n: int, sampled: bool) -> CoxResult:
    return CoxResult(
        table=pd.DataFrame(columns=TABLE_COLUMNS), concordance=float("nan"),
        ph_test=pd.DataFrame(columns=PH_COLUMNS), ph_message="", n=n, sampled=sampled,
        status="degenerate", message=message,
    )


def _fit(design: pd.DataFrame, duration_col: str, event_col: str, weights: str | None,
         penalizer: float, notes: list[str],
         sampled: bool) -> tuple[CoxResult, pd.Series, tuple[str, ...]]:
    terms = [c for c in design.columns if c not in (duration_col, event_col, weights)]
    x, time, event, weight = _arrays(design, terms, duration_col, event_col, weights)
    try:
        with np.errstate(all="ignore"):
            fit = fit_efron(x, time, event, weight, penalizer=penalizer)
    except FitFailed as err:
        reason = ("The model did not converge (the covariates may separate churners "
                  f"from the others perfectly, or be collinear): {err}".split("\n")[0])
        return _degenerate(" ".join([reason, *notes]), len(design), sampled), _NONE, ()
    separated = [t for t, coef, se in zip(terms, fit.params, fit.se, strict=True)
                 if abs(coef) > _MAX_ABS_COEF or not np.isfinite(se)]
    if separated:
        reason = (f"{', '.join(separated)} separate(s) churners from the others "
                  "(almost) perfectly, so the hazard ratio is unbounded. Leave it out or "
                  "use a penalizer.")
        return (_degenerate(" ".join([reason, *notes]), len(design), sampled), _NONE,
                tuple(separated))
    ph_test, ph_message = _ph_check(fit, design, terms, duration_col, event_col, weights,
                                    penalizer)
    risk = fit.log_hazard(x)
    if weights is None:
        concordance = efron_concordance(time, np.exp(risk), event)
    else:
        concordance = weighted_concordance(time, risk, event, weight)
    result = CoxResult(
        table=_table(terms, fit), concordance=concordance, ph_test=ph_test,
        ph_message=ph_message, n=len(design), sampled=sampled, status="ok",
        message=" ".join(notes),
    )
    return result, pd.Series(fit.params, index=terms, dtype=float), ()


def _arrays(design: pd.DataFrame, terms: list[str], duration_col: str, event_col: str,
            weights: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """The model matrix, durations, churn flags and weights (None) of the design."""
    weight = None if weights is None else design[weights].to_numpy(dtype=float)
    return (design[terms].to_numpy(dtype=float), design[duration_col].to_numpy(dtype=float),
            design[event_col].to_numpy().astype(bool), weight)


def _table(terms: list[str], fit: EfronFit) -> pd.DataFrame:
    z = sps.norm.ppf(0.975)
    hazard_ratio = np.exp(fit.params)
    with np.errstate(over="ignore"):
        return pd.DataFrame({
            "covariate": terms,
            "coef": fit.params,
            "hazard_ratio": hazard_ratio,
            "ci_low": hazard_ratio * np.exp(-z * fit.se),
            "ci_high": hazard_ratio * np.exp(z * fit.se),
            "p_value": fit.p_values,
            "p_adjusted": adjust_p_values(fit.p_values, "fdr_bh"),
        })


def _ph_check(fit: EfronFit, design: pd.DataFrame, terms: list[str], duration_col: str,
              event_col: str, weights: str | None,
              penalizer: float) -> tuple[pd.DataFrame, str]:
    """Schoenfeld-residual test per covariate and the plain-words verdict.

    Above PH_MAX_ROWS rows the test runs on a model refitted to a random sample of that many
    (as it did when the residuals cost far more than the fit), and the verdict says so.
    """
    sample = ""
    try:
        with np.errstate(all="ignore"):
            if len(design) > PH_MAX_ROWS:
                design = design.sample(n=PH_MAX_ROWS, random_state=0)
                x, time, event, weight = _arrays(design, terms, duration_col, event_col,
                                                 weights)
                fit = fit_efron(x, time, event, weight, penalizer=penalizer)
                sample = f" (checked on a random sample of {PH_MAX_ROWS:,} customers)"
            else:
                x, time, event, weight = _arrays(design, terms, duration_col, event_col,
                                                 weights)
            p = schoenfeld_test(fit, x, time, event, weight)
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
        return pd.DataFrame(columns=PH_COLUMNS), "The proportional-hazards check failed."
    table = pd.DataFrame({"covariate": terms, "p_value": np.asarray(p, dtype=float)})
    violating = table[table["p_value"] < _PH_ALPHA]
    sentences = [
        f"The effect of {row.covariate} changes over time (proportional-hazards check "
        f"{_format_p(row.p_value)}{sample}): read its hazard ratio as an average."
        for row in violating.itertuples()
    ]
    return table, " ".join(sentences)


def _format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
