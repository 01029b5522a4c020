"""The Markov attribution model: transition counts from one grouped query over the touches, and
the removal effect of each state solved exactly on the absorbing chain (no simulation).

Used by :mod:`analysis.touchpoints.attribution`; ``markov_removal_credit`` is public so a hand
count (a test, the benchmark's SQL) can go through the same solve.
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import to_pandas


def touch_counts(touches: nw.LazyFrame) -> pd.DataFrame:
    """Touches counted by their key and what follows them, from the touches of
    :func:`analysis.touchpoints.attribution._touches`.

    Columns: ``_key``, ``next__key`` (the next touch's key), ``_next_hit`` (0: a touch
    follows, 1: the conversion, null: the journey ends) and ``_count``.
    """
    grouped = (touches.group_by("_key", "next__key", "_next_hit").agg(nw.len().alias("_count"))
               .with_columns(nw.col("_key").cast(nw.String), nw.col("next__key").cast(nw.String)))
    return to_pandas(grouped).astype({"_count": "int64"})


def credited_journeys(counts: pd.DataFrame) -> int:
    """Converting journeys with at least one touch, of :func:`touch_counts`: each has one
    touch followed by its conversion."""
    next_hit = counts["_next_hit"].astype("float64")
    return int(counts.loc[next_hit == 1, "_count"].sum())


def transition_rows(counts: pd.DataFrame) -> pd.DataFrame:
    """(source, target, count) rows from :func:`touch_counts`: start -> first touch, touch
    -> touch, last touch -> conversion or null; source None is the start, target True/False
    the outcome.

    Every touch but a journey's first follows a touch, so the journeys starting at a key
    are its touches less the moves into it.
    """
    next_hit = counts["_next_hit"].astype("float64")  # NaN: the journey ends
    moves, ends = counts[next_hit == 0], counts[next_hit != 0]
    starts = (counts.groupby("_key")["_count"].sum()
              .sub(moves.groupby("next__key")["_count"].sum(), fill_value=0))
    starts = starts[starts > 0].astype("int64")
    rows = [
        pd.DataFrame({"source": None, "target": starts.index, "count": starts.to_numpy()}),
        pd.DataFrame({"source": moves["_key"], "target": moves["next__key"],
                      "count": moves["_count"]}),
        pd.DataFrame({"source": ends["_key"], "target": next_hit[next_hit != 0] == 1,
                      "count": ends["_count"]}),
    ]
    return pd.concat(rows, ignore_index=True)


def markov_removal_credit(transitions: pd.DataFrame) -> pd.Series:
    """Conversions credited to each state by its removal effect.

    Parameters
    ----------
    transitions
        Rows of source (None: the start), target (a state name, or True / False: conversion
        / null) and count.

    Returns
    -------
    Series indexed by state: removal effects scaled to sum to the journeys that converted
    (the counts into True); zeros when none did.
    """
    states = sorted({s for s in transitions["source"] if s is not None}
                    | {t for t in transitions["target"] if not isinstance(t, bool | np.bool_)})
    index = {s: i + 1 for i, s in enumerate(states)}  # 0 is the start
    size = len(states) + 1
    q, r = np.zeros((size, size)), np.zeros(size)
    totals = np.zeros(size)
    for source, target, count in transitions[["source", "target", "count"]].itertuples(
            index=False):
        i = 0 if source is None else index[source]
        totals[i] += count
        if isinstance(target, bool | np.bool_):
            r[i] += count if target else 0.0
        else:
            q[i, index[target]] += count
    scale = np.divide(1.0, totals, out=np.zeros(size), where=totals > 0)
    q, r = q * scale[:, None], r * scale
    converted = float(transitions.loc[transitions["target"].map(_is_true), "count"].sum())
    base = _conversion_probability(q, r, removed=None)
    if converted == 0 or base <= 0:
        return pd.Series(0.0, index=states, dtype=float)
    effects = np.array([1.0 - _conversion_probability(q, r, removed=index[s]) / base
                        for s in states])
    effects = np.clip(effects, 0.0, None)
    return pd.Series(effects / effects.sum() * converted, index=states, dtype=float)


def _is_true(value: object) -> bool:
    return isinstance(value, bool | np.bool_) and bool(value)


def _conversion_probability(q: np.ndarray, r: np.ndarray, removed: int | None) -> float:
    """P(absorbed in conversion | start) of the chain with transient matrix ``q`` and
    one-step conversion probabilities ``r``; a removed state sends everything to null."""
    if removed is not None:
        q, r = q.copy(), r.copy()
        q[removed, :], r[removed] = 0.0, 0.0
    # x = Q x + r, i.e. (I - Q) x = r: each state's probability of ending in conversion.
    x = np.linalg.solve(np.eye(len(r)) - q, r)
    return float(x[0])
