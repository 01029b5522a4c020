"""The distributed path: a PySpark DataFrame gives the same results as DuckDB."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import pytest

from analysis import demo, frames, funnel, overview, paths
from analysis.frames import Filters


def test_filters_and_overview_match_duckdb(spark):
    d = demo.load()
    sdf = spark.createDataFrame(d.events.astype({"touchpoint": str, "channel": str,
                                                 "stage": str}))
    flt = Filters(start=date(2025, 2, 1), channels=("web",), attributes=(("segment", ("Budget",)),))
    spark_count = frames.canonical(sdf, "events", flt).select(nw.len()).collect().item()
    duck_count = frames.canonical(d.events, "events", flt).select(nw.len()).collect().item()
    assert spark_count == duck_count > 0
    a = overview.dataset_overview(sdf)
    b = overview.dataset_overview(d.events)
    assert (a.customers, a.events, a.touchpoints, a.channels) == (
        b.customers, b.events, b.touchpoints, b.channels
    )
    assert a.conversion_rate == pytest.approx(b.conversion_rate)
    assert a.churn_rate == pytest.approx(b.churn_rate)
    assert a.revenue == pytest.approx(b.revenue)


# --- Parity of every path and funnel analysis ---------------------------------------------
#
# Journeys are ordered by (timestamp, event_seq). Both sides get the same explicit event_seq,
# so that pandas (row order) and Spark (touchpoint fallback) order ties the same way.

CUSTOMERS = 1500
# Checkout (not Purchase) last: in strict mode nobody goes straight from the cart to Purchase.
STEPS = ["Product page", ["Add to cart", "Chat with advisor"], "Checkout"]
FUNNEL_CASES = {
    "ordered": {},
    "strict": {"mode": "strict"},
    "any_order": {"mode": "any_order"},
    "window": {"window": timedelta(days=3)},
    "strict-window": {"mode": "strict", "window": timedelta(hours=1)},
    "any_order-window": {"mode": "any_order", "window": timedelta(days=3)},
    "by": {"by": "segment"},
    "by-window": {"by": "segment", "window": timedelta(days=3), "mode": "strict"},
}
SANKEY_CASES = {
    "default": {},
    "channel": {"node_by": "channel"},
    "stage": {"node_by": "stage", "max_steps": 4, "top_nodes": 3},
    "start_at": {"start_at": "Add to cart", "max_steps": 4},
    "end_at": {"end_at": "Purchase", "max_steps": 4},
    "exclude": {"exclude": ["App login", "Order tracking"]},
    "collapse_repeats": {"collapse_repeats": True, "top_nodes": None},
    "all": {"start_at": "Product page", "exclude": ["Chat with advisor"],
            "collapse_repeats": True, "node_by": "channel", "max_steps": 6},
}


def _demo_events() -> pd.DataFrame:
    """The first customers of the demo, text columns as str, with an explicit event_seq."""
    ev = demo.load().events
    first = ev["customer_id"].drop_duplicates().iloc[:CUSTOMERS]
    ev = ev[ev["customer_id"].isin(first)].reset_index(drop=True)
    ev = ev.astype({"touchpoint": str, "channel": str, "stage": str})
    ev["event_seq"] = np.arange(len(ev), dtype="int64")
    return ev


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return _demo_events()


@pytest.fixture(scope="module")
def dated(events: pd.DataFrame) -> pd.DataFrame:
    """The same events exported with dates only: many ties, ordered by event_seq alone."""
    return events.assign(timestamp=events["timestamp"].dt.floor("D"))


@pytest.fixture(scope="module")
def sdf(spark, events):
    return spark.createDataFrame(events)


@pytest.fixture(scope="module")
def sdated(spark, dated):
    return spark.createDataFrame(dated)


def _same(spark_result: pd.DataFrame, duck_result: pd.DataFrame, *, sort=None) -> None:
    """The same table from both engines; ``sort``: columns that define the row order when
    the function does not."""
    assert len(duck_result) > 0
    if sort:
        spark_result = spark_result.sort_values(sort).reset_index(drop=True)
        duck_result = duck_result.sort_values(sort).reset_index(drop=True)
    pd.testing.assert_frame_equal(spark_result, duck_result, check_dtype=False, rtol=1e-9)


@pytest.mark.parametrize("case", SANKEY_CASES)
def test_sankey_links_match_duckdb(sdf, events, case):
    kw = SANKEY_CASES[case]
    _same(paths.sankey_links(sdf, **kw), paths.sankey_links(events, **kw))
    a, b = paths.sankey(sdf, **kw).coverage, paths.sankey(events, **kw).coverage
    assert a == b


def test_top_paths_match_duckdb(sdf, events):
    for kw in ({}, {"max_steps": 3, "limit": 50}, {"node_by": "channel",
                                                  "collapse_repeats": True},
               {"start_at": "Checkout", "conversion": ["Purchase"], "churn": []}):
        a, b = paths.common_paths(sdf, **kw), paths.common_paths(events, **kw)
        _same(a.table, b.table)
        assert (a.coverage, a.conversion, a.churn) == (b.coverage, b.conversion, b.churn)


def test_transition_matrix_matches_duckdb(sdf, events):
    for kw in ({}, {"node_by": "stage", "collapse_repeats": True},
               {"exclude": ["App login"]}):
        a, b = paths.transitions(sdf, **kw), paths.transitions(events, **kw)
        _same(a.table, b.table)
        assert a.coverage == b.coverage


def test_channel_switching_matches_duckdb(sdf, events):
    a, b = paths.channel_switching(sdf), paths.channel_switching(events)
    _same(a.matrix, b.matrix)
    assert (a.customers, a.cross_channel_customers, a.coverage, a.status) == (
        b.customers, b.cross_channel_customers, b.coverage, b.status)
    assert a.cross_channel_share == pytest.approx(b.cross_channel_share, rel=1e-12)
    assert a.switch_share == pytest.approx(b.switch_share, rel=1e-12)


@pytest.mark.parametrize("kw", [
    {},
    {"conversion": ["Purchase"], "collapse_repeats": True, "exclude": ["App login"]},
    {"group_col": "segment", "group_a": "Premium", "group_b": "Budget"},
    {"group_col": "variant", "group_a": "A", "group_b": "B", "node_by": "channel"},
], ids=["converted", "converted-options", "segment", "variant-channel"])
def test_compare_transitions_matches_duckdb(sdf, events, kw):
    a, b = paths.compare_transitions(sdf, **kw), paths.compare_transitions(events, **kw)
    assert isinstance(a, paths.TransitionComparison)
    assert (a.groups, a.conversion, a.status, a.message) == (
        b.groups, b.conversion, b.status, b.message)
    assert b.table["p_value"].notna().any()
    _same(a.table, b.table)


@pytest.mark.parametrize("case", FUNNEL_CASES)
def test_funnel_matches_duckdb(sdf, events, case):
    kw = FUNNEL_CASES[case]
    out = funnel.funnel(sdf, STEPS, **kw)
    _same(out, funnel.funnel(events, STEPS, **kw))
    assert out["customers"].iloc[-1] > 0


def test_same_day_ties_follow_event_seq(sdated, dated):
    """Date-only timestamps: the order within a day is the file order on both engines."""
    kw = {"max_steps": 6, "top_nodes": None}
    _same(paths.sankey_links(sdated, **kw), paths.sankey_links(dated, **kw))
    _same(paths.top_paths(sdated, limit=100), paths.top_paths(dated, limit=100))
    _same(paths.transition_matrix(sdated), paths.transition_matrix(dated))
    for mode in ("ordered", "strict", "any_order"):
        _same(funnel.funnel(sdated, STEPS, mode=mode, by="segment"),
              funnel.funnel(dated, STEPS, mode=mode, by="segment"))
    a = paths.compare_transitions(sdated, conversion=["Purchase"])
    b = paths.compare_transitions(dated, conversion=["Purchase"])
    assert a.groups == b.groups
    _same(a.table, b.table)


def test_without_event_seq_spark_orders_like_duckdb(spark, dated):
    """Without event_seq, Spark and a DuckDB relation both break ties by touchpoint name
    (a pandas frame would use its row order instead)."""
    plain = dated.drop(columns="event_seq")
    sdf = spark.createDataFrame(plain)
    rel = duckdb.connect().from_df(plain)
    kw = {"max_steps": 6, "top_nodes": None}
    _same(paths.sankey_links(sdf, **kw), paths.sankey_links(rel, **kw))
    _same(paths.top_paths(sdf, limit=100), paths.top_paths(rel, limit=100))
    for mode in ("ordered", "strict"):
        _same(funnel.funnel(sdf, STEPS, mode=mode), funnel.funnel(rel, STEPS, mode=mode))
    # The fallback is a real difference from file order on these ties.
    assert not paths.sankey_links(rel, **kw).equals(paths.sankey_links(dated, **kw))


# --- Survival: lifetimes and Kaplan–Meier from every engine ----------------------------------
#
# The same events as pandas, a DuckDB relation, Polars and Spark give the same lifetimes, row
# for row, and the same Kaplan–Meier curves by segment. The timestamps carry microseconds, so
# durations are fractional days and nearly all distinct.

LIFETIME_CASES = {
    "churn_touchpoint": {"churn_touchpoints": ["Cancel subscription"]},
    "inactivity": {"inactivity_days": 45},
    "both_as_of": {"churn_touchpoints": ["Cancel subscription", "Payment failed"],
                   "inactivity_days": 30, "as_of": "2025-09-30 12:00"},
}


def _engines(spark, frame: pd.DataFrame) -> dict[str, object]:
    """``frame`` as each engine's table (Polars is a hard requirement, so no importorskip)."""
    import polars as pl

    return {"duckdb": duckdb.connect().from_df(frame), "polars": pl.from_pandas(frame),
            "polars_lazy": pl.from_pandas(frame).lazy(), "spark": spark.createDataFrame(frame)}


