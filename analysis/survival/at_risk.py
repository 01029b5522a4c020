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

from analysis.frames import canonical
from analysis.results import Status
from analysis.survival.covariates import TOUCHED_PREFIX, journey_covariates
from analysis.survival.cox import CoxResult, fit_cox
from analysis.survival.lifetimes import customer_lifetimes
from analysis.survival.population import from_first

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
    population = from_first(lf, start_at) if start_at else lf
    lifetimes = customer_lifetimes(population, churn_touchpoints=churn_touchpoints,
                                   inactivity_days=inactivity_days, as_of=as_of)
    if baseline is None:
        baseline = bool(start_at)
    if start_at or baseline:  # the population's journeys, also before their lifetimes started
        starts = population.group_by("customer_id").agg(
            nw.col("timestamp").min().alias("_lifetime_start"))
        lf = lf.join(starts, on="customer_id", how="inner")
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
    if fit.result.status != "ok":
        return AtRiskResult(_empty(), fit.result, fit.result.status, fit.result.message)
    active = fit.rows[~fit.rows[event_col].astype(bool)]
    if active.empty:
        return AtRiskResult(_empty(), fit.result, "empty",
                            "Every customer in the model has churned; nobody is at risk.")
    terms = fit.coefficients.index.tolist()
    contributions = (fit.design.loc[active.index, terms] - fit.means[terms]) * fit.coefficients
    by_covariate = contributions.T.groupby(_source_covariates(terms, list(covariates))).sum().T
    log_hazard = contributions.sum(axis=1).to_numpy()
    order = np.argsort(-log_hazard, kind="stable")
    ranked = active.iloc[order]
    out = pd.DataFrame({
        "customer_id": ranked["customer_id"].astype(str).to_numpy(),
        "risk_rank": np.arange(1, len(ranked) + 1),
        "relative_hazard": np.exp(log_hazard[order]),
        "duration_days": ranked[duration_col].astype(float).to_numpy(),
        "reasons": _reasons(by_covariate.iloc[order], ranked),
    })
    return AtRiskResult(out, fit.result, "ok", fit.result.message)


def _source_covariates(terms: list[str], covariates: list[str]) -> list[str]:
    """The covariate each design term comes from ("segment=Budget" -> "segment")."""
    known = set(covariates)
    return [term if term in known else term.split("=", 1)[0] for term in terms]


def _reasons(by_covariate: pd.DataFrame, rows: pd.DataFrame, top: int = 3) -> list[str]:
    """Per row, the covariates that raise the hazard most, as "Segment: Budget (×1.4)"."""
    values = by_covariate.to_numpy()
    names = by_covariate.columns.tolist()
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    raw = {name: rows[name].to_numpy() for name in names}
    texts = []
    for i, picks in enumerate(order):
        parts = [f"{value_label(names[j], raw[names[j]][i])} (×{np.exp(values[i, j]):.2f})"
                 for j in picks if values[i, j] > 0.01]
        texts.append("; ".join(parts) if parts else "no single factor stands out")
    return texts


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
