"""What a pain point costs, from the journeys: churn hazard ratio, conversion impact, revenue.

The events are reduced in their engine to one row per customer (converted, revenue and, for
each touchpoint of the matrix, whether the customer reached it). Only two things leave the
engine: per touchpoint, how many customers reached it and how many of those converted; and
the rows of the customers who wrote feedback. Everything per matrix row is then counted on
those, so no million-customer table is built or searched in pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import materialize, naive_utc, to_lazy, to_pandas
from analysis.journeys import uses_precomputed
from analysis.precompute import vouch_intact
from analysis.survival.exposure import exposure_hazards
from analysis.survival.lifetimes import lifetimes_from_first

#: Rows whose topic was raised by fewer customers get no hazard ratio (too few to fit).
MIN_CUSTOMERS_FOR_HR = 10
#: Hazard ratios are fitted for at most this many rows (the most customers first).
MAX_HR_ROWS = 40

# A fixed query: the raisers' ids are read by DuckDB from the local pandas frame
# ``raiser_ids`` (a replacement scan); no value of the data is written into SQL text.
_RAISERS_SQL = ("SELECT * FROM per_customer WHERE CAST(customer_id AS VARCHAR) IN "
                "(SELECT customer_id FROM raiser_ids)")
# Only column names and whole numbers (bit masks) are written into this query's text.
_MASK_SQL = ("SELECT customer_id, {columns} FROM (SELECT customer_id, "
             "bit_or(CAST(1 AS UBIGINT) << enum_code(touchpoint)) AS _mask{revenue} "
             "FROM events GROUP BY customer_id)")


def journey_terms(matrix: pd.DataFrame, comments: pd.DataFrame, events: Any,
                  churn: list[str], conversion: list[str], start_at: list[str]) -> pd.DataFrame:
    """``matrix`` with churn_hazard_ratio (and interval), conversion_impact and
    revenue_at_risk filled in from the events (see :func:`analysis.painpoints.priority_matrix`)."""
    if "customer_id" not in comments:
        return matrix
    matrix = matrix.copy()
    raisers = _raisers(comments)
    measured = [t for t in pd.unique(matrix["touchpoint"])
                if conversion and t not in conversion]
    facts, reached = _customer_facts(events, conversion, measured, raisers)
    rows = raisers.merge(facts, on="customer_id", how="inner")
    if "revenue" in facts:
        negative = rows[rows["negative"]]
        revenue = negative.groupby(["touchpoint", "topic_id"])["revenue"].sum()
        matrix["_revenue"] = _lookup(matrix, revenue).fillna(0.0)
    if measured:
        matrix["conversion_impact"] = _conversion_impact(matrix, rows, reached, measured)
    if churn:
        _hazards(matrix, comments, events, churn, start_at)
    if "_revenue" in matrix:
        # The share of the raisers' churn the problem accounts for, (HR − 1) / HR, applied
        # to their revenue: a problem whose raisers churn less puts nothing at risk.
        hr = matrix["churn_hazard_ratio"]
        matrix["revenue_at_risk"] = matrix["_revenue"] * ((hr - 1) / hr).clip(lower=0)
    return matrix


def events_of_customers(events: Any, customers: Sequence[str]) -> nw.LazyFrame:
    """The events of ``customers`` (ids as text), e.g. to draw the journeys of those who
    raised a pain point.

    Whole journeys are kept, so journey columns precomputed at import stay valid: when the
    events' were, the result is vouched for (:func:`analysis.precompute.vouch_intact`) and
    not scanned again to check them.
    """
    lf = to_lazy(events)
    mine = lf.filter(nw.col("customer_id").cast(nw.String).is_in(list(customers)))
    return vouch_intact(mine) if uses_precomputed(lf) else mine


def _raisers(comments: pd.DataFrame) -> pd.DataFrame:
    """One row per (touchpoint, topic_id, customer_id): the customers who raised each row,
    ``negative`` when at least one of their comments on it was negative."""
    rows = comments.dropna(subset=["customer_id"])
    frame = pd.DataFrame({"touchpoint": rows["touchpoint"].to_numpy(),
                          "topic_id": rows["topic_id"].to_numpy(),
                          "customer_id": rows["customer_id"].astype(str).to_numpy(),
                          "negative": (rows["sentiment"] == "negative").to_numpy()})
    return (frame.groupby(["touchpoint", "topic_id", "customer_id"], sort=False)["negative"]
            .any().reset_index())


def _customer_facts(events: Any, conversion: list[str], measured: list,
                    raisers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per raising customer (with events): ``converted``, ``revenue`` and ``_r{i}`` (reached
    ``measured[i]``); and per measured touchpoint, ``reached`` (customers) and
    ``reached_converted``."""
    per = materialize(_per_customer(to_lazy(events), conversion, measured))
    flags = [f"_r{i}" for i in range(len(measured))]
    reached = pd.DataFrame({"reached": [], "reached_converted": []})
    if flags:
        sums = per.select(
            *[nw.col(f).cast(nw.Int64).sum().alias(f"n{f}") for f in flags],
            *[(nw.col(f) * nw.col("converted")).cast(nw.Int64).sum().alias(f"c{f}")
              for f in flags]).collect().to_pandas().iloc[0]
        reached = pd.DataFrame({"reached": [sums[f"n{f}"] for f in flags],
                                "reached_converted": [sums[f"c{f}"] for f in flags]},
                               index=measured).fillna(0).astype(float)
    facts = _of_raisers(per, raisers["customer_id"].unique())
    facts["customer_id"] = facts["customer_id"].astype(str)
    return facts, reached


