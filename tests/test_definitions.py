"""Dataset definitions: guessed from names at import, saved with the dataset, carried in links."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import pytest

from analysis import ingest, paths
from analysis.definitions import (
    Definitions,
    channel_type,
    churned,
    guess_definitions,
    guess_segment,
    stage_order,
    suggest_inactivity_days,
)
from analysis.overview import dataset_overview
from analysis.store import Workspace
from ui import state


def _events() -> pd.DataFrame:
    t0 = pd.Timestamp("2024-01-01")
    rows = [
        # customer, day, touchpoint, stage, channel, segment
        ("a", 0, "Ad click", "awareness", "social", "pro"),
        ("a", 1, "Product page", "consideration", "web", "pro"),
        ("a", 2, "Order placed", "purchase", "store", "pro"),
        ("b", 0, "Ad click", "awareness", "social", "basic"),
        ("b", 5, "Product page", "consideration", "web", "basic"),
        ("c", 0, "Product page", "consideration", "web", "basic"),
        ("c", 40, "Cancel subscription", "retention", "call center", "basic"),
        ("d", 0, "Ad click", "awareness", "Direct mail", "pro"),
        ("d", 60, "Product page", "consideration", "app", "pro"),
    ]
    return pd.DataFrame({
        "customer_id": [r[0] for r in rows],
        "timestamp": [t0 + timedelta(days=r[1]) for r in rows],
        "touchpoint": [r[2] for r in rows],
        "stage": [r[3] for r in rows],
        "channel": [r[4] for r in rows],
        "customer_tier": [r[5] for r in rows],
    })


def test_guess_from_names_and_stage_order_from_data():
    df = _events()
    profile = ingest.profile(df, "events")
    guessed = guess_definitions(profile, stage_order(nw.from_native(df).lazy()))
    assert guessed.conversion == ("Order placed",)
    assert guessed.churn == ("Cancel subscription",)
    assert guessed.inactivity_days is None
    assert guessed.stages == ("awareness", "consideration", "purchase", "retention")
    assert guessed.segment == "customer_tier"
    assert set(guessed.online) == {"social", "web", "app"}
    assert set(guessed.offline) == {"store", "call center", "Direct mail"}


@pytest.mark.parametrize(("name", "kind"), [
    ("Web", "online"), ("mobile app", "online"), ("E-mail", "online"), ("Paid search", "online"),
    ("Store", "offline"), ("Call Center", "offline"), ("direct mail", "offline"),
    ("Branch visit", "offline"), ("partner", None),
])
def test_channel_types_by_name(name, kind):
    assert channel_type(name) == kind


def test_segment_guess_prefers_persona_then_segment():
    assert guess_segment(["region", "Segment", "Persona"]) == "Persona"
    assert guess_segment(["region", "plan"]) == "plan"
    assert guess_segment(["variant", "colour"]) is None


def test_stored_definitions_are_cleaned_and_restricted_to_the_dataset():
    raw = {"conversion": ["Order placed", "Nope"], "inactivity_days": -3, "segment": "x",
           "online": ["web"], "offline": ["web", "store"], "junk": 1}
    profile = ingest.profile(_events(), "events")
    kept = Definitions.from_dict(raw).restricted(profile)
    assert kept.conversion == ("Order placed",)
    assert kept.inactivity_days is None and kept.segment is None
    assert kept.online == ("web",) and kept.offline == ("store",)
    assert Definitions.from_dict(None) == Definitions()


def test_summary_line():
    d = Definitions(conversion=("payment_done",), inactivity_days=30)
    assert d.summary() == "Conversion: payment_done · Churn: 30 days inactive"
    many = Definitions(conversion=("a", "b", "c"), churn=("x",), segment="plan")
    assert many.summary() == "Conversion: a, b +1 · Churn: x · Segment: plan"
    assert Definitions().summary() == "Conversion: not set · Churn: not set"


def test_churn_by_inactivity_matches_a_hand_count():
    df = _events()
    lf = nw.from_native(df).lazy()
    flags = (lf.group_by("customer_id").agg(churned(lf, ["Cancel subscription"], 30).alias("c"))
             .collect().to_pandas().set_index("customer_id")["c"])
    # The data ends on day 60: a (day 2) and b (day 5) have been quiet > 30 days; c cancelled.
    end = df["timestamp"].max()
    last = df.groupby("customer_id")["timestamp"].max()
    expected = (last < end - timedelta(days=30)) | df.groupby("customer_id")["touchpoint"].apply(
        lambda s: (s == "Cancel subscription").any())
    assert flags.sort_index().astype(bool).tolist() == expected.sort_index().tolist()
    assert flags.to_dict() == {"a": 1, "b": 1, "c": 1, "d": 0}


def test_overview_and_top_paths_count_inactivity_churn():
    df = _events()
    ov = dataset_overview(df, conversion=["Order placed"], churn=[], inactivity_days=30)
    assert ov.churn_rate == pytest.approx(2 / 4)
    assert ov.conversion_rate == pytest.approx(1 / 4)
    top = paths.top_paths(df, conversion=["Order placed"], churn=[], inactivity_days=30)
    assert (top["churned_share"] * top["customers"]).sum() == pytest.approx(2)
    none = paths.top_paths(df, conversion=[], churn=[])
    assert none["churned_share"].isna().all() and none["converted_share"].isna().all()


def test_suggested_inactivity_is_the_90th_percentile_gap_in_days():
    df = _events()
    gaps = df.sort_values("timestamp").groupby("customer_id")["timestamp"].diff().dropna()
    expected = int(np.ceil(gaps.dt.total_seconds().quantile(0.9) / 86400))
    assert suggest_inactivity_days(nw.from_native(df).lazy()) == expected
    single = df.groupby("customer_id").head(1)
    assert suggest_inactivity_days(nw.from_native(single).lazy()) is None


def test_definitions_are_guessed_at_import_saved_and_deleted(tmp_path):
    df = _events()
    result = ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        info = ws.import_result(result, name="shop")
        assert ws.definitions(info.id).conversion == ("Order placed",)
        ws.set_definitions(info.id, Definitions(conversion=("Product page",),
                                                inactivity_days=14, churn=("Unknown",)))
    with Workspace(path) as ws:  # survives a restart
        saved = ws.definitions(info.id)
        assert saved.conversion == ("Product page",) and saved.inactivity_days == 14
        assert saved.churn == ()
        ws.delete(info.id)
        with sqlite3.connect(ws.path / "catalog.sqlite") as db:
            assert db.execute("SELECT count(*) FROM definitions").fetchone()[0] == 0


def test_url_round_trip_keeps_empty_definitions_apart_from_absent_ones():
    d = Definitions(conversion=("buy",), stages=("b", "a"), inactivity_days=7, segment="plan",
                    online=("web",))
    assert state.definitions_from_params(state.definitions_to_params(d)) == d
    empty = state.definitions_to_params(Definitions())
    assert empty == {"d": ["1"]}
    assert state.definitions_from_params(empty) == Definitions()
    assert state.definitions_from_params({"dataset": ["x"]}) is None
    assert state.definitions_from_params({"d": ["1"], "d.inactive": ["-4"]}).inactivity_days \
        is None


def test_suggested_inactivity_from_precomputed_gaps_is_the_same():
    from analysis.precompute import add_journey_columns

    con = duckdb.connect()
    df = _events()
    df = pd.concat([df, df.assign(timestamp=df["timestamp"] + pd.Timedelta(hours=7))])
    relation = con.from_df(df)
    plain = suggest_inactivity_days(nw.from_native(relation))
    precomputed = nw.from_native(add_journey_columns(relation))
    assert suggest_inactivity_days(precomputed) == plain
    for quantile in (0.5, 0.75, 0.99):
        assert suggest_inactivity_days(precomputed, quantile) == suggest_inactivity_days(
            nw.from_native(relation), quantile)
    # An event without a touchpoint is not a step: the gaps are taken from scratch then.
    gappy = con.from_df(df.assign(touchpoint=df["touchpoint"].where(df.index != 1)))
    assert suggest_inactivity_days(nw.from_native(add_journey_columns(gappy))) == (
        suggest_inactivity_days(nw.from_native(gappy)))


@pytest.mark.parametrize("seed", range(6))
def test_suggested_inactivity_by_day_buckets_matches_the_exact_quantile(seed):
    """The precomputed path reads the quantile's whole-day bucket from day counts; it must
    give what the exact quantile over every gap gives, also when the two gaps around the
    quantile fall in neighbouring days."""
    from analysis.precompute import add_journey_columns

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    hours = rng.choice([1, 6, 23, 24, 25, 47, 48, 72, 24 * 30], size=n)
    df = pd.DataFrame({
        "customer_id": rng.integers(0, max(2, n // 4), n).astype(str),
        "timestamp": pd.Timestamp("2025-01-01") + pd.to_timedelta(
            np.cumsum(hours), unit="h"),
        "touchpoint": "Visit"})
    relation = duckdb.connect().from_df(df)
    precomputed = nw.from_native(add_journey_columns(relation))
    for quantile in (0.1, 0.5, 0.9, 0.97):
        assert suggest_inactivity_days(precomputed, quantile) == suggest_inactivity_days(
            nw.from_native(relation), quantile), quantile
