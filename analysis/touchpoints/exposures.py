"""Hazard ratios of having touched a touchpoint, for the scorecard: how much faster customers
churn, and how much faster they convert, once they have touched it.

Both are Cox models with the touch as a time-varying covariate (``survival.exposure_hazard``):
a customer counts as unexposed until their first event of the touchpoint and exposed from then
on, so the time before the touch is not credited to it (no immortal-time bias), and a touch that
recurs over a long journey is not mistaken for a cause of not converting.
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import naive_utc, to_pandas
from analysis.survival import customer_lifetimes, from_first
from analysis.survival.exposure import exposure_hazards

#: Fewer exposed customers give no hazard ratio (a Cox fit on a handful is noise).
MIN_EXPOSED_FOR_HR = 10
CHURN_COLUMNS = ("churn_hazard_ratio", "hr_ci_low", "hr_ci_high", "hr_p_value")
CONVERSION_COLUMNS = ("conversion_hazard_ratio", "conv_hr_ci_low", "conv_hr_ci_high",
                      "conv_hr_p_value")


def churn_hazards(lf: nw.LazyFrame, ev: nw.LazyFrame, firsts: nw.LazyFrame, reached: pd.Series,
                  churn: list[str], start_at: list[str]) -> pd.DataFrame:
    """Churn hazard ratio of exposure from each touchpoint's first event (one grouped query).

    Lifetimes run from the first ``start_at`` event (the first event when empty) to the first
    churn event or the end of the data; a touch before the start counts from the start.
    """
    out = pd.DataFrame(np.nan, index=reached.index, columns=list(CHURN_COLUMNS))
    eligible = [tp for tp, n in reached.items() if tp not in churn and n >= MIN_EXPOSED_FOR_HR]
    if not churn or not eligible:
        return out
    # survival.churn_table's lifetimes, without its covariates (unused; slow on Spark).
    population = from_first(lf, start_at) if start_at else lf
    lifetimes = customer_lifetimes(population, churn_touchpoints=churn)
    if lifetimes.empty or not lifetimes["churned"].any():
        return out
    lifetimes = lifetimes.assign(customer_id=lifetimes["customer_id"].astype(str))
    rows = firsts.filter(nw.col("_tp").is_in(eligible)).select("customer_id", "_tp", "_first_at")
    if start_at:
        starters = ev.filter(nw.col("_tp").is_in(start_at)).select("customer_id").unique()
        rows = rows.join(starters, on="customer_id", how="semi")
    when = to_pandas(rows).assign(customer_id=lambda f: f["customer_id"].astype(str))
    start = lifetimes.set_index("customer_id")["start"].reindex(when["customer_id"])
    when["_days"] = _days(when["_first_at"], start)
    return _fit_each(out, lifetimes, when)


def conversion_hazards(ev: nw.LazyFrame, firsts: nw.LazyFrame, reached: pd.Series,
                       conversion: list[str]) -> pd.DataFrame:
    """Conversion hazard ratio of exposure from each touchpoint's first event.

    Each customer is followed from their first event to their first conversion (the event)
    or the end of the data (censored: they could still have converted until then); a touch
    at or after the conversion never counts.
    """
    out = pd.DataFrame(np.nan, index=reached.index, columns=list(CONVERSION_COLUMNS))
    eligible = [tp for tp, n in reached.items()
                if tp not in conversion and n >= MIN_EXPOSED_FOR_HR]
    if not conversion or not eligible:
        return out
    converted_at = nw.when(nw.col("_pos") == nw.col("_conv_pos")).then(nw.col("timestamp"))
    spans = to_pandas(ev.group_by("customer_id").agg(
        nw.col("timestamp").min().alias("start"), nw.col("timestamp").max().alias("_last"),
        converted_at.min().alias("_converted_at")))
    spans["customer_id"] = spans["customer_id"].astype(str)
    end = naive_utc(spans["_converted_at"]).fillna(naive_utc(spans["_last"]).max())
    lifetimes = pd.DataFrame({"customer_id": spans["customer_id"],
                              "duration_days": _days(end, spans["start"]),
                              "churned": spans["_converted_at"].notna()})
    if not lifetimes["churned"].any():
        return out
    rows = firsts.filter(nw.col("_tp").is_in(eligible)).select("customer_id", "_tp", "_first_at")
    when = to_pandas(rows).assign(customer_id=lambda f: f["customer_id"].astype(str))
    start = spans.set_index("customer_id")["start"].reindex(when["customer_id"])
    when["_days"] = _days(when["_first_at"], start)
    return _fit_each(out, lifetimes, when)


def _days(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    return ((naive_utc(later).to_numpy() - naive_utc(earlier).to_numpy())
            / np.timedelta64(1, "s") / 86_400)


def _fit_each(out: pd.DataFrame, lifetimes: pd.DataFrame, when: pd.DataFrame) -> pd.DataFrame:
    """One exposure model per touchpoint in ``when`` (customer_id, _tp, _days), fitted
    together over the shared risk sets."""
    fits = exposure_hazards(lifetimes, pd.DataFrame(
        {"exposure": when["_tp"].astype(str).to_numpy(), "customer_id": when["customer_id"],
         "days": when["_days"]}))
    for tp, fit in fits.items():
        if fit.exposed >= MIN_EXPOSED_FOR_HR and np.isfinite(fit.hazard_ratio):
            out.loc[tp] = (fit.hazard_ratio, fit.ci_low, fit.ci_high, fit.p_value)
    return out
