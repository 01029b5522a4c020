"""The touchpoint scorecard: one row per touchpoint, read as a make, break or neutral point.

Reach and trend, conversion with against without it (only touches before the first conversion
count: a login after the purchase is not credited with it; correlational, not causal), Markov
share, churn hazard from its first event (time-varying: the time survived before it is not
credited to it), linked feedback, time to the next event. Per-event work runs in the engine
through Narwhals; pandas gets aggregates only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import stats
from analysis.frames import (
    as_int,
    canonical,
    materialize,
    seconds_between,
    to_pandas,
)
from analysis.journeys import check_touchpoints, order_columns, ordered_window, uses_precomputed
from analysis.painpoints.linking import DEFAULT_TOLERANCE, link_feedback
from analysis.painpoints.sentiment import comment_sentiment, rescaled_scores
from analysis.precompute import PREV_SAME_TOUCHPOINT
from analysis.results import Status
from analysis.schema import ParameterError
from analysis.touchpoints.attribution import attribution
from analysis.touchpoints.exposures import (
    CONVERSION_COLUMNS,
    LAST_EVENT,
    first_touch_tables,
    hazard_ratios,
)
from analysis.touchpoints.trend import (
    COUNT_COLUMNS,
    NEIGHBOUR_TIMES,
    STORED_PERIODS,
    TREND_COLUMNS,
    as_text,
    period_counts,
    reach_trend,
    trend_events,
    trend_from_counts,
)

#: Break: HR ≥ this, CI above 1 (BH over the touchpoints); or negative share's Wilson low ≥
#: BREAK_NEGATIVE_LOW over ≥ MIN_RATED rated answers.
BREAK_HAZARD_RATIO = 1.25
BREAK_NEGATIVE_LOW = 0.30
MIN_RATED = 20
#: A significant lift makes or breaks from this size on, both ways, when the conversion hazard
#: agrees: on the 5,000-customer demo Store visit (no planted effect) converts a significant but
#: negligible 4 pp worse; a touch that recurs over long journeys (a monthly newsletter) reaches
#: more non-converters over their whole history, a lift the time-varying hazard does not show.
MIN_LIFT = 0.05
#: Make: a Markov share ≥ the larger of MAKE_MIN_SHARE and MAKE_SHARE_FACTOR × an equal share
#: (capped at MAKE_MAX_SHARE, so one or two credited touchpoints can still qualify).
MAKE_MIN_SHARE, MAKE_SHARE_FACTOR, MAKE_MAX_SHARE = 0.10, 2.0, 0.5
ROLES: tuple[str, ...] = ("break", "make", "neutral")
COLUMNS: tuple[str, ...] = (
    "touchpoint", "channels", "customers", "reach", "touched_before_conversion",
    "conversion_rate_with", "conversion_rate_without", "conversion_lift", "lift_ci_low",
    "lift_ci_high", "lift_p_value", "lift_p_adjusted", *CONVERSION_COLUMNS, "attribution_share",
    "churn_hazard_ratio", "hr_ci_low", "hr_ci_high", "hr_p_value", "feedback", "mean_score",
    "negative_share", "negative_ci_low", "median_seconds_to_next", "reach_trend", "fading",
    "role", "role_reason")


@dataclass(frozen=True)
class Scorecard:
    """``table``: see :func:`touchpoint_scorecard`. ``trend``: touchpoint, period (start),
    customers (distinct, touching it that period), active (distinct, any event that period),
    reach (customers / active), over the last ``periods`` periods with events. ``rule``: the
    role rule in words. ``customers``: distinct customers; ``converters``: those with a
    conversion event (0 without conversion). ``reach_counts``: the distinct customers per
    touchpoint and period behind the trend, for months and weeks over the last
    STORED_PERIODS periods (``trend.COUNT_COLUMNS``), so :func:`with_reach_trend` slices them
    instead of reading the events again."""

    table: pd.DataFrame
    trend: pd.DataFrame
    rule: str
    customers: int
    converters: int
    status: Status
    message: str
    reach_counts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(COUNT_COLUMNS)))


def scorecard(events: Any, feedback: Any = None, *, conversion: Sequence[str] | None = None,
              churn: Sequence[str] | None = None) -> pd.DataFrame:
    """The table of :func:`touchpoint_scorecard` (the public API of DESIGN.md)."""
    return touchpoint_scorecard(events, feedback, conversion=conversion, churn=churn).table


def with_reach_trend(card: Scorecard, events: Any, *, period: stats.Period = "month",
                     periods: int = 6) -> Scorecard:
    """``card`` (a :func:`touchpoint_scorecard` of ``events``) with its reach trend over
    other periods: what ``touchpoint_scorecard(..., period=, periods=)`` gives, recomputing
    only the trend (roles do not depend on it). Sliced from ``card.reach_counts`` when they
    cover the periods asked for; ``events`` are read again only when they do not (or for a
    fading touchpoint whose customers in the earlier half the counts cannot tell)."""
    period = stats.check_period(period)
    _check_periods(periods)
    ev = trend_events(canonical(events, "events"))
    counts = card.reach_counts[card.reach_counts["period"] == period]
    stored = int(counts["_tp"].isna().sum())
    if stored and (stored >= periods or stored < STORED_PERIODS):  # every period counted
        trend, facts = trend_from_counts(counts, ev, period, periods)
    else:
        trend, facts = reach_trend(ev, period, periods)
    table = card.table.drop(columns=["reach_trend", "fading"]).join(facts, on="touchpoint")
    table["fading"] = table["fading"].astype("boolean").fillna(False).astype(bool)
    return replace(card, table=table[list(COLUMNS)], trend=trend)


def touchpoint_scorecard(
    events: Any, feedback: Any = None, *, conversion: Sequence[str] | None = None,
    churn: Sequence[str] | None = None, start_at: Sequence[str] | None = (),
    periods: int = 6, period: stats.Period = "month",
    tolerance: timedelta | None = DEFAULT_TOLERANCE, alpha: float = 0.05,
) -> Scorecard:
    """Score every touchpoint on reach, conversion, attribution, churn and feedback.

    Parameters
    ----------
    events
        Events in canonical columns (pandas, Polars, DuckDB, PySpark); not modified.
    feedback
        Canonical feedback, linked to touchpoints by :func:`painpoints.link_feedback`.
    conversion, churn, start_at
        Touchpoint names: conversion and churn events, and the events that start a churn
        lifetime (default: the conversion touchpoints, so churn is judged among converters
        from their first conversion; the first event when neither is given). None or empty:
        not defined.
    periods, period
        The reach trend compares the earlier and later half of the last ``periods`` periods
        ("month" or "week") that have events.
    tolerance, alpha
        Longest gap from an event to feedback linked to it (None: no limit); the
        significance level of the Benjamini–Hochberg adjusted lift.

    Returns
    -------
    Scorecard
        ``table``, one row per touchpoint (break, make, neutral; each by customers, most
        first): touchpoint; channels (most frequent first); customers (with it at any time),
        reach (/ all customers); touched_before_conversion (customers with it before their
        first conversion, at any time for non-converters); conversion_rate_with (their
        converters / them), conversion_rate_without (converters / customers among all
        others), conversion_lift (with − without), lift_ci_low/high (95% Newcombe), lift_p_value
        (pooled two-proportion z), lift_p_adjusted (Benjamini–Hochberg), NaN at conversion
        touchpoints, without conversion or with an empty group; conversion_hazard_ratio,
        conv_hr_ci_low/high, conv_hr_p_value (how much faster customers convert once they
        have touched it: Cox with the touch time-varying, from the first event to the first
        conversion or the end of the data); attribution_share (Markov;
        0 uncredited; NaN at conversion touchpoints); churn_hazard_ratio, hr_ci_low/high,
        hr_p_value (exposed from its first event; NaN at churn touchpoints and below
        MIN_EXPOSED_FOR_HR); feedback (rows linked), mean_score (0–100 over the scale's
        range, CES higher = easier), negative_share (negative / known sentiment),
        negative_ci_low (Wilson), NaN without feedback; median_seconds_to_next; reach_trend
        (later / earlier half's mean period reach − 1), fading; role, role_reason (``rule``).

    Raises
    ------
    AnalysisError
        (Parameter, UnknownValue, MissingColumn) names given as text or not in the data; bad
        ``periods``, ``period``, ``alpha`` or ``tolerance``; missing required columns.
    """
    alpha, period = stats.check_alpha(alpha), stats.check_period(period)
    _check_periods(periods)
    lf = canonical(events, "events")
    conv, churn_names, starts = (_names(v, w) for v, w in (
        (conversion, "conversion"), (churn, "churn"), (start_at, "start_at")))
    starts = starts or conv  # churn is judged among converters, from their first conversion
    for names, what in ((conv, "conversion"), (churn_names, "churn"), (starts, "start")):
        check_touchpoints(lf, names, f"{what} touchpoint")
    ev = _events(lf)
    firsts, people = first_touch_tables(ev, conv, starts)
    customers, converters = (as_int(v) for v in people.select(
        nw.len(), nw.col("_conv_pos").count()).collect().row(0))
    if customers == 0:
        return Scorecard(pd.DataFrame(columns=list(COLUMNS)),
                         pd.DataFrame(columns=list(TREND_COLUMNS)), _rule(alpha, 0, np.inf), 0, 0,
                         "empty", "There are no events to score.")
    table = _lift(_reach(ev, firsts, conv, customers), conv, customers, converters)
    table["attribution_share"] = _shares(lf, conv, table.index)
    table = table.join(hazard_ratios(lf, ev, firsts, people, table["customers"], conv,
                                     churn_names, starts))
    table = table.join(_feedback_terms(feedback, lf, tolerance, table.index))
    counts = period_counts(ev, {kind: max(periods, STORED_PERIODS) if kind == period
                                else STORED_PERIODS for kind in stats.PERIODS})
    trend, fading = trend_from_counts(counts, ev, period, periods)
    table = table.join(fading).assign(  # BH over the touchpoints; NaN (not estimated) stays
        _hr_adjusted=stats.adjust_p_values(table["hr_p_value"].to_numpy(), "fdr_bh"),
        _conv_adjusted=stats.adjust_p_values(table["conv_hr_p_value"].to_numpy(), "fdr_bh"))
    table["fading"] = table["fading"].astype("boolean").fillna(False).astype(bool)
    credited = int((table["attribution_share"] > 0).sum())
    share = (max(MAKE_MIN_SHARE, min(MAKE_SHARE_FACTOR / credited, MAKE_MAX_SHARE))
             if credited else np.inf)
    status, message = _status(table, conv, churn_names, converters, customers)
    return Scorecard(_roles(table, alpha, share), trend, _rule(alpha, credited, share),
                     customers, converters, status, message, counts)


def _check_periods(periods: Any) -> None:
    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 2:
        raise ParameterError(f"periods must be a whole number ≥ 2, got {periods!r}.",
                             "Pass e.g. periods=6 (the last six months).")


def _names(value: Sequence[str] | None, what: str) -> list[str]:
    if isinstance(value, str):
        raise ParameterError(f"{what} must be a list of touchpoints, got the text {value!r}.",
                             f"Write {what}=[{value!r}].")
    return [str(v) for v in value or ()]


def _events(lf: nw.LazyFrame) -> nw.LazyFrame:
    """customer_id, timestamp, touchpoint, channel (if any; as stored, text after grouping),
    ``_pos`` (place in the journey), ``_gap`` (seconds to the next event); the precomputed
    ``trend.NEIGHBOUR_TIMES`` and ``exposures.LAST_EVENT`` when there are any."""
    names, fast = lf.collect_schema().names(), uses_precomputed(lf)
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    step = "_step" if fast else "touchpoint"  # a step has a touchpoint: no ENUM cast to test
    lf = lf.filter(*[~nw.col(c).is_null() for c in (step, "customer_id", "timestamp")])
    # Precomputed steps also count events without a time (first in journey order): _pos is
    # only compared within a customer. The last event of any kind censors churn lifetimes.
    stamp = lf.collect_schema()["timestamp"]
    known = [nw.col("_step").alias("_pos"), nw.col(LAST_EVENT).cast(stamp),
             nw.col("_next_timestamp").cast(stamp).alias("next_timestamp")] if fast else []
    if fast and PREV_SAME_TOUCHPOINT in names:  # for trend.reach_counts
        known += [nw.col(c) for c in NEIGHBOUR_TIMES]
    order = ["timestamp"] if fast else order_columns(names)  # _pos holds the journey order
    raw = ["touchpoint", *(["channel"] if "channel" in names else [])]
    lf = lf.select("customer_id", *dict.fromkeys([*order, *raw]), *known)
    if not fast:
        lf = ordered_window(lf, order, step="_pos", following=["timestamp"])
    lf = lf.with_columns(seconds_between(lf, "next_timestamp", "timestamp").alias("_gap"))
    return materialize(lf.drop("next_timestamp"))  # read by several queries


def _reach(ev: nw.LazyFrame, firsts: nw.LazyFrame, conversion: list[str],
           customers: int) -> pd.DataFrame:
    """customers, reach, touched_before_conversion, channels and median_seconds_to_next."""
    counts = to_pandas(as_text(firsts.group_by("touchpoint").agg(
        nw.len().alias("customers"), nw.col("_before").sum().alias("touched_before_conversion"),
        nw.col("_conv_with").sum().alias("_conv_with")), {"touchpoint": "_tp"}))
    table = counts.set_index("_tp").rename_axis("touchpoint").astype("int64").sort_index()
    table.insert(1, "reach", table["customers"] / customers)
    if not conversion:
        table["touched_before_conversion"] = np.nan
    # Grouped by the stored columns (ENUMs group faster than text), as text afterwards.
    gaps = to_pandas(as_text(ev.group_by("touchpoint").agg(
        nw.col("_gap").median().alias("_median")), {"touchpoint": "_tp"}))
    table["median_seconds_to_next"] = gaps.set_index("_tp")["_median"].astype(float)
    table.insert(0, "channels", None)
    if "channel" in ev.collect_schema().names():
        per = to_pandas(as_text(ev.filter(~nw.col("channel").is_null())
                                .group_by("touchpoint", "channel").agg(nw.len().alias("_n")),
                                {"touchpoint": "_tp", "channel": "_channel"}))
        per = per.sort_values(["_tp", "_n", "_channel"], ascending=[True, False, True])
        joined = per.groupby("_tp")["_channel"].agg(", ".join).reindex(table.index)
        table["channels"] = joined.astype(object).where(joined.notna(), None)
    return table


def _lift(table: pd.DataFrame, conversion: list[str], customers: int,
          converters: int) -> pd.DataFrame:
    """Conversion with / without each touchpoint, the Newcombe CI, z-test and BH p."""
    n_a = table["touched_before_conversion"].astype(float)
    x_a = table.pop("_conv_with").astype(float)
    n_b, x_b = customers - n_a, converters - x_a
    tested = (n_a > 0) & (n_b > 0) & ~table.index.isin(conversion) & bool(conversion)
    out = pd.DataFrame(np.nan, index=table.index, columns=list(COLUMNS[5:11]))
    for tp in table.index[tested]:
        p_a, p_b = x_a[tp] / n_a[tp], x_b[tp] / n_b[tp]
        pooled = (x_a[tp] + x_b[tp]) / (n_a[tp] + n_b[tp])
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_a[tp] + 1 / n_b[tp]))
        p = float(2 * sps.norm.sf(abs(p_a - p_b) / se0)) if se0 > 0 else np.nan
        out.loc[tp] = (p_a, p_b, p_a - p_b,
                       *stats.newcombe_interval(x_a[tp], n_a[tp], x_b[tp], n_b[tp]), p)
    out["lift_p_adjusted"] = stats.adjust_p_values(out["lift_p_value"].to_numpy(), "fdr_bh")
    return table.join(out)


def _shares(lf: nw.LazyFrame, conversion: list[str], touchpoints: pd.Index) -> pd.Series:
    """Markov removal-effect share per touchpoint (0 when uncredited; NaN at conversion)."""
    if not conversion:
        return pd.Series(np.nan, index=touchpoints)
    credit = attribution(lf, conversion=conversion, model="markov").set_index("touchpoint")
    return credit["share"].reindex(touchpoints).fillna(0.0).where(~touchpoints.isin(conversion))


def _feedback_terms(feedback: Any, lf: nw.LazyFrame, tolerance: timedelta | None,
                    touchpoints: pd.Index) -> pd.DataFrame:
    """feedback, mean_score, negative_share, negative_ci_low (and ``_rated``) per touchpoint."""
    if feedback is None:
        return pd.DataFrame({"feedback": np.nan, "mean_score": np.nan, "_rated": 0, "negative_"
                             "share": np.nan, "negative_ci_low": np.nan}, index=touchpoints)
    frame = canonical(feedback, "feedback")  # checks the columns of any kind of frame
    fb = feedback if isinstance(feedback, pd.DataFrame) else to_pandas(frame)
    sentiment = comment_sentiment(fb)["sentiment"].to_numpy()
    rows = pd.DataFrame({
        "tp": link_feedback(fb, lf, tolerance=tolerance)["linked_touchpoint"].to_numpy(),
        "neg": sentiment == "negative", "rated": sentiment != "unknown",
        "score": rescaled_scores(fb["score"], fb["scale"]).to_numpy()
        if {"score", "scale"} <= set(fb.columns) else np.nan})
    out = rows.dropna(subset=["tp"]).groupby("tp").agg(
        feedback=("tp", "size"), mean_score=("score", "mean"), _neg=("neg", "sum"),
        _rated=("rated", "sum")).reindex(touchpoints).fillna({"feedback": 0, "_rated": 0,
                                                              "_neg": 0})
    out = out.astype({"feedback": "int64", "_rated": "int64"})
    out["negative_share"] = out["_neg"] / out["_rated"].where(out["_rated"] > 0)
    out["negative_ci_low"] = stats.wilson_interval(out.pop("_neg"), out["_rated"])[0]
    return out


def _reasons(r: pd.Series, alpha: float, share: float) -> tuple[list[str], list[str]]:
    """The break and the make reasons of one row of the table."""
    significant, lift = r["lift_p_adjusted"] < alpha, 100 * r["conversion_lift"]
    ci = f"95% CI {100 * r['lift_ci_low']:.0f} to {100 * r['lift_ci_high']:.0f} pp"
    timed = r["_conv_adjusted"] < alpha  # the time-varying conversion hazard agrees
    worse = (significant and r["lift_ci_high"] < 0 and -lift >= 100 * MIN_LIFT and timed
             and r["conv_hr_ci_high"] < 1)
    breaks = [f"Converts {-lift:.0f} pp worse ({ci})"] if worse else []
    if (r["churn_hazard_ratio"] >= BREAK_HAZARD_RATIO and r["hr_ci_low"] > 1
            and r["_hr_adjusted"] < alpha):
        breaks.append(f"Churn hazard {r['churn_hazard_ratio']:.1f}× (95% CI "
                      f"{r['hr_ci_low']:.1f}–{r['hr_ci_high']:.1f})")
    if r["_rated"] >= MIN_RATED and r["negative_ci_low"] >= BREAK_NEGATIVE_LOW:
        breaks.append(f"{r['negative_share']:.0%} of {r['_rated']:.0f} rated answers "
                      f"negative (95% CI from {r['negative_ci_low']:.0%})")
    required = r["conversion_rate_without"] == 0  # every converter passed through it
    better = significant and r["lift_ci_low"] > 0 and lift >= 100 * MIN_LIFT and (
        required or (timed and r["conv_hr_ci_low"] > 1))
    makes = [("Every converter passed through it (a required step): " if required else "")
             + f"converts {lift:.0f} pp better ({ci})"] if better else []
    if r["attribution_share"] >= share:
        makes.append(f"{r['attribution_share']:.0%} of the conversion credit (Markov)")
    return breaks, [m[0].upper() + m[1:] for m in makes]


def _roles(table: pd.DataFrame, alpha: float, share: float) -> pd.DataFrame:
    """role and role_reason by the rule of :func:`_rule`; rows sorted by role, customers."""
    found = [_reasons(r, alpha, share) for _, r in table.iterrows()]
    roles = ["break" if b else "make" if m else "neutral" for b, m in found]
    reasons = ["; ".join(b or m) or "No clear effect on conversion, churn or feedback"
               for b, m in found]
    out = table.assign(role=roles, role_reason=reasons).reset_index()
    out["_rank"] = out["role"].map({r: i for i, r in enumerate(ROLES)})
    out = out.sort_values(["_rank", "customers", "touchpoint"], ascending=[True, False, True])
    return out[list(COLUMNS)].reset_index(drop=True)


def _rule(alpha: float, credited: int, share: float) -> str:
    share_text = f"{share:.0%}: " if credited else ""
    return (
        f"Break point if any of: (1) customers who had it before converting convert at least "
        f"{100 * MIN_LIFT:.0f} pp worse than the others, significantly (Benjamini–Hochberg "
        f"adjusted p < {alpha:g} over the touchpoints, 95% CI of the lift below 0), and they "
        "also convert more slowly once they have touched it (a Cox model with the touch as a "
        "time-varying covariate, so a touch that recurs over long journeys is not blamed for "
        f"them; its adjusted p < {alpha:g}); (2) a churn hazard ratio of at least "
        f"{BREAK_HAZARD_RATIO:g} with its 95% CI above 1 and adjusted p < {alpha:g} (lifetimes "
        "start at the first conversion); (3) at least "
        f"{BREAK_NEGATIVE_LOW:.0%} negative feedback at the 95% lower bound (Wilson) over at "
        f"least {MIN_RATED} rated answers.\n"
        f"Otherwise make point if: (1) they convert at least {100 * MIN_LIFT:.0f} pp better, "
        f"significantly, and faster once they have touched it (or every converter passed "
        f"through it: a required step); or (2) its Markov attribution share is at least "
        f"{share_text}the larger of {MAKE_MIN_SHARE:.0%} and {MAKE_SHARE_FACTOR:g} ÷ the "
        f"{credited or ''} touchpoints credited, at most {MAKE_MAX_SHARE:.0%}.\n"
        "Otherwise neutral. Break wins over make: a step customers hate or that speeds churn "
        "is a break point even if they convert.")


def _status(table: pd.DataFrame, conversion: list[str], churn: list[str], converters: int,
            customers: int) -> tuple[Status, str]:
    notes = {"Only one touchpoint: there is nothing to compare it with.": len(table) == 1,
             "No customer converted.": bool(conversion) and converters == 0,
             "Every customer converted: conversion cannot be compared.":
                 bool(conversion) and converters == customers}
    problems = [note for note, found in notes.items() if found]
    if not conversion:
        problems.append("No conversion touchpoint given: conversion columns are empty.")
    if not churn:
        problems.append("No churn touchpoint given: hazard ratios are empty.")
    return ("degenerate" if any(notes.values()) else "ok"), " ".join(problems)