def _per_customer(lf: nw.LazyFrame, conversion: list[str], measured: list) -> nw.LazyFrame:
    """One row per customer: customer_id, converted, revenue (when the events have it) and
    ``_r{i}``, 1 when they reached ``measured[i]`` (0/1, null for a customer without any
    touchpoint)."""
    revenue = "revenue" in lf.collect_schema().names()
    codes = _touchpoint_codes(lf)
    if codes is not None:
        # One bit per touchpoint, OR-ed per customer: one aggregate instead of one
        # comparison of the touchpoint as text per measured touchpoint and event.
        sql = _MASK_SQL.format(
            revenue=", COALESCE(sum(CAST(revenue AS DOUBLE)), 0) AS revenue" if revenue else "",
            columns=", ".join([
                f"CAST((_mask & {_bits(codes, conversion)}) <> 0 AS TINYINT) AS converted",
                *(["revenue"] if revenue else []),
                *(f"CAST((_mask & {_bits(codes, [t])}) <> 0 AS TINYINT) AS _r{i}"
                  for i, t in enumerate(measured))]))
        return nw.from_native(lf.to_native().query("events", sql))
    tp = nw.col("touchpoint").cast(nw.String)
    aggs = [tp.is_in(conversion or [""]).cast(nw.Int8).max().alias("converted")]
    if revenue:
        aggs.append(nw.col("revenue").cast(nw.Float64).sum().alias("revenue"))
    aggs += [(tp == str(t)).cast(nw.Int8).max().alias(f"_r{i}")
             for i, t in enumerate(measured)]
    return lf.group_by("customer_id").agg(*aggs)


def _touchpoint_codes(lf: nw.LazyFrame) -> dict[str, int] | None:
    """Each touchpoint's ENUM code on DuckDB when there are at most 64 (bits of a UBIGINT);
    None otherwise."""
    categories = getattr(lf.collect_schema()["touchpoint"], "categories", None)
    if lf.implementation is not nw.Implementation.DUCKDB or not categories or len(
            categories) > 64:
        return None
    return {str(c): i for i, c in enumerate(categories)}


def _bits(codes: dict[str, int], names: list) -> int:
    """The mask of ``names`` (0 for names that are no touchpoint of the events)."""
    return sum(1 << codes[name] for name in dict.fromkeys(map(str, names)) if name in codes)


def _of_raisers(per: nw.LazyFrame, ids: np.ndarray) -> pd.DataFrame:
    """The rows of ``per`` (one per customer) whose customer_id (as text) is in ``ids``."""
    if per.implementation is nw.Implementation.DUCKDB:
        raiser_ids = pd.DataFrame({"customer_id": ids.astype(object)})  # noqa: F841 (read by SQL)
        return per.to_native().query("per_customer", _RAISERS_SQL).df()
    return to_pandas(per.filter(nw.col("customer_id").cast(nw.String).is_in(list(ids))))


def _lookup(matrix: pd.DataFrame, values: pd.Series) -> pd.Series:
    """``values`` (indexed by touchpoint, topic_id) aligned with the matrix rows."""
    if values.empty:
        return pd.Series(np.nan, index=matrix.index)
    keys = pd.MultiIndex.from_frame(matrix[["touchpoint", "topic_id"]])
    return pd.Series(values.reindex(keys).to_numpy(), index=matrix.index)


