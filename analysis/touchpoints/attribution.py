"""Conversion attribution: how much credit each touchpoint (or channel) earns for conversions.

A journey is one customer's events in journey order (``analysis.journeys``: timestamp, then
``event_seq``) up to and including their *first* conversion event; customers who never
convert give non-converting journeys (the Markov model needs them). The touches of a journey
are its events before that conversion (conversion touchpoints are the outcome and earn no
credit), optionally only those within ``lookback`` of the conversion (of the last event for
non-converters).

The heavy work runs in the engine (DuckDB, Polars or Spark through Narwhals): per-touch
weights are window expressions, summed per touchpoint in one grouped query; Markov reads one
grouped table of transition counts. Only those small aggregates reach pandas and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import as_int, canonical, materialize, seconds_between, to_pandas
from analysis.journeys import MISSING_NODE, check_touchpoints, order_columns, ordered_window
from analysis.schema import MissingColumnError, ParameterError
from analysis.touchpoints.markov import (
    journey_counts,
    markov_counts,
    markov_removal_credit,
    touch_counts,
    transition_rows,
)

Model = Literal["first", "last", "linear", "position", "time_decay", "markov", "shapley"]
AttributeBy = Literal["touchpoint", "channel"]
MODELS: tuple[str, ...] = (
    "first", "last", "linear", "position", "time_decay", "markov", "shapley",
)
BY: tuple[str, ...] = ("touchpoint", "channel")
#: The row that takes converting journeys with no touch before the conversion (inside the
#: lookback): no model can credit a touch for them, and the credit must still add up.
NO_TOUCH = "(no touch)"
_HEURISTICS: tuple[str, ...] = ("first", "last", "linear", "position", "time_decay", "shapley")


def attribution(
    events: Any,
    *,
    conversion: Sequence[str],
    model: Model = "markov",
    by: AttributeBy = "touchpoint",
    lookback: timedelta | None = None,
    half_life_days: float = 7.0,
    random_state: int = 0,
) -> pd.DataFrame:
    """Credit for conversions, shared among touchpoints (or channels) by one model.

    Parameters
    ----------
    events
        Events in canonical columns (pandas, Polars, DuckDB, PySpark); not modified.
    conversion
        Touchpoint names that count as converting; a journey ends at the first of them.
    model
        ``"first"`` / ``"last"``: all credit to the first / last touch. ``"linear"``: equal
        credit per touch. ``"position"``: 40% first, 40% last, 20% shared by the touches in
        between (one touch gets 100%, two get 50/50). ``"time_decay"``: weight
        ``2 ** (-age / half_life_days)`` by age before the conversion, normalised per
        journey. ``"markov"``: first-order Markov chain over start -> touches ->
        conversion / null from every journey, converting or not; a state's removal effect is
        ``1 - P(conversion without it) / P(conversion)`` (the state redirected to null),
        solved exactly as an absorbing chain; effects are scaled to the converting journeys.
        ``"shapley"``: Shapley values of the game ``v(S)`` = converting journeys whose set of
        touches lies within ``S``. That game is a sum of unanimity games, one per converting
        journey, so its exact Shapley value gives each journey's credit in equal parts to its
        *distinct* touches, for any number of players (no sampling, no randomness).
    by
        ``"touchpoint"`` or ``"channel"`` (the channel of each touch; missing: "(none)").
    lookback
        Only touches at most this long before the conversion (for non-converters: before
        their last event) count; None keeps all.
    half_life_days
        Half-life of ``"time_decay"``, in days.
    random_state
        Accepted for a stable signature; no current model draws random numbers.

    Returns
    -------
    DataFrame with columns ``<by>`` (touchpoint or channel), conversions (credited; sums to
    the number of converting journeys) and share (conversions / converting journeys), one
    row per value seen among the touches of any journey, most credited first. Converting
    journeys with no touch are credited to the row "(no touch)". With no converting journey
    every row is 0: a plain table cannot carry a status, so callers check
    ``conversions.sum() == 0``.

    Notes
    -----
    Markov and Shapley are correlational: they spread conversions over the touches that
    converting journeys share, and say nothing of what a touch would cause if added. The
    Markov chain is built from the journeys with at least one touch; being first-order, it
    can credit a state seen only in non-converting journeys when the chain's paths through
    it lead on to states that convert.
    """
    check_model(model)
    return compare_models(
        events, conversion=conversion, by=by, models=(model,), lookback=lookback,
        half_life_days=half_life_days, random_state=random_state,
    ).rename(columns={model: "conversions"}).pipe(_with_share, by)


def compare_models(
    events: Any,
    *,
    conversion: Sequence[str],
    by: AttributeBy = "touchpoint",
    models: Sequence[Model] = MODELS,
    lookback: timedelta | None = None,
    half_life_days: float = 7.0,
    random_state: int = 0,
) -> pd.DataFrame:
    """Credited conversions of several attribution models side by side.

    Parameters
    ----------
    events, conversion, by, lookback, half_life_days, random_state
        As in :func:`attribution`.
    models
        The models to compare, in column order (all of them by default).

    Returns
    -------
    DataFrame with the ``<by>`` column and one column per model (credited conversions; each
    sums to the converting journeys), one row per touchpoint (or channel), ordered by the
    first model's credit, most first.
    """
    if isinstance(models, str):
        models = (models,)
    for name in models:
        check_model(name)
    if not models:
        raise ParameterError("No model to compare.", f"Pass some of {', '.join(MODELS)}.")
    lf = canonical(events, "events")
    names, key = check_conversion(lf, conversion), _check_by(lf, by)
    lookback_seconds = _check_lookback(lookback)
    half_life = _check_half_life(half_life_days)
    heuristics = [m for m in models if m in _HEURISTICS]
    credits = []
    if heuristics:
        touches, converters = _touches(lf, names, key, lookback_seconds)
        credited = as_int(_converting_count(touches))
        credits.append(_heuristic_credit(touches, heuristics, half_life))
    if "markov" in models:
        if heuristics:  # the touches are at hand: one grouped query over them
            counts = touch_counts(touches)
        else:
            counts = markov_counts(lf, names, key, lookback_seconds)
            converters, credited = journey_counts(counts)
        credits.append(markov_removal_credit(transition_rows(counts)).to_frame("markov"))
    table = pd.concat(credits, axis=1).reindex(columns=list(models)).fillna(0.0)
    if converters > credited:
        table.loc[NO_TOUCH] = float(converters - credited)
    table = table.rename_axis(by).reset_index()
    # Ties by name, so every engine (whatever order its groups come in) gives the same table.
    return table.sort_values([models[0], by], ascending=[False, True]).reset_index(drop=True)


def check_model(model: str) -> None:
    """Raise :class:`ParameterError` for a model name that is not one of :data:`MODELS`."""
    if model not in MODELS:
        raise ParameterError(f"Unknown attribution model {model!r}.",
                             f"Use one of {', '.join(MODELS)}.")


def _with_share(table: pd.DataFrame, by: str) -> pd.DataFrame:
    total = table["conversions"].sum()
    out = table[[by, "conversions"]].copy()
    out["share"] = out["conversions"] / total if total > 0 else 0.0
    return out.reset_index(drop=True)


def check_conversion(lf: nw.LazyFrame, conversion: Sequence[str]) -> list[str]:
    """The conversion touchpoint names, checked: a list, not empty, all in the data."""
    if isinstance(conversion, str):
        raise ParameterError(f"conversion must be a list, got the text {conversion!r}.",
                             f"Write [{conversion!r}].")
    names = [str(c) for c in conversion]
    if not names:
        raise ParameterError("No conversion touchpoint given.",
                             "Pass the touchpoints that count as converting, e.g. ['Purchase'].")
    check_touchpoints(lf, names, "conversion touchpoint")
    return names


def _check_by(lf: nw.LazyFrame, by: str) -> str:
    if by not in BY:
        raise ParameterError(f"Unknown attribution key {by!r}.", f"Use one of {', '.join(BY)}.")
    if by not in lf.collect_schema().names():
        raise MissingColumnError(f"The events have no {by} column to attribute by.",
                                 "Map a column to it when importing, or use by='touchpoint'.")
    return by


def _check_lookback(lookback: timedelta | None) -> float | None:
    if lookback is None:
        return None
    if not isinstance(lookback, timedelta) or lookback <= timedelta(0):
        raise ParameterError(f"lookback must be a positive timedelta or None, got {lookback!r}.",
                             "Pass e.g. datetime.timedelta(days=30).")
    return lookback.total_seconds()


def _check_half_life(half_life_days: float) -> float:
    ok = isinstance(half_life_days, int | float) and not isinstance(half_life_days, bool)
    if not ok or not np.isfinite(half_life_days) or half_life_days <= 0:
        raise ParameterError(f"half_life_days must be a positive number, got {half_life_days!r}.",
                             "Pass e.g. 7.0 (a week).")
    return float(half_life_days)


def _touches(
    lf: nw.LazyFrame, conversion: list[str], by: str, lookback_seconds: float | None
) -> tuple[nw.LazyFrame, int]:
    """Each journey's touches, numbered, and the number of converting journeys.

    Columns: customer_id, ``_key`` (touchpoint or channel), ``_age`` (seconds before the
    conversion, or before the last event), ``_converted`` (0/1), ``_k`` (1-based touch
    number), ``_n`` (touches in the journey) and ``next__key`` (null at the last touch).
    """
    names = lf.collect_schema().names()
    order = order_columns(names)
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    key = nw.col(by).cast(nw.String)
    key = key if by == "touchpoint" else key.fill_null(MISSING_NODE)
    lf = lf.filter(~nw.col("touchpoint").is_null())
    lf = lf.select("customer_id", *dict.fromkeys([*order, "touchpoint"]), key.alias("_key"))
    lf = ordered_window(lf, order, step="_pos")
    hit = nw.col("touchpoint").cast(nw.String).is_in(conversion)
    lf = lf.with_columns(
        nw.when(hit).then(nw.col("_pos")).min().over("customer_id").alias("_conv_pos"),
        nw.when(hit).then(nw.col("timestamp")).min().over("customer_id").alias("_conv_at"),
        nw.col("timestamp").max().over("customer_id").alias("_last_at"),
    )
    lf = materialize(lf.with_columns(
        nw.coalesce(nw.col("_conv_at"), nw.col("_last_at")).alias("_ref"),
        (~nw.col("_conv_pos").is_null()).cast(nw.Int64).alias("_converted"),
    ))
    converters = as_int(
        lf.filter(nw.col("_converted") == 1).select(nw.col("customer_id").n_unique())
        .collect().item()
    )
    lf = lf.filter(nw.col("_conv_pos").is_null() | (nw.col("_pos") < nw.col("_conv_pos")))
    lf = lf.with_columns(seconds_between(lf, "_ref", "timestamp").alias("_age"))
    if lookback_seconds is not None:
        lf = lf.filter(nw.col("_age") <= lookback_seconds)
    lf = lf.select("customer_id", "_pos", "_key", "_age", "_converted")
    lf = ordered_window(lf, ["_pos"], step="_k", following=["_key"])
    lf = lf.with_columns(nw.col("_k").max().over("customer_id").alias("_n"))
    return materialize(lf), converters


def _converting_count(touches: nw.LazyFrame) -> Any:
    """Converting journeys with at least one touch."""
    return (touches.filter(nw.col("_converted") == 1)
            .select(nw.col("customer_id").n_unique()).collect().item())


def _weights(model: str) -> nw.Expr:
    """Each touch's share of its journey's conversion under a heuristic model."""
    k, n = nw.col("_k"), nw.col("_n")
    if model == "first":
        return (k == 1).cast(nw.Float64)
    if model == "last":
        return (k == n).cast(nw.Float64)
    if model == "linear":
        return 1.0 / n.cast(nw.Float64)
    if model == "position":
        ends = (k == 1) | (k == n)
        middle = nw.lit(0.2) / nw.max_horizontal(n - 2, nw.lit(1)).cast(nw.Float64)
        return (nw.when(n == 1).then(nw.lit(1.0))
                .otherwise(nw.when(n == 2).then(nw.lit(0.5))
                           .otherwise(nw.when(ends).then(nw.lit(0.4)).otherwise(middle))))
    return nw.col("_decay") / nw.col("_decay").sum().over("customer_id")


def _heuristic_credit(
    touches: nw.LazyFrame, models: list[str], half_life_days: float
) -> pd.DataFrame:
    """Credit per key of the per-touch models (and Shapley), from one grouped query.

    The index holds every key seen among the touches, converting journeys or not.
    """
    converted = nw.col("_converted").cast(nw.Float64)
    exprs = [(_weights(m) * converted).alias(m)
             for m in models if m != "shapley"]
    # Ages count from the journey's youngest touch, which scales every weight of the journey
    # alike (normalisation cancels it) and keeps old journeys from underflowing to 0 / 0.
    # Shapley gives one share per distinct key of the journey, carried by its first touch.
    first_of_key = nw.col("_k") == nw.col("_k").min().over("customer_id", "_key")
    frame = touches.with_columns(
        (nw.col("_age") - nw.col("_age").min().over("customer_id")).alias("_rel_age"),
        first_of_key.cast(nw.Float64).alias("_first_of_key"),
    ).with_columns(
        (nw.col("_rel_age") * (-np.log(2.0) / (half_life_days * 86_400.0))).exp().alias("_decay")
    )
    if "shapley" in models:
        count = nw.col("_first_of_key").sum().over("customer_id")
        exprs.append((nw.col("_first_of_key") / count * converted).alias("shapley"))
    sums = [nw.col(m).sum().alias(m) for m in models]
    grouped = (frame.with_columns(*exprs).group_by("_key").agg(*sums) if models
               else frame.select("_key").unique())
    out = to_pandas(grouped).set_index("_key").rename_axis(None)
    return out.astype(float)
