"""Survival: customer lifetimes with censoring, Kaplan-Meier curves and log-rank tests, Cox
hazard ratios and the per-customer covariates built from journeys.

>>> from analysis import survival
>>> lifetimes = survival.customer_lifetimes(events, inactivity_days=60)   # doctest: +SKIP
>>> survival.kaplan_meier(lifetimes, by="segment").summary              # doctest: +SKIP
"""

from analysis.survival.covariates import journey_covariates
from analysis.survival.cox import CoxResult, cox_hazards
from analysis.survival.km import KMResult, kaplan_meier
from analysis.survival.lifetimes import customer_lifetimes

__all__ = [
    "CoxResult",
    "KMResult",
    "cox_hazards",
    "customer_lifetimes",
    "journey_covariates",
    "kaplan_meier",
]
