"""The reach trend of the touchpoint scorecard: each touchpoint's share of active customers
over the last periods, and which touchpoints are losing reach (fading).

The distinct customers per touchpoint and period are counted once, for as many periods as a
trend may ask (:data:`STORED_PERIODS`) and for both kinds of period (:func:`reach_counts`);
a trend over other periods is then sliced from those counts without reading the events again
(:func:`trend_from_counts`)."""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from analysis import stats
from analysis.frames import naive_utc, to_pandas
from analysis.journeys import uses_precomputed
from analysis.precompute import PREV_SAME_TOUCHPOINT

#: Fading: reach_trend ≤ FADING_DROP, ≥ FADING_MIN_CUSTOMERS distinct customers in the earlier half.
FADING_DROP = -0.30
FADING_MIN_CUSTOMERS = 20
TREND_COLUMNS: tuple[str, ...] = ("touchpoint", "period", "customers", "active", "reach")
#: Periods counted ahead for a later trend (the page offers up to 24).
STORED_PERIODS = 24
#: reach_counts: period (kind), _period (key), _tp (None: any touchpoint, the active
#: customers), customers (distinct).
COUNT_COLUMNS: tuple[str, ...] = ("period", "_period", "_tp", "customers")
#: Precomputed at import: the time of the customer's next step (any touchpoint) and of their
#: previous event of the same touchpoint. With them, an event is its customer's last one of
#: the period when the next step falls in another period or there is none, and their first
#: one of the touchpoint in the period when the previous one does; distinct customers are a
#: count of those events, with no distinct count.
NEIGHBOUR_TIMES: tuple[str, ...] = ("_next_timestamp", PREV_SAME_TOUCHPOINT)


def trend_events(lf: nw.LazyFrame) -> nw.LazyFrame:
    """customer_id, timestamp and touchpoint of the events the scorecard scores (no missing
    touchpoint, customer or time), all :func:`reach_trend` needs; and the neighbouring times
    precomputed at import (:data:`NEIGHBOUR_TIMES`) when ``lf`` has them for whole journeys."""
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    neighbours = list(NEIGHBOUR_TIMES) if neighbour_times_usable(lf) else []
    lf = lf.filter(*[~nw.col(c).is_null() for c in ("touchpoint", "customer_id", "timestamp")])
    return lf.select("customer_id", "timestamp", "touchpoint", *neighbours)


def neighbour_times_usable(lf: nw.LazyFrame) -> bool:
    """Whether ``lf`` carries :data:`NEIGHBOUR_TIMES` that describe its whole journeys."""
    names = lf.collect_schema().names()
    return all(c in names for c in NEIGHBOUR_TIMES) and uses_precomputed(lf)


def as_text(lf: nw.LazyFrame, columns: dict[str, str]) -> nw.LazyFrame:
    """``lf`` with ``columns`` (grouped by as stored: an ENUM groups faster than text) cast
    to text under their new names."""
    return lf.with_columns(nw.col(c).cast(nw.String).alias(new) for c, new in columns.items()
                           ).drop(list(columns))


def _keyed(ev: nw.LazyFrame, period: str) -> nw.LazyFrame:
    return ev.with_columns(stats.period_key("timestamp", period, ev).alias("_period"))


def _plain(keys: pd.Series) -> list:
    """Plain Python values (datetime, int, float), which every engine compares with."""
    return [v.to_pydatetime() for v in keys] if keys.dtype.kind == "M" else keys.tolist()


def reach_counts(ev: nw.LazyFrame, period: str, periods: int) -> pd.DataFrame:
    """Distinct customers per touchpoint and period (and active customers, any touchpoint),
    in the last ``periods`` periods with events: :data:`COUNT_COLUMNS`, sorted by period."""
    return period_counts(ev, {period: periods})


def period_counts(ev: nw.LazyFrame, wanted: dict[str, int]) -> pd.DataFrame:
    """:func:`reach_counts` of each period kind in ``wanted`` (kind: periods), one after the
    other. With the precomputed neighbouring times, one grouped query counts every kind."""
    if not all(c in ev.collect_schema().names() for c in NEIGHBOUR_TIMES):  # see trend_events
        return pd.concat([_distinct_counts(ev, kind, n) for kind, n in wanted.items()],
                         ignore_index=True)
    flags, keys = [], []
    for i, kind in enumerate(wanted):
        key = stats.period_key("timestamp", kind, ev)
        keys.append(key.alias(f"_p{i}"))
        flags += [_alone_in_period("_next_timestamp", kind, ev, key).cast(nw.Int64).sum()
                  .alias(f"_a{i}"),
                  _alone_in_period(PREV_SAME_TOUCHPOINT, kind, ev, key).cast(nw.Int64).sum()
                  .alias(f"_t{i}")]
    # An event is its customer's last step of the period (_a) or their first touch of the
    # touchpoint in it (_t); every event has one touchpoint, so active customers per period
    # are the sum of _a over the touchpoints.
    grouped = to_pandas(as_text(ev.group_by("touchpoint", *keys).agg(*flags),
                                {"touchpoint": "_tp"}))
    parts = []
    for i, (kind, periods) in enumerate(wanted.items()):
        active = grouped.groupby(f"_p{i}")[f"_a{i}"].sum()
        active = active[active > 0].sort_index().iloc[-periods:]
        per = grouped.groupby(["_tp", f"_p{i}"])[f"_t{i}"].sum().reset_index()
        per = per[(per[f"_t{i}"] > 0) & (per[f"_p{i}"] >= active.index[0])] if len(
            active) else per.iloc[:0]
        parts += [pd.DataFrame({"period": kind, "_period": active.index, "_tp": None,
                                "customers": active.to_numpy()}),
                  pd.DataFrame({"period": kind, "_period": per[f"_p{i}"].to_numpy(),
                                "_tp": per["_tp"].to_numpy(), "customers": per[f"_t{i}"]
                                .to_numpy()})]
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"customers": "int64"})[list(COUNT_COLUMNS)]