def _conversion_impact(matrix: pd.DataFrame, rows: pd.DataFrame, reached: pd.DataFrame,
                       measured: list) -> pd.Series:
    """Conversion of the raisers minus that of the other customers who reached the row's
    touchpoint (NaN at a conversion touchpoint, or without raisers or others)."""
    if rows.empty:
        return pd.Series(np.nan, index=matrix.index)
    column = pd.Series(np.arange(len(measured)), index=measured)
    at = column.reindex(rows["touchpoint"]).to_numpy()
    flags = rows[[f"_r{i}" for i in range(len(measured))]].to_numpy(dtype=float)
    known = ~np.isnan(at)
    hit = np.zeros(len(rows))
    hit[known] = flags[np.flatnonzero(known), at[known].astype(int)]
    converted = rows["converted"].astype(float)
    stats = rows[["touchpoint", "topic_id"]].assign(
        n=1.0, conv=converted, rated=converted.notna().astype(float),
        hit=hit, hit_conv=hit * converted.fillna(0.0)
    ).groupby(["touchpoint", "topic_id"]).sum()
    stats = stats.reindex(pd.MultiIndex.from_frame(matrix[["touchpoint", "topic_id"]]))
    tp = reached.reindex(matrix["touchpoint"])
    others = tp["reached"].to_numpy() - stats["hit"].to_numpy()
    other_conv = tp["reached_converted"].to_numpy() - stats["hit_conv"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        impact = stats["conv"].to_numpy() / stats["rated"].to_numpy() - other_conv / others
    valid = (stats["n"].to_numpy() > 0) & (others > 0) & matrix["touchpoint"].isin(
        measured).to_numpy()
    return pd.Series(np.where(valid, impact, np.nan), index=matrix.index)


def _hazards(matrix: pd.DataFrame, comments: pd.DataFrame, events: Any, churn: list[str],
             start_at: list[str]) -> None:
    """Each row's churn hazard ratio: customers count as exposed from their first comment on
    the topic at the touchpoint (a time-varying covariate, so the time they had to survive
    before complaining is not credited to the complaint)."""
    # survival.churn_table's lifetimes without its journey covariates, unused here.
    table = lifetimes_from_first(events, start_at, churn_touchpoints=churn)
    if table.empty or table["churned"].sum() == 0 or "timestamp" not in comments:
        return
    said = comments.dropna(subset=["customer_id", "timestamp"])
    firsts = pd.DataFrame({"touchpoint": said["touchpoint"].to_numpy(),
                           "topic_id": said["topic_id"].to_numpy(),
                           "customer_id": said["customer_id"].astype(str).to_numpy(),
                           "when": said["timestamp"].to_numpy()}).groupby(
        ["touchpoint", "topic_id", "customer_id"])["when"].min().reset_index()
    order = matrix.sort_values("customers", ascending=False).index[:MAX_HR_ROWS]
    rows = matrix.loc[[i for i in order if matrix.at[i, "customers"] >= MIN_CUSTOMERS_FOR_HR],
                      ["touchpoint", "topic_id"]]
    exposed = rows.rename_axis("exposure").reset_index().merge(
        firsts, on=["touchpoint", "topic_id"], how="inner")
    ids = pd.Index(table["customer_id"].astype(str).to_numpy())
    at = ids.get_indexer(exposed["customer_id"].to_numpy())
    exposed = exposed[at >= 0]
    if exposed.empty:
        return
    starts = naive_utc(table["start"].to_numpy()[at[at >= 0]])
    days = (naive_utc(exposed["when"]).to_numpy() - starts.to_numpy()) / np.timedelta64(1, "s")
    parts = pd.DataFrame({"exposure": exposed["exposure"].to_numpy(),
                          "customer_id": exposed["customer_id"].to_numpy(),
                          "days": days / 86_400})
    for i, fit in exposure_hazards(table, parts).items():
        if fit.exposed >= MIN_CUSTOMERS_FOR_HR and np.isfinite(fit.hazard_ratio):
            matrix.loc[i, ["churn_hazard_ratio", "hr_ci_low", "hr_ci_high"]] = (
                fit.hazard_ratio, fit.ci_low, fit.ci_high)
