"""Touchpoints: conversion attribution by heuristic, Markov and Shapley models.

>>> from analysis import touchpoints
>>> touchpoints.attribution(events, conversion=["Purchase"], model="markov")  # doctest: +SKIP
"""

from analysis.touchpoints.attribution import (
    BY,
    MODELS,
    NO_TOUCH,
    attribution,
    compare_models,
    markov_removal_credit,
)

__all__ = ["BY", "MODELS", "NO_TOUCH", "attribution", "compare_models", "markov_removal_credit"]