def _distinct_counts(ev: nw.LazyFrame, period: str, periods: int) -> pd.DataFrame:
    """:func:`reach_counts` by distinct counts (without the neighbouring times)."""
    keyed = _keyed(ev, period)
    distinct = nw.col("customer_id").n_unique().alias("customers")
    active = to_pandas(keyed.group_by("_period").agg(distinct)).sort_values(
        "_period").iloc[-periods:]
    per = keyed.group_by("touchpoint", "_period").agg(distinct)
    per = to_pandas(as_text(per.filter(nw.col("_period") >= _plain(active["_period"])[0]),
                            {"touchpoint": "_tp"}))
    out = pd.concat([active.assign(_tp=None), per], ignore_index=True)
    out = out.assign(period=period, customers=out["customers"].astype("int64"))
    return out[list(COUNT_COLUMNS)].reset_index(drop=True)


def _alone_in_period(column: str, period: str, ev: nw.LazyFrame, key: nw.Expr) -> nw.Expr:
    """Whether the other time in ``column`` is missing or in another period than the
    event's (``key``)."""
    other = stats.period_key(column, period, ev)
    return nw.when(nw.col(column).is_null()).then(nw.lit(True)).otherwise(other != key)


def reach_trend(ev: nw.LazyFrame, period: str, periods: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reach per touchpoint in the last ``periods`` periods with events; reach_trend, fading."""
    return trend_from_counts(reach_counts(ev, period, periods), ev, period, periods)


def trend_from_counts(counts: pd.DataFrame, ev: nw.LazyFrame, period: str, periods: int
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`reach_trend` from the :func:`reach_counts` of ``period`` (at least ``periods``
    of them, or all the data has). ``ev`` is read only when the per-period counts cannot tell
    whether a fading touchpoint had enough customers in the earlier half."""
    counts = counts[counts["period"] == period].infer_objects()
    is_active = counts["_tp"].isna()
    active = counts.loc[is_active, ["_period", "customers"]].rename(
        columns={"customers": "active"}).sort_values("_period").iloc[-periods:]
    keys = _plain(active["_period"])
    half = min(periods, len(active)) // 2
    per = counts.loc[~is_active & counts["_period"].isin(active["_period"]),
                     ["_tp", "_period", "customers"]]
    per = per[per["customers"] > 0]
    grid = pd.MultiIndex.from_product([sorted(per["_tp"].unique()), keys],
                                      names=["_tp", "_period"])
    trend = (per.set_index(["_tp", "_period"])["customers"].reindex(grid, fill_value=0)
             .reset_index().merge(active, on="_period"))
    trend["reach"] = trend["customers"] / trend["active"]
    wide = trend.pivot(index="_tp", columns="_period", values="reach")[keys]
    early = wide.iloc[:, :half].mean(axis=1).where(lambda m: m > 0) if half else np.nan
    change = (wide.iloc[:, len(keys) - half:].mean(axis=1) / early - 1).rename("reach_trend")
    fading = (change <= FADING_DROP) & bool(half)
    if half and fading.any():
        enough = _enough_early(ev, trend, keys[:half], period, fading[fading].index)
        fading = fading & enough.reindex(fading.index, fill_value=False)
    trend["period"] = naive_utc(stats.period_start(trend["_period"], period)).to_numpy()
    trend = trend.rename(columns={"_tp": "touchpoint"})[list(TREND_COLUMNS)]
    facts = pd.DataFrame({"reach_trend": change, "fading": fading}).rename_axis("touchpoint")
    return trend.astype({"customers": "int64", "active": "int64"}), facts


def _enough_early(ev: nw.LazyFrame, trend: pd.DataFrame, early: list, period: str,
                  candidates: pd.Index) -> pd.Series:
    """Whether each candidate had ≥ FADING_MIN_CUSTOMERS distinct customers over the
    ``early`` periods. The busiest period alone reaching it, or all of them together falling
    short, decides; only the touchpoints in between are counted in the events."""
    part = trend[trend["_period"].isin(early) & trend["_tp"].isin(candidates)]
    counts = part.groupby("_tp")["customers"].agg(["max", "sum"]).reindex(candidates)
    enough = counts["max"] >= FADING_MIN_CUSTOMERS
    unsure = candidates[~enough & (counts["sum"] >= FADING_MIN_CUSTOMERS)]
    if len(unsure):
        keyed = _keyed(ev, period)
        seen = to_pandas(keyed.filter(nw.col("_period") >= early[0],
                                      nw.col("_period") <= early[-1],
                                      nw.col("touchpoint").cast(nw.String).is_in(list(unsure)))
                         .group_by("touchpoint").agg(nw.col("customer_id").n_unique().alias("_n")))
        seen = seen.assign(_tp=seen.pop("touchpoint").astype(str))
        exact = seen.set_index("_tp")["_n"].reindex(unsure).fillna(0)
        enough.loc[unsure] = exact >= FADING_MIN_CUSTOMERS
    return enough.reindex(candidates).fillna(False).astype(bool)
