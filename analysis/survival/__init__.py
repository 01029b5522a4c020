"""Survival: customer lifetimes with censoring, Kaplan-Meier curves and log-rank tests, Cox
hazard ratios and the per-customer covariates built from journeys.

>>> from analysis import survival
>>> lifetimes = survival.customer_lifetimes(events, inactivity_days=60)   # doctest: +SKIP
>>> survival.kaplan_meier(lifetimes, by="segment").summary              # doctest: +SKIP
"""

from analysis.survival.at_risk import (
    AtRiskResult,
    at_risk,
    churn_table,
    covariate_label,
    fit_churn_model,
    rank_at_risk,
)
from analysis.survival.cohorts import CohortResult, cohort_retention
from analysis.survival.covariates import TOUCHED_PREFIX, journey_covariates
from analysis.survival.cox import CoxResult, cox_hazards
from analysis.survival.exposure import ExposureHazard, exposure_hazard
from analysis.survival.km import KMResult, kaplan_meier, pairwise_logrank
from analysis.survival.lifetimes import customer_lifetimes
from analysis.survival.population import from_first
from analysis.survival.winback import WinBackResult, win_back

__all__ = [
    "TOUCHED_PREFIX",
    "AtRiskResult",
    "CohortResult",
    "CoxResult",
    "ExposureHazard",
    "KMResult",
    "WinBackResult",
    "at_risk",
    "churn_table",
    "cohort_retention",
    "covariate_label",
    "cox_hazards",
    "customer_lifetimes",
    "exposure_hazard",
    "fit_churn_model",
    "from_first",
    "journey_covariates",
    "kaplan_meier",
    "pairwise_logrank",
    "rank_at_risk",
    "win_back",
]
