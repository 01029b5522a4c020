"""Who is about to leave: the lifetimes joined with their journey covariates, a Cox model of
churn on them, and the active customers ranked by their predicted hazard with the reasons.

The covariates of a model fitted "as of" a date come only from what happened up to that date,
so an earlier ``as_of`` gives an honest test of the ranking on what happened next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical, materialize
from analysis.results import Status
from analysis.survival.covariates import TOUCHED_PREFIX, journey_covariates
from analysis.survival.cox import CoxFit, CoxResult, fit_cox
from analysis.survival.lifetimes import customer_lifetimes, lifetimes_from_starts
from analysis.survival.population import population as population_from
from analysis.survival.population import start_keys

AT_RISK_COLUMNS = ["customer_id", "risk_rank", "relative_hazard", "duration_days", "reasons"]
#: Fits above this many customers run on a random sample of it (the page says so).
MAX_FIT_ROWS = 50_000
_MAX_REFITS = 4
_LABELS = {
    "first_channel": "First channel",
    "first_touchpoint": "First touchpoint",
    "n_channels": "Channels used",
    "mean_score": "Mean feedback score",
}


@dataclass(frozen=True)
class AtRiskResult:
    """Active customers ranked by predicted churn hazard.

    ``table``: customer_id, risk_rank (1 = highest hazard), relative_hazard (the customer's
    hazard relative to the average fitted customer: 2.0 means twice as likely to churn at any
    moment), duration_days (time as a customer so far), reasons (up to three covariates that
    raise this customer's hazard the most, with the factor each contributes). ``model``: the
    Cox fit the ranking comes from.
    """

    table: pd.DataFrame
    model: CoxResult
    status: Status
    message: str


def churn_table(
    events: Any,
    *,
    churn_touchpoints: Sequence[str] | None = None,
    inactivity_days: float | None = None,
    as_of: Any = None,
    feedback: Any = None,
    start_at: Sequence[str] = (),
    baseline: bool | None = None,
    top_touchpoints: int = 15,
) -> pd.DataFrame:
    """Each customer's lifetime with the covariates known by ``as_of``.

    :func:`customer_lifetimes` joined with :func:`journey_covariates` computed on the events
    (and feedback) up to ``as_of`` only; churn touchpoints get no "touched" flag.
    ``start_at``: touchpoints that start the lifetime (see :func:`from_first`); only customers
    who had one are kept, and what they did before it still counts as a covariate (a failed
    payment before the purchase, the first channel).
    ``baseline``: covariates from the events up to the moment each lifetime started only
    (default: when ``start_at`` is given). Touchpoints counted over the whole lifetime favour
    long-lived customers, who had more time to reach them (renewals, logins look
    protective); baseline covariates do not.

    Returns
    -------
    pandas.DataFrame
        customer_id, start, end, duration_days, churned, then the covariate columns.
    """
    start_at = [start_at] if isinstance(start_at, str) else list(start_at)
    lf = canonical(events, "events")
    population, starts = lf, None
    if start_at:  # the starts are read three times: computed once
        keyed, starts, columns = start_keys(lf, start_at)
        starts = materialize(starts)
        population = population_from(keyed, starts, columns)
    lifetimes = None if not start_at or as_of is not None else lifetimes_from_starts(
        keyed, starts, churn_touchpoints=churn_touchpoints, inactivity_days=inactivity_days)
    if lifetimes is None:
        lifetimes = customer_lifetimes(population, churn_touchpoints=churn_touchpoints,
                                       inactivity_days=inactivity_days, as_of=as_of)
    if baseline is None:
        baseline = bool(start_at)
    if start_at or baseline:  # the population's journeys, also before their lifetimes started
        if starts is None:
            starts = population.group_by("customer_id").agg(
                nw.col("timestamp").min().alias("_lifetime_start"))
        lf = lf.join(starts.select("customer_id", "_lifetime_start"), on="customer_id",
                     how="inner")
        if baseline:
            lf = lf.filter(nw.col("timestamp") <= nw.col("_lifetime_start"))
        lf = lf.drop("_lifetime_start")
    if as_of is not None and not lifetimes.empty:
        lf = _until(lf, pd.Timestamp(as_of))
        if feedback is not None:
            feedback = _until(canonical(feedback, "feedback"), pd.Timestamp(as_of))
    exclude = [churn_touchpoints] if isinstance(churn_touchpoints, str) else churn_touchpoints
    covariates = journey_covariates(lf, top_touchpoints=top_touchpoints, feedback=feedback,
                                    exclude=[*(exclude or ()), *start_at])
    if lifetimes["customer_id"].equals(covariates["customer_id"]):  # the usual case: no join
        return pd.concat([lifetimes, covariates.drop(columns="customer_id")], axis=1)
    return lifetimes.merge(covariates, on="customer_id", how="left")


def _until(lf: nw.LazyFrame, cutoff: pd.Timestamp) -> nw.LazyFrame:
    if cutoff.tzinfo is not None:
        cutoff = cutoff.tz_convert("UTC").tz_localize(None)
    if "timestamp" not in lf.collect_schema().names():
        return lf
    dtype = lf.collect_schema()["timestamp"]
    if isinstance(dtype, nw.Date):
        return lf.filter(nw.col("timestamp") <= nw.lit(cutoff.date()))
    return lf.filter(nw.col("timestamp") <= nw.lit(cutoff.to_pydatetime()))


def at_risk(
    table: Any,
    *,
    covariates: Sequence[str],
    duration_col: str = "duration_days",
    event_col: str = "churned",
    penalizer: float = 0.01,
    max_rows: int | None = MAX_FIT_ROWS,
    random_state: int = 0,
) -> AtRiskResult:
    """Rank the customers who have not churned by their predicted Cox hazard.

    Parameters
    ----------
    table : frame
        One row per customer with customer_id, duration, churn flag and covariates (for
        example from :func:`churn_table`).
    covariates : sequence of str
        Columns to model, as in :func:`cox_hazards`.
    penalizer : float
        L2 penalty; the default 0.01 keeps many correlated journey covariates stable.
    max_rows : int, optional
        Fit on a random sample of this many customers when there are more; every active
        customer is still ranked.

    A covariate that separates churners from the others perfectly is left out and the model
    refitted (the message says so), so one such column does not sink the list.

    Returns
    -------
    AtRiskResult
        ``status`` "degenerate" with the model's message when it cannot be fitted, "empty"
        when every customer has churned.
    """
    fit, kept = fit_churn_model(table, covariates=covariates, duration_col=duration_col,
                                event_col=event_col, penalizer=penalizer, max_rows=max_rows,
                                random_state=random_state)
    return rank_at_risk(fit, kept, duration_col=duration_col, event_col=event_col)


def fit_churn_model(
    table: Any,
    *,
    covariates: Sequence[str],
    duration_col: str = "duration_days",
    event_col: str = "churned",
    penalizer: float = 0.01,
    max_rows: int | None = MAX_FIT_ROWS,
    random_state: int = 0,
) -> tuple[CoxFit, list[str]]:
    """The Cox model of :func:`at_risk` (``fit.result`` is the drivers' table) and the
    covariates it kept, without ranking anyone: separating covariates are left out and the
    model refitted, as there."""
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    left_out: list[str] = []
    for _ in range(_MAX_REFITS):
        fit = fit_cox(table, covariates=covariates, duration_col=duration_col,
                      event_col=event_col, penalizer=penalizer, max_rows=max_rows,
                      random_state=random_state, keep=("customer_id",))
        culprits = set(_source_covariates(list(fit.separated), covariates))
        if not culprits or len(culprits) == len(covariates):
            break
        left_out += sorted(culprits)
        covariates = [c for c in covariates if c not in culprits]
    if left_out:
        note = (f"Left out {', '.join(map(covariate_label, left_out))}: it separates churners "
                "from the others perfectly, so its hazard ratio is unbounded.")
        fit = replace(fit, result=replace(fit.result, message=" ".join(
            m for m in (note, fit.result.message) if m)))
    return fit, covariates


def rank_at_risk(fit: CoxFit, covariates: Sequence[str], *,
                 duration_col: str = "duration_days",
                 event_col: str = "churned") -> AtRiskResult:
    """:func:`at_risk` from a model of :func:`fit_churn_model` and the covariates it kept."""
    if fit.result.status != "ok":
        return AtRiskResult(_empty(), fit.result, fit.result.status, fit.result.message)
    active = fit.rows[~fit.rows[event_col].astype(bool)]
    if active.empty:
        return AtRiskResult(_empty(), fit.result, "empty",
                            "Every customer in the model has churned; nobody is at risk.")
    ranked, log_hazard, by_covariate, names = _ranked(fit, list(covariates), event_col)
    out = pd.DataFrame({
        "customer_id": ranked["customer_id"].astype(str).to_numpy(),
        "risk_rank": np.arange(1, len(ranked) + 1),
        "relative_hazard": np.exp(log_hazard),
        "duration_days": ranked[duration_col].astype(float).to_numpy(),
        "reasons": _reasons(by_covariate, names, ranked),
    })
    return AtRiskResult(out, fit.result, "ok", fit.result.message)


def _ranked(fit: CoxFit, covariates: list[str], event_col: str,
            ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """The active rows, most at risk first, their log relative hazard and each covariate's
    share of it (columns: the covariates in sorted order)."""
    active = ~fit.rows[event_col].astype(bool).to_numpy()
    terms = fit.coefficients.index.tolist()
    design = fit.design[terms].to_numpy(dtype=float)[active]
    contributions = ((design - fit.means[terms].to_numpy()) * fit.coefficients.to_numpy())
    sources = _source_covariates(terms, covariates)
    names = sorted(set(sources))
    by_covariate = np.zeros((len(design), len(names)))
    for term, source in enumerate(sources):
        by_covariate[:, names.index(source)] += contributions[:, term]
    log_hazard = contributions.sum(axis=1)
    order = np.argsort(-log_hazard, kind="stable")
    return fit.rows[active].iloc[order], log_hazard[order], by_covariate[order], names


def _source_covariates(terms: list[str], covariates: list[str]) -> list[str]:
    """The covariate each design term comes from ("segment=Budget" -> "segment")."""
    known = set(covariates)
    return [term if term in known else term.split("=", 1)[0] for term in terms]


def _reasons(values: np.ndarray, names: list[str], rows: pd.DataFrame,
             top: int = 3) -> np.ndarray:
    """Per row, the covariates that raise the hazard most, as "Segment: Budget (×1.4)".

    A covariate's part of the text depends only on the customer's value of it, so each
    distinct (value, factor) is written once, and each distinct choice of parts once."""
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    parts: list[str] = []
    codes = np.empty(values.shape, dtype=np.int64)
    for j, name in enumerate(names):
        raw = rows[name].to_numpy()
        value_code, value_uniques = pd.factorize(raw, use_na_sentinel=False)
        factor_code, factor_uniques = pd.factorize(values[:, j])
        inverse, uniques = pd.factorize(value_code * len(factor_uniques) + factor_code)
        codes[:, j] = len(parts) + inverse
        for key in uniques:
            value = value_uniques[key // len(factor_uniques)]
            factor = factor_uniques[key % len(factor_uniques)]
            parts.append(f"{value_label(name, value)} (×{np.exp(factor):.2f})")
    picked = np.take_along_axis(codes, order, axis=1)
    picked[np.take_along_axis(values, order, axis=1) <= 0.01] = -1
    # One number per choice of parts (codes from -1 to len(parts) - 1), when it fits.
    base = len(parts) + 1
    if base ** picked.shape[1] < 2**62:
        keys = ((picked + 1) * base ** np.arange(picked.shape[1])[::-1]).sum(axis=1)
        inverse = pd.factorize(keys)[0]
        chosen = picked[np.unique(inverse, return_index=True)[1]]
    else:
        chosen, inverse = np.unique(picked, axis=0, return_inverse=True)
    texts = np.array(["; ".join(parts[c] for c in row if c >= 0)
                      or "no single factor stands out" for row in chosen], dtype=object)
    return texts[inverse.reshape(-1)]


def covariate_label(name: str) -> str:
    """A human name for a covariate or a one-hot design term of the model."""
    column, _, level = name.partition("=")
    if column.startswith(TOUCHED_PREFIX):
        return "Had " + column[len(TOUCHED_PREFIX):]
    label = _LABELS.get(column, column[:1].upper() + column[1:].replace("_", " "))
    return f"{label}: {level}" if level else label


def value_label(covariate: str, value: Any) -> str:
    """A customer's value of a covariate in words ("Had Payment failed", "Segment: Budget")."""
    if covariate.startswith(TOUCHED_PREFIX):
        touched = covariate[len(TOUCHED_PREFIX):]
        return f"Had {touched}" if value else f"Never had {touched}"
    label = covariate_label(covariate)
    if isinstance(value, float | np.floating):
        return f"{label}: {value:.3g}"
    return f"{label}: {value}"


def _empty() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": pd.Series(dtype=str),
        "risk_rank": pd.Series(dtype="int64"),
        "relative_hazard": pd.Series(dtype=float),
        "duration_days": pd.Series(dtype=float),
        "reasons": pd.Series(dtype=str),
    })
