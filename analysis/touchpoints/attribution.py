"""Conversion attribution: how much credit each touchpoint (or channel) earns for conversions.

A journey is one customer's events in journey order (``analysis.journeys``: timestamp, then
``event_seq``) up to and including their *first* conversion event; customers who never
convert give non-converting journeys (the Markov model needs them). The touches of a journey
are its events before that conversion (conversion touchpoints are the outcome and earn no
credit), optionally only those within ``lookback`` of the conversion (of the last event for
non-converters).

The heavy work runs in the engine (DuckDB, Polars or Spark through Narwhals): journey order
comes from the columns precomputed at import when the events carry them (else one sorted
window); each customer's first conversion from one grouped query over the few rows that carry
it, joined back; the touches are kept once and shared by every model: the per-touch models
and Shapley sum them per journey and key, then per key, and Markov reads one grouped table of
transition counts. Only those small aggregates reach pandas and numpy, with the converting
journeys' touches that time decay weighs (:mod:`analysis.touchpoints.time_decay`): kept with
the other models' credit (:func:`model_credit`), a new half-life costs a couple of array sums
(:func:`compare_models_from_credit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import as_int, canonical, materialize, seconds_between, to_pandas
from analysis.journeys import (
    MISSING_NODE,
    check_touchpoints,
    order_columns,
    ordered_window,
    uses_precomputed,
)
from analysis.schema import MissingColumnError, ParameterError
from analysis.touchpoints.markov import (
    credited_journeys,
    markov_removal_credit,
    touch_counts,
    transition_rows,
)
from analysis.touchpoints.time_decay import decay_touches, time_decay_credit

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
    _check_half_life(half_life_days)
    credit = model_credit(events, conversion=conversion, by=by, models=models,
                          lookback=lookback)
    return compare_models_from_credit(credit, half_life_days=half_life_days)


@dataclass(frozen=True)
class ModelCredit:
    """The models' credit that does not depend on the time-decay half-life, and what time
    decay needs to be computed for any half-life (:func:`model_credit`).

    ``table``: one row per key seen among the touches (index), one column per model but
    time decay (credited conversions). ``decay``: one row per touch of a converting journey
    (empty unless time decay is wanted): ``_journey`` (a number per journey), ``_key`` and
    ``_rel`` (seconds before the journey's youngest touch). ``converters``: converting
    journeys; ``credited``: those with a touch.
    """

    table: pd.DataFrame
    decay: pd.DataFrame
    models: tuple[str, ...]
    by: str
    converters: int
    credited: int


def model_credit(
    events: Any,
    *,
    conversion: Sequence[str],
    by: AttributeBy = "touchpoint",
    models: Sequence[Model] = MODELS,
    lookback: timedelta | None = None,
) -> ModelCredit:
    """Follow the journeys once for :func:`compare_models`: every model's credit but time
    decay's, and the converting journeys' touches that time decay weighs. Feed it to
    :func:`compare_models_from_credit` with any half-life (parameters as in
    :func:`compare_models`)."""
    if isinstance(models, str):
        models = (models,)
    for name in models:
        check_model(name)
    if not models:
        raise ParameterError("No model to compare.", f"Pass some of {', '.join(MODELS)}.")
    lf = canonical(events, "events")
    names, key = check_conversion(lf, conversion), _check_by(lf, by)
    lookback_seconds = _check_lookback(lookback)
    heuristics = [m for m in models if m in _HEURISTICS and m != "time_decay"]
    # Read once when Markov is the only model: then not held in memory.
    touches, converters = _touches(lf, names, key, lookback_seconds,
                                   keep=bool(heuristics) or "time_decay" in models)
    counts = touch_counts(touches)
    credited, seen = credited_journeys(counts), sorted(set(counts["_key"]))
    # Every key seen among the touches gets a row, converting journeys or not.
    credits = [pd.DataFrame(index=pd.Index(seen, dtype=object))]
    if heuristics:
        credits.append(_heuristic_credit(touches, heuristics))
    if "markov" in models:
        credits.append(markov_removal_credit(transition_rows(counts)).to_frame("markov"))
    decay = decay_touches(touches if "time_decay" in models else None)
    return ModelCredit(pd.concat(credits, axis=1), decay, tuple(models), by, converters,
                       credited)


def compare_models_from_credit(credit: ModelCredit, *, half_life_days: float = 7.0
                               ) -> pd.DataFrame:
    """:func:`compare_models` from :func:`model_credit`: only time decay is computed."""
    half_life = _check_half_life(half_life_days)
    table = credit.table.copy()
    if "time_decay" in credit.models:
        table["time_decay"] = time_decay_credit(credit.decay, half_life)
    table = table.reindex(columns=list(credit.models)).fillna(0.0)
    if credit.converters > credit.credited:
        table.loc[NO_TOUCH] = float(credit.converters - credit.credited)
    by, first = credit.by, credit.models[0]
    table = table.rename_axis(by).reset_index()
    # Ties by name, so every engine (whatever order its groups come in) gives the same table.
    return table.sort_values([first, by], ascending=[False, True]).reset_index(drop=True)


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


def _steps(lf: nw.LazyFrame, conversion: list[str], by: str) -> nw.LazyFrame:
    """Events with a touchpoint in journey order: customer_id, timestamp, ``_key``, ``_step``
    (1-based place), ``next__key`` (the next event's key), ``_hit`` and ``_next_hit`` (1: the
    event / the next event converts).

    Read from the columns precomputed at import when ``lf`` carries them (no sort), else one
    window pass that the engine sorts once.
    """
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    hit = nw.col("touchpoint").cast(nw.String).is_in(conversion).cast(nw.Int64)
    if by == "touchpoint" and uses_precomputed(lf):
        following = nw.col("_next_touchpoint").cast(nw.String)
        return lf.filter(~nw.col("_step").is_null()).select(
            "customer_id", "timestamp", nw.col("touchpoint").alias("_key"),
            nw.col("_step").cast(nw.Int64), following.alias("next__key"), hit.alias("_hit"),
            following.is_in(conversion).cast(nw.Int64).alias("_next_hit"))
    order = order_columns(lf.collect_schema().names())
    # A touchpoint key keeps its stored type (an ENUM sorts and shifts cheaply) until grouped.
    key = nw.col(by) if by == "touchpoint" else nw.col(by).cast(nw.String).fill_null(MISSING_NODE)
    lf = lf.filter(~nw.col("touchpoint").is_null()).select(
        "customer_id", *dict.fromkeys([*order, "touchpoint"]), key.alias("_key"),
        hit.alias("_hit"))
    lf = ordered_window(lf, order, step="_step", following=["_key", "_hit"])
    return lf.select("customer_id", "timestamp", "_key", nw.col("_step").cast(nw.Int64),
                     "next__key", "_hit", nw.col("next__hit").alias("_next_hit"))


def _touches(
    lf: nw.LazyFrame, conversion: list[str], by: str, lookback_seconds: float | None,
    *, keep: bool = True,
) -> tuple[nw.LazyFrame, int]:
    """Each journey's touches and the number of converting journeys.

    Columns: customer_id, ``_key`` (touchpoint or channel), ``_step`` (place in the
    journey), ``next__key`` (the next touch's key; null at the last touch), ``_next_hit``
    (0: a touch follows, 1: the conversion, null: the journey ends), ``_converted`` (0/1) and
    ``_rel`` (seconds before the youngest touch of a converting journey). The per-customer
    facts (first conversion, youngest touch, last event) come from one grouped query joined
    back, so the only sort is the one of :func:`_steps`, if any. ``keep``: computed once and
    held (for several readers), else left lazy.
    """
    steps = _steps(lf, conversion, by)
    hit, ends = nw.col("_hit") == 1, nw.col("next__key").is_null()
    # The youngest touch of a converting journey is the event right before its first
    # conversion: the earliest event that does not convert and is followed by one. A
    # journey's last event (needed for the lookback of non-converters) has no next event.
    youngest = ~hit & (nw.col("_next_hit") == 1)
    facts = [nw.when(hit).then(nw.col("_step")).min().alias("_conv_pos"),
             nw.when(hit).then(nw.col("timestamp")).min().alias("_conv_at"),
             nw.when(youngest).then(nw.col("timestamp")).min().alias("_young_at")]
    wanted = hit | youngest
    if lookback_seconds is not None:
        facts.append(nw.when(ends).then(nw.col("timestamp")).max().alias("_last_at"))
        wanted = wanted | ends
    # Only the few rows that carry these facts are grouped; customers without any (those
    # who never convert, without a lookback) keep all their events as touches.
    customers = materialize(steps.filter(wanted).group_by("customer_id").agg(*facts))
    converters = as_int(customers.select(nw.col("_conv_pos").count()).collect().item())
    converted = ~nw.col("_conv_pos").is_null()
    lf = steps.join(customers, on="customer_id", how="left").filter(
        ~converted | (nw.col("_step") < nw.col("_conv_pos")))
    if lookback_seconds is not None:
        lf = lf.with_columns(nw.coalesce(nw.col("_conv_at"), nw.col("_last_at")).alias("_ref"))
        lf = lf.filter(seconds_between(lf, "_ref", "timestamp") <= lookback_seconds)
    last = converted & (nw.col("_step") == nw.col("_conv_pos") - 1)
    follows = nw.when(~ends).then(nw.lit(0))
    touches = lf.select(
        "customer_id", "_key", "_step", nw.when(~last).then(nw.col("next__key")).alias("next__key"),
        nw.when(last).then(nw.lit(1)).otherwise(follows).cast(nw.Int64).alias("_next_hit"),
        converted.cast(nw.Int64).alias("_converted"),
        seconds_between(lf, "_young_at", "timestamp").cast(nw.Float64).alias("_rel"))
    return (materialize(touches) if keep else touches), converters


def _credit_terms() -> dict[str, nw.Expr]:
    """Each model's credit to a key from one converting journey, on the rows of
    :func:`_heuristic_credit` (one per journey and key, with the journey's totals)."""
    count, n = nw.col("_c").cast(nw.Float64), nw.col("_n").cast(nw.Float64)
    first = (nw.col("_m") == nw.col("_kmin")).cast(nw.Float64)
    last = (nw.col("_x") == nw.col("_kmax")).cast(nw.Float64)
    middle = nw.lit(0.2) / nw.max_horizontal(n - 2, nw.lit(1.0))
    position = (nw.when(n == 1).then(count)
                .otherwise(nw.when(n == 2).then(count * 0.5)
                           .otherwise(first * 0.4 + last * 0.4 + (count - first - last) * middle)))
    return {"first": first, "last": last, "linear": count / n, "position": position,
            "shapley": 1.0 / nw.col("_d").cast(nw.Float64)}


def _heuristic_credit(touches: nw.LazyFrame, models: list[str]) -> pd.DataFrame:
    """Credit per key of the per-touch models but time decay (and Shapley) over the
    converting journeys.

    Touches are summed per journey and key (count, first and last place), then per journey
    (touches, distinct keys); each model's credit to a key is a function of the two, summed
    per key. Shapley gives each journey's conversion in equal parts to its distinct keys.
    """
    per_key = materialize(touches.filter(nw.col("_converted") == 1)
                          .group_by("customer_id", "_key").agg(
        nw.len().alias("_c"), nw.col("_step").min().alias("_m"),
        nw.col("_step").max().alias("_x")))
    journeys = per_key.group_by("customer_id").agg(
        nw.col("_m").min().alias("_kmin"), nw.col("_x").max().alias("_kmax"),
        nw.col("_c").sum().alias("_n"), nw.len().alias("_d"))
    terms = _credit_terms()
    grouped = (per_key.join(journeys, on="customer_id")
               .with_columns(*[terms[m].alias(m) for m in models])
               .group_by("_key").agg(*[nw.col(m).sum() for m in models])
               .with_columns(nw.col("_key").cast(nw.String)))
    out = to_pandas(grouped).set_index("_key").rename_axis(None)
    return out.astype(float)
