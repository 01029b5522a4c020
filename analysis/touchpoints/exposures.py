"""Hazard ratios of having touched a touchpoint, for the scorecard: how much faster customers
churn, and how much faster they convert, once they have touched it.

Both are Cox models with the touch as a time-varying covariate (``survival.exposure_hazard``):
a customer counts as unexposed until their first event of the touchpoint and exposed from then
on, so the time before the touch is not credited to it (no immortal-time bias), and a touch that
recurs over a long journey is not mistaken for a cause of not converting.

The per-customer facts come from the scorecard's customer × touchpoint table (``firsts``) and
its customer table (``people``), computed once in the engine; pandas gets the first times of
the touchpoints that are fitted, once for both models.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import materialize, naive_utc, seconds_between, to_pandas
from analysis.precompute import PREV_SAME_TOUCHPOINT
from analysis.survival.exposure import exposure_hazards
from analysis.survival.lifetimes import lifetimes_from_first

#: Fewer exposed customers give no hazard ratio (a Cox fit on a handful is noise).
MIN_EXPOSED_FOR_HR = 10
CHURN_COLUMNS = ("churn_hazard_ratio", "hr_ci_low", "hr_ci_high", "hr_p_value")
CONVERSION_COLUMNS = ("conversion_hazard_ratio", "conv_hr_ci_low", "conv_hr_ci_high",
                      "conv_hr_p_value")
#: Precomputed at import: the time of the customer's last event (any kind).
LAST_EVENT = "_last_timestamp"


def eligible(reached: pd.Series, outcome: list[str]) -> list[str]:
    """Touchpoints with a hazard ratio against ``outcome``: not an outcome touchpoint, with
    at least MIN_EXPOSED_FOR_HR customers (none without an outcome)."""
    if not outcome:
        return []
    return [tp for tp, n in reached.items() if tp not in outcome and n >= MIN_EXPOSED_FOR_HR]


def exposure_rows(firsts: nw.LazyFrame, touchpoints: list[str], since: str,
                  before: str | None = None) -> pd.DataFrame:
    """The first touches of ``touchpoints`` in ``firsts`` (see :func:`first_touch_tables`)
    as ``_key`` (the customer's number), ``_tp`` (the touchpoint as stored: an ENUM comes as
    categories) and ``days`` from column ``since`` to the touch, in pandas; rows without
    ``since`` are left out, and so are touches at or after column ``before`` (when given and
    set). Customers come as numbers and the days are computed in the engine: millions of
    text ids and times cost seconds to fetch and to convert."""
    if not touchpoints:
        return pd.DataFrame({"_key": pd.Series(dtype="int64"), "_tp": pd.Series(dtype=object),
                             "days": pd.Series(dtype="float64")})
    kept = nw.col("touchpoint").is_in(touchpoints) & ~nw.col(since).is_null()
    if before is not None:
        kept = kept & (nw.col(before).is_null() | (nw.col("_first_at") < nw.col(before)))
    rows = firsts.filter(kept).with_columns(nw.col("touchpoint").alias("_tp"))
    if getattr(rows.collect_schema()["_first_at"], "time_zone", None) is not None:
        # Zone-aware times: in pandas, in UTC (an engine may count local calendar days).
        out = to_pandas(rows.select("_key", "_tp", "_first_at", since))
        return out[["_key", "_tp"]].assign(days=_days(out["_first_at"], out[since]))
    # As _days does: microseconds to seconds, then to days (the same floats).
    days = seconds_between(rows, "_first_at", since) / 86_400
    return to_pandas(rows.select("_key", "_tp", days.alias("days")))


def first_touch_tables(ev: nw.LazyFrame, conversion: list[str], start_at: list[str]
                       ) -> tuple[nw.LazyFrame, nw.LazyFrame]:
    """One row per customer × touchpoint (``firsts``): the customer's number ``_key``, the
    touchpoint (as stored, and ``_tp`` as text), its first time ``_first_at``, whether before
    conversion (``_before``, ``_conv_with``), the customer's ``_start``, ``_churn_start`` and
    ``_converted_at``; and one row per customer (``people``): ``_start`` (first
    event), ``_conv_pos`` / ``_converted_at`` (place and time of the first conversion; the
    journey order follows time), ``_churn_start`` / ``_start_pos`` (time and place of the
    first ``start_at`` event; ``_churn_start`` is ``_start`` without ``start_at``) and, when
    ``ev`` has :data:`LAST_EVENT`, ``_last`` (the customer's last event of any kind)."""
    last = [nw.col(LAST_EVENT)] if LAST_EVENT in ev.collect_schema().names() else []
    if PREV_SAME_TOUCHPOINT in ev.collect_schema().names():
        # Precomputed at import: a first touch has no earlier event of its touchpoint (with a
        # time: ``ev`` has only events with one, and the first comes first in journey order).
        touched = ev.filter(nw.col(PREV_SAME_TOUCHPOINT).is_null()).select(
            "customer_id", "touchpoint", nw.col("_pos").alias("_first_pos"),
            nw.col("timestamp").alias("_first_at"), *last)
    else:
        touched = ev.group_by("customer_id", "touchpoint").agg(
            nw.col("_pos").min().alias("_first_pos"),
            nw.col("timestamp").min().alias("_first_at"), *[c.max() for c in last])
    # The touchpoint stays as stored (pandas gets an ENUM as categories, text as objects);
    # other types (numbers) become text, which the names given are.
    if not isinstance(ev.collect_schema()["touchpoint"], nw.Enum | nw.Categorical | nw.String):
        touched = touched.with_columns(nw.col("touchpoint").cast(nw.String))
    grouped = materialize(touched)

    def among(names: list[str], column: str) -> nw.Expr:
        hit = nw.col("touchpoint").is_in(names or [""]) & nw.lit(bool(names))
        return nw.when(hit).then(nw.col(column))

    people = materialize(grouped.with_columns(
        among(conversion, "_first_pos").alias("_cp"), among(conversion, "_first_at").alias("_ca"),
        among(start_at, "_first_at").alias("_sa"), among(start_at, "_first_pos").alias("_sp"),
    ).group_by("customer_id").agg(
        nw.col("_first_at").min().alias("_start"), nw.col("_cp").min().alias("_conv_pos"),
        nw.col("_ca").min().alias("_converted_at"), nw.col("_sa").min().alias("_churn_start"),
        nw.col("_sp").min().alias("_start_pos"),
        *[nw.col(LAST_EVENT).max().alias("_last") for _ in last],
    ).with_columns(nw.col("customer_id").rank("ordinal").cast(nw.Int64).alias("_key")))
    if not start_at:
        people = people.with_columns(nw.col("_start").alias("_churn_start"))
    conv = nw.col("_conv_pos")
    before = conv.is_null() | (nw.col("_first_pos") < conv)
    firsts = grouped.join(people, on="customer_id").select(  # what the scorecard reads
        "_key", "touchpoint", "_first_at", "_start", "_churn_start", "_converted_at",
        before.cast(nw.Int64).alias("_before"),
        (before & ~conv.is_null()).cast(nw.Int64).alias("_conv_with"))
    return materialize(firsts), people


def hazard_ratios(lf: nw.LazyFrame, ev: nw.LazyFrame, firsts: nw.LazyFrame,
                  people: nw.LazyFrame, reached: pd.Series, conversion: list[str],
                  churn: list[str], start_at: list[str]) -> pd.DataFrame:
    """The conversion and the churn hazard ratios (exposures.CONVERSION_COLUMNS and
    CHURN_COLUMNS), from one collection of the first touches both fit."""
    out = churn_hazards(lf, ev, firsts, people, reached, churn, start_at)
    spans = pd.DataFrame({"_key": pd.Series(dtype="int64"), "_start": [], "_converted_at": []})
    data_end, when = None, exposure_rows(firsts, [], "_start")
    if eligible(reached, conversion):
        data_end = ev.select(nw.col("timestamp").max()).collect().item()
        spans = to_pandas(people.select("_key", "_start", "_converted_at"))
        when = exposure_rows(firsts, eligible(reached, conversion), "_start", "_converted_at")
    return conversion_hazards(spans, when, reached, conversion, data_end).join(out)


def churn_hazards(lf: nw.LazyFrame, ev: nw.LazyFrame, firsts: nw.LazyFrame,
                  people: nw.LazyFrame, reached: pd.Series, churn: list[str],
                  start_at: list[str]) -> pd.DataFrame:
    """Churn hazard ratio of exposure from each touchpoint's first event.

    Lifetimes run from the first ``start_at`` event (the first event when empty) to the first
    churn event or the end of the data; a touch before the start counts from the start.
    ``ev``, ``firsts``, ``people``: the scorecard's events and :func:`first_touch_tables`.
    """
    out = pd.DataFrame(np.nan, index=reached.index, columns=list(CHURN_COLUMNS))
    fitted = eligible(reached, churn)
    if not fitted:
        return out
    if start_at and "_last" in people.collect_schema().names():
        lifetimes = churn_lifetimes(ev, people, churn)
    else:  # survival.churn_table's lifetimes, without its covariates (unused; slow on Spark)
        lifetimes = lifetimes_from_first(lf, start_at, churn_touchpoints=churn)
        lifetimes = lifetimes.assign(customer_id=_keys(people, lifetimes))
    if lifetimes.empty or not lifetimes["churned"].any():
        return out
    rows = exposure_rows(firsts, fitted, "_churn_start")
    return _fit_each(out, lifetimes, rows, rows["days"].to_numpy(dtype=float))


def churn_lifetimes(ev: nw.LazyFrame, people: nw.LazyFrame, churn: list[str]) -> pd.DataFrame:
    """``survival.lifetimes_from_first(events, start_at, churn_touchpoints=churn)`` from the
    scorecard's tables, with customers as their ``_key``: from the first ``start_at`` event
    (``people``' ``_churn_start`` at ``_start_pos``) to the first churn event at or after it
    in journey order, else censored at the last event of any kind of any customer with a
    lifetime (``_last``). Only the churn events are read."""
    starts = people.filter(~nw.col("_start_pos").is_null())
    churned = (ev.filter(nw.col("touchpoint").cast(nw.String).is_in(churn))
               .join(starts.select("customer_id", "_key", "_start_pos"), on="customer_id")
               .filter(nw.col("_pos") >= nw.col("_start_pos"))
               .group_by("_key").agg(nw.col("timestamp").min().alias("_churn_at")))
    per = to_pandas(starts.select("_key", "_churn_start", "_last")
                    .join(churned, on="_key", how="left"))
    start, churn_at = _micros(per["_churn_start"]), _micros(per["_churn_at"])
    by_touchpoint = ~np.isnat(churn_at)
    cutoff = _micros(per["_last"]).max() if len(per) else np.datetime64("NaT", "us")
    end = np.where(by_touchpoint, churn_at, cutoff)
    return pd.DataFrame({
        "customer_id": per["_key"].to_numpy(dtype="int64"),
        "duration_days": (end - start) / np.timedelta64(1, "s") / 86_400,
        "churned": by_touchpoint})


def _keys(people: nw.LazyFrame, lifetimes: pd.DataFrame) -> np.ndarray:
    """The ``_key`` of each lifetime's customer; customers without a scored event (no
    touchpoint) get keys of their own below zero, so they stay in the risk sets."""
    known = to_pandas(people.select("customer_id", "_key"))
    found = pd.Index(known["customer_id"].astype(str).to_numpy()).get_indexer(
        lifetimes["customer_id"].astype(str).to_numpy())
    keys = known["_key"].to_numpy(dtype="int64")
    return np.where(found >= 0, keys[found], -1 - np.arange(len(found), dtype="int64"))


def conversion_hazards(people: pd.DataFrame, when: pd.DataFrame, reached: pd.Series,
                       conversion: list[str], data_end: Any) -> pd.DataFrame:
    """Conversion hazard ratio of exposure from each touchpoint's first event.

    Each customer is followed from their first event to their first conversion (the event)
    or the end of the data (``data_end``, censored: they could still have converted until
    then); a touch at or after the conversion never counts. ``people``: customer_id,
    ``_start``, ``_converted_at`` per customer (``_key``: its number); ``when``: the
    touches before the conversion, in days from ``_start`` (:func:`exposure_rows`).
    """
    out = pd.DataFrame(np.nan, index=reached.index, columns=list(CONVERSION_COLUMNS))
    fitted = eligible(reached, conversion)
    if not fitted or not people["_converted_at"].notna().any():
        return out
    end = naive_utc(people["_converted_at"]).fillna(naive_utc(pd.Series([data_end]))[0])
    lifetimes = pd.DataFrame({"customer_id": people["_key"].astype("int64"),
                              "duration_days": _days(end, people["_start"]),
                              "churned": people["_converted_at"].notna().to_numpy()})
    return _fit_each(out, lifetimes, when, when["days"].to_numpy(dtype=float))


def _days(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    return (_micros(later) - _micros(earlier)) / np.timedelta64(1, "s") / 86_400


def _micros(values: pd.Series) -> np.ndarray:
    """naive_utc's times, without its copies when DuckDB already gave naive microseconds."""
    if values.dtype == np.dtype("datetime64[us]"):
        return values.to_numpy()
    return naive_utc(values).to_numpy()


def _fit_each(out: pd.DataFrame, lifetimes: pd.DataFrame, rows: pd.DataFrame,
              days: np.ndarray) -> pd.DataFrame:
    """One exposure model per touchpoint in ``rows`` (``_key``, ``_tp``) at ``days``, fitted
    together over the shared risk sets of ``lifetimes`` (keyed by ``_key``)."""
    # Touchpoints by number: grouping millions of rows by a number beats grouping by text.
    codes, names = pd.factorize(rows["_tp"])
    fits = exposure_hazards(lifetimes, pd.DataFrame(
        {"exposure": codes, "customer_id": rows["_key"].to_numpy(dtype="int64"), "days": days}))
    for code, fit in fits.items():
        if fit.exposed >= MIN_EXPOSED_FOR_HR and np.isfinite(fit.hazard_ratio):
            out.loc[names[code]] = (fit.hazard_ratio, fit.ci_low, fit.ci_high, fit.p_value)
    return out