@pytest.mark.parametrize("case", LIFETIME_CASES)
def test_customer_lifetimes_match_across_engines(spark, events, case):
    from analysis import survival

    kw = LIFETIME_CASES[case]
    expected = survival.customer_lifetimes(events, **kw)
    assert expected["churned"].any() and not expected["churned"].all()
    assert expected["duration_days"].nunique() > len(expected) // 2  # fractional days
    for name, frame in _engines(spark, events).items():
        out = survival.customer_lifetimes(frame, **kw)
        pd.testing.assert_frame_equal(out, expected, check_exact=True, obj=f"{case}/{name}")


def _lifetimes_by_segment(events: pd.DataFrame) -> pd.DataFrame:
    """Lifetimes joined with each customer's segment; a few customers have none."""
    from analysis import survival

    lifetimes = survival.customer_lifetimes(events, **LIFETIME_CASES["both_as_of"])
    segments = events.drop_duplicates("customer_id")[["customer_id", "segment"]]
    out = lifetimes.merge(segments, on="customer_id", how="left")
    out.loc[out.index % 97 == 0, "segment"] = None
    return out


@pytest.mark.parametrize("weights", [None, "weight"])
def test_kaplan_meier_by_group_matches_across_engines(spark, events, weights):
    from analysis import survival

    lifetimes = _lifetimes_by_segment(events)
    lifetimes["weight"] = (lifetimes.index % 3 + 1).astype("int64")
    kw = {"by": "segment", "weights": weights, "horizons": (30, 90)}
    expected = survival.kaplan_meier(lifetimes, **kw)
    assert expected.status == "ok" and len(expected.summary) >= 3
    assert "(missing)" in set(expected.summary["group"])
    for name, frame in _engines(spark, lifetimes).items():
        out = survival.kaplan_meier(frame, **kw)
        for field in ("curves", "summary", "pairwise"):
            pd.testing.assert_frame_equal(getattr(out, field), getattr(expected, field),
                                          rtol=1e-12, obj=f"{field}/{name}")
        assert out.logrank_p == pytest.approx(expected.logrank_p, rel=1e-10, abs=1e-300)
        assert (out.rmst_horizon, out.status, out.message) == (
            expected.rmst_horizon, expected.status, expected.message)


