"""The hazard ratio of an exposure that happens during a lifetime (a complaint, a failure).

Flagging a customer as exposed for their whole lifetime when the exposure came later counts
the time before it, which they had to survive to be exposed at all, as exposed time
(immortal-time bias: the exposure looks protective). Here the exposure is a time-varying
covariate: a customer counts as unexposed until the exposure and exposed from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.schema import MissingColumnError
from analysis.stats import Z95

#: Fewer exposed customers than this give no estimate.
MIN_EXPOSED = 5


@dataclass(frozen=True)
class ExposureHazard:
    """``hazard_ratio`` of exposed time against unexposed time, its 95% interval and the
    Wald p-value; ``exposed``: customers exposed during their observed lifetime. NaN (with a
    ``message``) when it cannot be estimated."""

    hazard_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    exposed: int
    message: str = ""


def exposure_hazard(lifetimes: pd.DataFrame, exposed_at: pd.Series) -> ExposureHazard:
    """Cox model with one time-varying 0/1 covariate.

    Parameters
    ----------
    lifetimes : pandas.DataFrame
        One row per customer: ``customer_id``, ``duration_days``, ``churned``.
    exposed_at : pandas.Series
        Indexed by customer_id: days from the start of the lifetime to the first exposure
        (≤ 0: exposed from the start). Customers not in it, or exposed after their lifetime
        ended (at or after churn or censoring), count as never exposed.
    """
    exposures = pd.DataFrame({"exposure": 0, "customer_id": exposed_at.index,
                              "days": exposed_at.to_numpy(dtype=float)})
    return exposure_hazards(lifetimes, exposures).get(0, _none(0, _TOO_FEW))


def exposure_hazards(lifetimes: pd.DataFrame, exposures: pd.DataFrame
                     ) -> dict[Any, ExposureHazard]:
    """:func:`exposure_hazard` for many exposures of the same lifetimes at once.

    ``exposures`` has one row per customer and exposure: ``exposure`` (any label),
    ``customer_id`` and ``days`` (from the start of the lifetime to that exposure). The risk
    sets of the lifetimes are counted once; each exposure then only walks its own exposed
    customers, so a hundred exposures of a million customers cost little more than one.
    Returns one result per label in ``exposures``.
    """
    missing = [c for c in ("customer_id", "duration_days", "churned") if c not in lifetimes]
    if missing:
        raise MissingColumnError(f"The lifetimes have no column(s) {', '.join(missing)}.",
                                 "Use survival.churn_table or customer_lifetimes output.")
    duration = lifetimes["duration_days"].astype(float).to_numpy()
    event = lifetimes["churned"].astype(bool).to_numpy()
    keep = duration > 0
    duration, event = duration[keep], event[keep]
    times, inverse = np.unique(duration[event], return_inverse=True)
    d = np.bincount(inverse, minlength=len(times)).astype(float)
    at_risk = len(duration) - np.searchsorted(np.sort(duration), times, "left").astype(float)
    position = _positions(lifetimes["customer_id"][keep], exposures["customer_id"])
    days = exposures["days"].to_numpy(dtype=float)
    found = np.flatnonzero(position >= 0)
    # Rows grouped by label with one stable sort (labels in order of first appearance).
    codes, labels = pd.factorize(exposures["exposure"].to_numpy()[found])
    if len(labels) < 2**15:  # numpy sorts 16-bit numbers stably by radix, in one pass
        codes = codes.astype(np.int16)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    out: dict[Any, ExposureHazard] = {}
    for i, label in enumerate(labels):
        rows = found[order[bounds[i]:bounds[i + 1]]]
        where, t = position[rows], days[rows]
        within = ~np.isnan(t) & (t < duration[where])
        where, begin = where[within], np.maximum(t[within], 0.0)
        out[label] = _one_exposure(times, d, at_risk, begin, duration[where], event[where],
                                   from_start=int((begin <= 0).sum()), customers=len(duration))
    for label in pd.unique(exposures["exposure"]):
        out.setdefault(label, _none(0, _TOO_FEW))
    return out


def _positions(lifetime_ids: pd.Series, exposure_ids: pd.Series) -> np.ndarray:
    """Each exposure's row among the lifetimes (-1: none). Whole-number ids on both sides
    are matched as numbers (hashing millions of texts costs seconds), others as text."""
    if (pd.api.types.is_integer_dtype(lifetime_ids)
            and pd.api.types.is_integer_dtype(exposure_ids)):
        ids, wanted = lifetime_ids.to_numpy(), exposure_ids.to_numpy()
        if ids.dtype.kind == wanted.dtype.kind == "i" and len(ids) and len(wanted):
            # Python ints: no overflow, whatever the width of the ids.
            low = min(int(ids.min()), int(wanted.min()))
            span = max(int(ids.max()), int(wanted.max())) - low + 1
            if span <= 4 * (len(ids) + len(wanted)) and pd.Index(ids).is_unique:
                # Dense numbers (the scorecard's customer ranks): a lookup table, no hashing.
                table = np.full(span, -1, dtype=np.int64)
                table[ids.astype(np.int64) - low] = np.arange(len(ids))
                return table[wanted.astype(np.int64) - low]
        return pd.Index(ids).get_indexer(wanted)
    return pd.Index(lifetime_ids.astype(str).to_numpy()).get_indexer(
        exposure_ids.astype(str).to_numpy())


_TOO_FEW = "Too few exposed customers or churns to estimate a ratio."


def _one_exposure(times: np.ndarray, d: np.ndarray, at_risk: np.ndarray, begin: np.ndarray,
                  end: np.ndarray, churned: np.ndarray, *, from_start: int,
                  customers: int) -> ExposureHazard:
    """One exposure's fit from the shared churn times (``d`` churns and ``at_risk`` customers
    at each) and its exposed customers, at risk exposed on (``begin``, ``end``]."""
    exposed = len(begin)
    if exposed < MIN_EXPOSED or d.sum() == 0 or from_start == customers:
        return _none(exposed, _TOO_FEW)
    n1 = (np.searchsorted(np.sort(begin), times, "left")
          - np.searchsorted(np.sort(end), times, "left")).astype(float)
    d1 = np.bincount(np.searchsorted(times, end[churned]), minlength=len(times)).astype(float)
    # Churn times with no exposed customer at risk add nothing to the score or information.
    some = n1 > 0
    coef, se = _binary_cox(d[some], d1[some], (at_risk - n1)[some], n1[some])
    if not (np.isfinite(coef) and np.isfinite(se)) or abs(coef) > 20:
        return _none(exposed, "The exposure separates churners (almost) perfectly.")
    p = float(2 * sps.norm.sf(abs(coef / se)))
    return ExposureHazard(float(np.exp(coef)), float(np.exp(coef - Z95 * se)),
                          float(np.exp(coef + Z95 * se)), p, exposed)


def _binary_cox(d: np.ndarray, d1: np.ndarray, n0: np.ndarray,
                n1: np.ndarray) -> tuple[float, float]:
    """Coefficient and standard error of a Cox model with one 0/1 covariate, by Newton's
    method on the partial likelihood, from the counts at each churn time: ``d`` churns, of
    which ``d1`` exposed, among ``n0`` unexposed and ``n1`` exposed customers at risk (at
    risk at t when start < t ≤ stop).

    The score is Σ d₁ − d·p and the information Σ d·p(1 − p), with p = e^β n₁ / (n₀ + e^β n₁).
    Ties use Breslow's approximation (lifelines uses Efron's; they agree when no two churns
    share an instant).
    """
    beta, info = 0.0, np.nan
    for _ in range(50):
        r = np.exp(beta)
        p = r * n1 / (n0 + r * n1)
        score, info = float((d1 - d * p).sum()), float((d * p * (1 - p)).sum())
        if not info > 0:
            return np.nan, np.nan
        step = score / info
        beta += float(np.clip(step, -2, 2))
        if abs(step) < 1e-10:
            break
    r = np.exp(beta)
    p = r * n1 / (n0 + r * n1)
    info = float((d * p * (1 - p)).sum())
    return beta, (1 / np.sqrt(info)) if info > 0 else np.nan


def _episodes(lifetimes: pd.DataFrame, exposed_at: pd.Series) -> pd.DataFrame:
    """Start–stop rows: one per unexposed customer, two when the exposure splits a lifetime."""
    ids = lifetimes["customer_id"].astype(str).to_numpy()
    duration = lifetimes["duration_days"].astype(float).to_numpy()
    event = lifetimes["churned"].astype(bool).astype(int).to_numpy()
    at = pd.Series(exposed_at.to_numpy(dtype=float), index=exposed_at.index.astype(str))
    t = at.reindex(ids).to_numpy()
    keep = duration > 0
    ids, duration, event, t = ids[keep], duration[keep], event[keep], t[keep]
    never = np.isnan(t) | (t >= duration)
    start = ~never & (t <= 0)
    split = ~never & ~start
    parts = [
        pd.DataFrame({"id": ids[never], "start": 0.0, "stop": duration[never],
                      "event": event[never], "exposed": 0}),
        pd.DataFrame({"id": ids[start], "start": 0.0, "stop": duration[start],
                      "event": event[start], "exposed": 1}),
        pd.DataFrame({"id": ids[split], "start": 0.0, "stop": t[split], "event": 0,
                      "exposed": 0}),
        pd.DataFrame({"id": ids[split], "start": t[split], "stop": duration[split],
                      "event": event[split], "exposed": 1}),
    ]
    return pd.concat(parts, ignore_index=True)


def _none(exposed: int, message: str) -> ExposureHazard:
    return ExposureHazard(np.nan, np.nan, np.nan, np.nan, exposed, message)
