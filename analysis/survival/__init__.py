"""Survival: customer lifetimes with censoring, Kaplan-Meier curves and log-rank tests.

>>> from analysis import survival
>>> lifetimes = survival.customer_lifetimes(events, inactivity_days=60)   # doctest: +SKIP
>>> survival.kaplan_meier(lifetimes, by="segment").summary              # doctest: +SKIP
"""

from analysis.survival.km import KMResult, kaplan_meier
from analysis.survival.lifetimes import customer_lifetimes

__all__ = ["KMResult", "customer_lifetimes", "kaplan_meier"]