@pytest.mark.parametrize("period", ["week", "month"])
def test_periods_match_duckdb(spark, sdf, events, period):
    """Weeks are counted from epoch times on Spark (no duration arithmetic there)."""
    steps = ["Product page", "Checkout"]
    _same(funnel.funnel_over_time(sdf, steps, period=period),
          funnel.funnel_over_time(events, steps, period=period), sort=["period", "step_index"])
    if period == "week":
        _same(overview.weekly_activity(sdf), overview.weekly_activity(events),
              sort=["week", "channel"])


@pytest.mark.parametrize("by", ["touchpoint", "channel"])
def test_attribution_models_match_duckdb(sdf, events, by):
    from datetime import timedelta

    from analysis.touchpoints import compare_models

    options = {"conversion": ["Purchase"], "by": by, "lookback": timedelta(days=30)}
    _same(compare_models(sdf, **options), compare_models(events, **options), sort=[by])


@pytest.mark.parametrize("lookback", [None, 30])
def test_markov_attribution_alone_matches_duckdb(sdf, events, lookback):
    """Markov on its own takes its one-pass path (not the touches the other models share)."""
    from datetime import timedelta

    from analysis.touchpoints import attribution

    options = {"conversion": ["Purchase"], "model": "markov",
               "lookback": timedelta(days=lookback) if lookback else None}
    _same(attribution(sdf, **options), attribution(events, **options), sort=["touchpoint"])
