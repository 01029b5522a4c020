"""The Markov attribution model: transition counts from one ordered pass over the events, and
the removal effect of each state solved exactly on the absorbing chain (no simulation).

Used by :mod:`analysis.touchpoints.attribution`; ``markov_removal_credit`` is public so a hand
count (a test, the benchmark's SQL) can go through the same solve.
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import seconds_between, to_pandas
from analysis.journeys import MISSING_NODE, order_columns


def markov_counts(
    lf: nw.LazyFrame, conversion: list[str], by: str, lookback_seconds: float | None
) -> pd.DataFrame:
    """Touches counted by their key and what follows them, from one ordered window pass.

    The touches of a journey (events before the first conversion, within the lookback) are
    the end of its events before that conversion, so the event after a touch is the next
    touch, the conversion or nothing. Columns: ``_key``, ``next__key`` (the next event's
    key), ``_next_hit`` (1: the next event converts, 0: it is a touch, null: the journey
    ends), ``_hit`` (0: touches; 1: the first conversion of each converting journey) and
    ``_count``. The engine sorts the events once: no step numbers, and per-customer
    aggregates only for a lookback.
    """
    order = order_columns(lf.collect_schema().names())
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    hit = nw.col("touchpoint").cast(nw.String).is_in(conversion).cast(nw.Int64)
    # The key keeps its stored type (an ENUM sorts and shifts cheaply) until grouped.
    lf = lf.filter(~nw.col("touchpoint").is_null()).select(
        "customer_id", *order, nw.col(by).alias("_key"), hit.alias("_hit"),
    )
    windows = [
        nw.col("_key").shift(-1).over("customer_id", order_by=order).alias("next__key"),
        nw.col("_hit").shift(-1).over("customer_id", order_by=order).alias("_next_hit"),
        nw.col("_hit").cum_sum().over("customer_id", order_by=order).alias("_seen"),
    ]
    if lookback_seconds is not None:
        hit_at = nw.when(nw.col("_hit") == 1).then(nw.col("timestamp")).min()
        windows.append(nw.coalesce(hit_at.over("customer_id"),
                                   nw.col("timestamp").max().over("customer_id")).alias("_ref"))
    lf = lf.with_columns(*windows)
    # No conversion before the row: the touches, and each converting journey's first one.
    keep = nw.col("_seen") <= nw.col("_hit")
    if lookback_seconds is not None:
        recent = seconds_between(lf, "_ref", "timestamp") <= lookback_seconds
        keep = keep & ((nw.col("_hit") == 1) | recent)
    key = nw.col("_key").cast(nw.String)
    next_key = nw.col("next__key").cast(nw.String)
    if by != "touchpoint":
        key, next_key = key.fill_null(MISSING_NODE), next_key.fill_null(MISSING_NODE)
    grouped = (lf.filter(keep).group_by("_key", "next__key", "_next_hit", "_hit")
               .agg(nw.len().alias("_count")).with_columns(key, next_key))
    return to_pandas(grouped).astype({"_count": "int64"})


def touch_counts(touches: nw.LazyFrame) -> pd.DataFrame:
    """The touch rows of :func:`markov_counts`, from the touches of :func:`_touches`."""
    outcome = nw.when(nw.col("_converted") == 1).then(nw.lit(1))
    next_hit = nw.when(~nw.col("next__key").is_null()).then(nw.lit(0)).otherwise(outcome)
    grouped = (touches.with_columns(next_hit.alias("_next_hit"))
               .group_by("_key", "next__key", "_next_hit").agg(nw.len().alias("_count")))
    return to_pandas(grouped).astype({"_count": "int64"}).assign(_hit=0)


def journey_counts(counts: pd.DataFrame) -> tuple[int, int]:
    """(converting journeys, converting journeys with a touch) of :func:`markov_counts`."""
    next_hit = counts["_next_hit"].astype("float64")
    converters = counts.loc[counts["_hit"] == 1, "_count"].sum()
    credited = counts.loc[(counts["_hit"] == 0) & (next_hit == 1), "_count"].sum()
    return int(converters), int(credited)


def transition_rows(counts: pd.DataFrame) -> pd.DataFrame:
    """(source, target, count) rows: start -> first touch, touch -> touch, last touch ->
    conversion or null; source None is the start, target True/False the outcome.

    Every touch but a journey's first follows a touch, so the journeys starting at a key
    are its touches less the moves into it.
    """
    touches = counts[counts["_hit"] == 0]
    next_hit = touches["_next_hit"].astype("float64")  # NaN: the journey ends
    moves, ends = touches[next_hit == 0], touches[next_hit != 0]
    starts = (touches.groupby("_key")["_count"].sum()
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
