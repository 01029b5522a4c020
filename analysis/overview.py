"""What a dataset holds and its headline KPIs (conversion, churn, NPS, CSAT, CES, revenue)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import narwhals as nw
import pandas as pd

from analysis.definitions import (
    churn_touchpoints,
    churned,
    conversion_touchpoints,
    present_touchpoints,
)
from analysis.frames import as_int, canonical, to_lazy
from analysis.stats import (
    DETRACTOR_MAX,
    PROMOTER_MIN,
    SATISFIED_MIN,
    period_key,
    period_start,
)


@dataclass(frozen=True)
class Overview:
    """Headline numbers of an events table (and its feedback) after filters.

    Rates are shares of customers in the filtered events: ``conversion_rate`` = customers
    with a conversion touchpoint / customers; ``churn_rate`` = customers with a churn
    touchpoint / customers. ``nps`` = % promoters (9–10) − % detractors (0–6) of NPS answers;
    ``csat`` = share of CSAT answers scoring 4 or 5; ``ces`` = mean CES answer (1–7).
    A KPI is None when its inputs are absent; ``messages`` says why.
    """

    customers: int
    events: int
    first: datetime | None
    last: datetime | None
    touchpoints: int
    channels: int | None
    revenue: float | None
    conversion_touchpoints: tuple[str, ...]
    conversion_rate: float | None
    churn_touchpoints: tuple[str, ...]
    churn_rate: float | None
    feedback: int | None
    nps: float | None
    nps_responses: int
    csat: float | None
    csat_responses: int
    ces: float | None
    ces_responses: int
    messages: tuple[str, ...] = field(default=())
    inactivity_days: int | None = None


def dataset_overview(
    events: Any,
    feedback: Any = None,
    *,
    conversion: list[str] | None = None,
    churn: list[str] | None = None,
    inactivity_days: int | None = None,
) -> Overview:
    """Compute the home-page overview.

    Parameters
    ----------
    events
        Events in canonical columns (any supported frame), filters already applied.
    feedback
        Optional feedback in canonical columns.
    conversion, churn
        Touchpoints that count as conversion / churn; by default detected from their names.
    inactivity_days
        Customers inactive longer than this before the data ends also count as churned.
    """
    lf = canonical(events, "events")
    names = lf.collect_schema().names()
    # Customers are counted by the per-customer pass below, with their conversion and churn:
    # a distinct count here would be a second pass over every customer id.
    exprs = [
        nw.len().alias("events"),
        nw.col("timestamp").min().alias("first"),
        nw.col("timestamp").max().alias("last"),
        nw.col("touchpoint").n_unique().alias("touchpoints"),
    ]
    if "channel" in names:
        # n_unique counts null as a value; a missing channel is not a channel.
        exprs.append(
            (nw.col("channel").n_unique() - nw.col("channel").is_null().any().cast(nw.Int64))
            .alias("channels")
        )
    if "revenue" in names:
        exprs.append(nw.col("revenue").cast(nw.Float64).sum().alias("revenue"))
    stats = lf.select(*exprs).collect().to_pandas().iloc[0]
    # Only a guess needs the touchpoints' names (a distinct scan of every event).
    present = present_touchpoints(lf) if conversion is None or churn is None else []
    messages: list[str] = []
    conv = tuple(conversion) if conversion is not None else tuple(conversion_touchpoints(present))
    chrn = tuple(churn) if churn is not None else tuple(churn_touchpoints(present))
    customers, conversion_rate, churn_rate = _customer_rates(lf, conv, chrn, inactivity_days)
    fb = feedback_kpis(feedback)
    if customers == 0:
        messages.append("No events match the filters: widen the date range or clear filters.")
    return Overview(
        customers=customers,
        events=as_int(stats["events"]),
        first=_ts(stats["first"]),
        last=_ts(stats["last"]),
        touchpoints=as_int(stats["touchpoints"]),
        channels=as_int(stats["channels"]) if "channels" in stats else None,
        revenue=float(stats["revenue"]) if "revenue" in stats and pd.notna(stats["revenue"])
        else None,
        conversion_touchpoints=conv,
        conversion_rate=conversion_rate,
        churn_touchpoints=chrn,
        churn_rate=churn_rate,
        inactivity_days=inactivity_days,
        messages=tuple(messages + fb.pop("messages")),
        **fb,
    )


def _customer_rates(
    lf: nw.LazyFrame, conversion: tuple[str, ...], churn: tuple[str, ...],
    inactivity_days: int | None,
) -> tuple[int, float | None, float | None]:
    """Customers (a missing id counts as one, as in ``n_unique``), and the shares of them
    with a conversion touchpoint and who churned, in one pass grouped by customer.

    A share is None without its touchpoints (churn: nor ``inactivity_days``) or customers.
    """
    tp = nw.col("touchpoint").cast(nw.String)
    flags = [nw.len().alias("_events")]
    if conversion:
        flags.append(tp.is_in(list(conversion)).cast(nw.Int64).max().alias("_converted"))
    churn_known = bool(churn) or inactivity_days is not None
    if churn_known:
        flags.append(churned(lf, churn, inactivity_days).alias("_churned"))
    sums = [nw.col(c).sum().alias(c) for c, used in (("_converted", conversion),
                                                      ("_churned", churn_known)) if used]
    row = (lf.group_by("customer_id").agg(*flags)
           .select(nw.len().alias("customers"), *sums).collect().to_pandas().iloc[0])
    customers = as_int(row["customers"])
    if customers == 0:
        return 0, None, None
    conv = as_int(row["_converted"]) / customers if conversion else None
    return customers, conv, as_int(row["_churned"]) / customers if churn_known else None


def feedback_kpis(feedback: Any) -> dict[str, Any]:
    """Feedback count, NPS, CSAT (top-2-box share) and CES (mean) with response counts.

    The score thresholds are analysis.stats', shared with the Experiments KPIs, so Home
    and an experiment read the same answers the same way."""
    out: dict[str, Any] = {
        "feedback": None, "nps": None, "nps_responses": 0, "csat": None, "csat_responses": 0,
        "ces": None, "ces_responses": 0, "messages": [],
    }
    if feedback is None:
        return out
    fb = to_lazy(feedback)
    names = fb.collect_schema().names()
    out["feedback"] = int(fb.select(nw.len()).collect().item())
    if "score" not in names or "scale" not in names:
        out["messages"].append("The feedback has no scores, so NPS, CSAT and CES are not shown.")
        return out
    score = nw.col("score")
    by_scale = (
        fb.filter(~score.is_null() & ~nw.col("scale").is_null())
        .group_by("scale")
        .agg(
            nw.len().cast(nw.Float64).alias("n"),
            score.mean().alias("mean"),
            (score >= PROMOTER_MIN).cast(nw.Float64).sum().alias("promoters"),
            (score <= DETRACTOR_MAX).cast(nw.Float64).sum().alias("detractors"),
            (score >= SATISFIED_MIN).cast(nw.Float64).sum().alias("top2"),
        )
        .collect()
        .to_pandas()
        .set_index("scale")
    )
    if "nps" in by_scale.index:
        r = by_scale.loc["nps"]
        out["nps"] = 100.0 * (r["promoters"] - r["detractors"]) / r["n"]
        out["nps_responses"] = int(r["n"])
    if "csat" in by_scale.index:
        r = by_scale.loc["csat"]
        out["csat"] = float(r["top2"]) / r["n"]
        out["csat_responses"] = int(r["n"])
    if "ces" in by_scale.index:
        r = by_scale.loc["ces"]
        out["ces"] = float(r["mean"])
        out["ces_responses"] = int(r["n"])
    return out


def weekly_activity(events: Any, *, by: str | None = "channel") -> pd.DataFrame:
    """Active customers and events per ISO week (Monday start), optionally per ``by``.

    Returns
    -------
    DataFrame with columns week, [by], customers (distinct customers with an event that
    week), events.
    """
    lf = canonical(events, "events")
    names = lf.collect_schema().names()
    keys = ["week"] + ([by] if by and by in names else [])
    frame = lf.with_columns(period_key("timestamp", "week", lf).alias("week"))
    counts = [nw.col("customer_id").n_unique().alias("customers"), nw.len().alias("events")]
    out = frame.group_by(keys).agg(*counts)
    if len(keys) > 1:
        # Grouped as stored (an ENUM compares faster than its text), named afterwards.
        out = out.with_columns(nw.col(by).cast(nw.String).fill_null("(none)"))
    out = out.collect().to_pandas()
    if out.duplicated(keys).any():  # a value spelt "(none)" as well as missing ones
        named = frame.with_columns(nw.col(by).cast(nw.String).fill_null("(none)"))
        out = named.group_by(keys).agg(*counts).collect().to_pandas()
    out = out.sort_values(keys).reset_index(drop=True)
    out["week"] = period_start(out["week"], "week")
    return out



def _ts(value: Any) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()
