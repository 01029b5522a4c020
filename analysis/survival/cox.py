"""Cox proportional-hazards model of churn: which covariates make customers leave faster.

Only one row per customer reaches lifelines. Text covariates are one-hot encoded against their
most frequent value, so each hazard ratio compares a value with the most common one.
Degenerate data (no churn, too few churns, a constant covariate, perfect separation, a fit
that does not converge) gives a result with ``status="degenerate"`` and a message, never an
exception.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.frames import to_lazy
from analysis.results import Status
from analysis.schema import MissingColumnError, ParameterError, valid_values
from analysis.stats import adjust_p_values

TABLE_COLUMNS = ["covariate", "coef", "hazard_ratio", "ci_low", "ci_high", "p_value",
                 "p_adjusted"]
PH_COLUMNS = ["covariate", "p_value"]
#: A coefficient this large (hazard ratio above ~22,000) only comes from separated data.
_MAX_ABS_COEF = 10.0
_PH_ALPHA = 0.05


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


def cox_hazards(
    lifetimes: Any,
    *,
    covariates: Sequence[str],
    duration_col: str = "duration_days",
    event_col: str = "churned",
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
        A covariate, duration or churn column the table does not have.
    ParameterError
        No covariates, a negative penalizer or a ``max_rows`` below 2.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    _check_parameters(covariates, penalizer, max_rows)
    data = _collect(lifetimes, covariates, duration_col, event_col)
    notes: list[str] = []
    complete = data.dropna()
    if len(complete) < len(data):
        notes.append(f"{len(data) - len(complete):,} rows with missing values were left out.")
    sampled = max_rows is not None and len(complete) > max_rows
    if sampled:
        complete = complete.sample(n=max_rows, random_state=random_state)
        notes.append(f"Fitted on a random sample of {max_rows:,} of {len(data):,} rows.")
    design, dropped = _design(complete, covariates)
    if dropped:
        notes.append(f"Left out {', '.join(dropped)}: the same value for every customer.")
    design[duration_col] = complete[duration_col].astype(float).to_numpy()
    design[event_col] = complete[event_col].astype(bool).astype(int).to_numpy()
    problem = _degenerate_reason(design, duration_col, event_col)
    if problem:
        return _degenerate(" ".join([problem, *notes]), len(design), sampled)
    return _fit(design, duration_col, event_col, penalizer, notes, sampled)


def _check_parameters(covariates: list[str], penalizer: float, max_rows: int | None) -> None:
    if not covariates:
        raise ParameterError("No covariates were given.", "Pass at least one column name.")
    if penalizer < 0:
        raise ParameterError(f"penalizer={penalizer} is negative.", "Use 0 or a small positive "
                             "value such as 0.1.")
    if max_rows is not None and max_rows < 2:
        raise ParameterError(f"max_rows={max_rows} is too small.", "Use None or at least 2.")


def _collect(lifetimes: Any, covariates: list[str], duration_col: str,
             event_col: str) -> pd.DataFrame:
    """The needed columns as pandas (one row per customer, so small enough)."""
    frame = to_lazy(lifetimes)
    names = frame.collect_schema().names()
    wanted = list(dict.fromkeys([duration_col, event_col, *covariates]))
    missing = [c for c in wanted if c not in names]
    if missing:
        raise MissingColumnError(
            f"The lifetimes have no column(s) {', '.join(map(repr, missing))}.",
            f"Valid columns: {valid_values(names, limit=40)}.",
        )
    return frame.select(wanted).collect().to_pandas()


def _design(data: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The model matrix: numeric columns as they are, text one-hot against its mode."""
    columns: dict[str, np.ndarray] = {}
    dropped = []
    for name in covariates:
        values = data[name]
        if values.nunique(dropna=True) <= 1:
            dropped.append(name)
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            columns[name] = values.astype(float).to_numpy()
        else:
            text = values.astype(str)
            counts = text.value_counts()
            # The most frequent value is the reference; ties go to the first name in order.
            reference = min(counts.index[counts == counts.max()])
            for level in sorted(set(counts.index) - {reference}):
                columns[f"{name}={level}"] = (text == level).astype(float).to_numpy()
    return pd.DataFrame(columns, index=range(len(data))), dropped


def _degenerate_reason(design: pd.DataFrame, duration_col: str, event_col: str) -> str:
    n_covariates = design.shape[1] - 2
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


def _fit(design: pd.DataFrame, duration_col: str, event_col: str, penalizer: float,
         notes: list[str], sampled: bool) -> CoxResult:
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    fitter = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fitter.fit(design, duration_col=duration_col, event_col=event_col)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as err:
            reason = ("The model did not converge (the covariates may separate churners "
                      f"from the others perfectly, or be collinear): {err}".split("\n")[0])
            return _degenerate(" ".join([reason, *notes]), len(design), sampled)
    summary = fitter.summary
    separated = summary.index[(summary["coef"].abs() > _MAX_ABS_COEF)
                              | ~np.isfinite(summary["se(coef)"])].tolist()
    if separated:
        reason = (f"{', '.join(map(str, separated))} separate(s) churners from the others "
                  "(almost) perfectly, so the hazard ratio is unbounded. Leave it out or "
                  "use a penalizer.")
        return _degenerate(" ".join([reason, *notes]), len(design), sampled)
    ph_test, ph_message = _ph_check(fitter, design)
    return CoxResult(
        table=_table(summary), concordance=float(fitter.concordance_index_), ph_test=ph_test,
        ph_message=ph_message, n=len(design), sampled=sampled, status="ok",
        message=" ".join(notes),
    )


def _table(summary: pd.DataFrame) -> pd.DataFrame:
    p = summary["p"].to_numpy(dtype=float)
    return pd.DataFrame({
        "covariate": summary.index.astype(str),
        "coef": summary["coef"].to_numpy(dtype=float),
        "hazard_ratio": summary["exp(coef)"].to_numpy(dtype=float),
        "ci_low": summary["exp(coef) lower 95%"].to_numpy(dtype=float),
        "ci_high": summary["exp(coef) upper 95%"].to_numpy(dtype=float),
        "p_value": p,
        "p_adjusted": adjust_p_values(p, "fdr_bh"),
    })


def _ph_check(fitter: Any, design: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Schoenfeld-residual test per covariate and the plain-words verdict."""
    from lifelines.statistics import proportional_hazard_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            test = proportional_hazard_test(fitter, design, time_transform="rank")
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return pd.DataFrame(columns=PH_COLUMNS), "The proportional-hazards check failed."
    summary = test.summary
    table = pd.DataFrame({"covariate": summary.index.astype(str),
                          "p_value": summary["p"].to_numpy(dtype=float)})
    order = {name: i for i, name in enumerate(fitter.params_.index.astype(str))}
    table = table.sort_values("covariate", key=lambda s: s.map(order)).reset_index(drop=True)
    violating = table[table["p_value"] < _PH_ALPHA]
    sentences = [
        f"The effect of {row.covariate} changes over time (proportional-hazards check "
        f"{_format_p(row.p_value)}): read its hazard ratio as an average."
        for row in violating.itertuples()
    ]
    return table, " ".join(sentences)


def _format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
