"""The reach trend of the touchpoint scorecard: each touchpoint's share of active customers
over the last periods, and which touchpoints are losing reach (fading)."""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from analysis import stats
from analysis.frames import naive_utc, to_pandas

#: Fading: reach_trend ≤ FADING_DROP, ≥ FADING_MIN_CUSTOMERS distinct customers in the earlier half.
FADING_DROP = -0.30
FADING_MIN_CUSTOMERS = 20
TREND_COLUMNS: tuple[str, ...] = ("touchpoint", "period", "customers", "active", "reach")


def trend_events(lf: nw.LazyFrame) -> nw.LazyFrame:
    """customer_id, timestamp and ``_tp`` (touchpoint as text) of the events the scorecard
    scores (no missing touchpoint, customer or time), all :func:`reach_trend` needs."""
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    lf = lf.filter(*[~nw.col(c).is_null() for c in ("touchpoint", "customer_id", "timestamp")])
    return lf.select("customer_id", "timestamp", nw.col("touchpoint").cast(nw.String).alias("_tp"))


def reach_trend(ev: nw.LazyFrame, period: str, periods: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reach per touchpoint in the last ``periods`` periods with events; reach_trend, fading."""
    keyed = ev.with_columns(stats.period_key("timestamp", period, ev).alias("_period"))
    active = to_pandas(keyed.group_by("_period").agg(
        nw.col("customer_id").n_unique().alias("active"))).sort_values("_period")
    recent, half = active["_period"].iloc[-periods:], min(periods, len(active)) // 2
    # Plain Python values (datetime, int, float), which every engine compares with.
    keys = [v.to_pydatetime() for v in recent] if recent.dtype.kind == "M" else recent.tolist()
    lo, hi = keys[0], keys[max(half - 1, 0)]
    per = to_pandas(keyed.filter(nw.col("_period") >= lo).group_by("_tp", "_period").agg(
        nw.col("customer_id").n_unique().alias("customers")))
    grid = pd.MultiIndex.from_product([sorted(per["_tp"].unique()), keys],
                                      names=["_tp", "_period"])
    trend = (per.set_index(["_tp", "_period"])["customers"].reindex(grid, fill_value=0)
             .reset_index().merge(active, on="_period"))
    trend["reach"] = trend["customers"] / trend["active"]
    wide = trend.pivot(index="_tp", columns="_period", values="reach")[keys]
    early = wide.iloc[:, :half].mean(axis=1).where(lambda m: m > 0) if half else np.nan
    change = (wide.iloc[:, len(keys) - half:].mean(axis=1) / early - 1).rename("reach_trend")
    seen = to_pandas(keyed.filter(nw.col("_period") >= lo, nw.col("_period") <= hi)
                     .group_by("_tp").agg(nw.col("customer_id").n_unique().alias("_n")))
    seen = seen.set_index("_tp")["_n"].reindex(change.index).fillna(0)
    fading = (change <= FADING_DROP) & (seen >= FADING_MIN_CUSTOMERS) & bool(half)
    trend["period"] = naive_utc(stats.period_start(trend["_period"], period)).to_numpy()
    trend = trend.rename(columns={"_tp": "touchpoint"})[list(TREND_COLUMNS)]
    facts = pd.DataFrame({"reach_trend": change, "fading": fading}).rename_axis("touchpoint")
    return trend.astype({"customers": "int64", "active": "int64"}), facts


