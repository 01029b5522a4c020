"""Journey columns precomputed at import (analysis/precompute.py): their values against an
independent pandas computation, the filter rule that keeps them valid, and every view that
reads them giving the same result as from scratch, under each kind of filter."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import duckdb
import hypothesis.strategies as st
import narwhals as nw
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from analysis import demo, frames, funnel, ingest, paths, survival, touchpoints
from analysis.frames import Filters
from analysis.journeys import journeys
from analysis.precompute import (
    PRECOMPUTED,
    add_journey_columns,
    customer_level_columns,
    journeys_intact,
    without_precomputed,
)


def reference(df: pd.DataFrame) -> pd.DataFrame:
    """The precomputed columns in plain pandas: sort, then per-customer shifts."""
    order = (["timestamp", "event_seq"] if "event_seq" in df
             else ["timestamp", "touchpoint", "channel"])
    out = df.sort_values(["customer_id", *order], kind="stable", na_position="first").copy()
    steps = out[out["touchpoint"].notna()]
    by = steps.groupby("customer_id", sort=False)
    out["_step"] = (by.cumcount() + 1).astype("Int64")
    out["_next_touchpoint"] = by["touchpoint"].shift(-1)
    out["_next_timestamp"] = by["timestamp"].shift(-1)
    out["_prev_tp_timestamp"] = steps.groupby(["customer_id", "touchpoint"], sort=False)[
        "timestamp"].shift(1)
    times = out.groupby("customer_id", sort=False)["timestamp"]
    out["_first_timestamp"] = times.transform("min")
    out["_last_timestamp"] = times.transform("max")
    return out


_CON = duckdb.connect()


def relation(df: pd.DataFrame) -> duckdb.DuckDBPyRelation:
    return _CON.cursor().from_df(df)


def computed(df: pd.DataFrame) -> pd.DataFrame:
    return add_journey_columns(relation(df)).df()


def assert_same_columns(got: pd.DataFrame, want: pd.DataFrame, key: list[str]) -> None:
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    for column in PRECOMPUTED:
        g, w = got[column], want[column]
        assert (g.isna() == w.isna()).all(), column
        mask = w.notna()
        if column == "_step":
            assert (g[mask].astype(int) == w[mask].astype(int)).all()
        else:
            assert (g[mask].astype(w.dtype) == w[mask]).all(), column


T = datetime(2025, 3, 1, 9)


def test_ties_follow_file_order_and_null_touchpoints_are_skipped():
    df = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
        "timestamp": [T, T, T + timedelta(hours=1), T, T, T, T + timedelta(days=1)],
        "touchpoint": ["Cart", "Visit", None, "Home", "Visit", None, "Buy"],
        "event_seq": [2, 0, 3, 1, 4, 5, 6],
    })
    out = computed(df).set_index("event_seq").sort_index()
    # a: Visit (0), Home (1), Cart (2) at the same time, then a null touchpoint (3).
    assert out["_step"][:4].fillna(-1).tolist() == [1, 2, 3, -1]
    assert out.loc[0, "_next_touchpoint"] == "Home"
    assert out.loc[2, "_next_touchpoint"] is None or pd.isna(out.loc[2, "_next_touchpoint"])
    assert out.loc[2, "_last_timestamp"] == T + timedelta(hours=1)  # the null-touchpoint event
    assert pd.isna(out.loc[4, "_next_touchpoint"]) and out.loc[4, "_step"] == 1  # single event
    # c: the null touchpoint is no step, but it is the customer's first event.
    assert pd.isna(out.loc[5, "_step"]) and out.loc[6, "_step"] == 1
    assert out.loc[6, "_first_timestamp"] == T
    assert_same_columns(computed(df), reference(df), ["event_seq"])


def test_without_event_seq_ties_order_by_touchpoint_then_channel():
    df = pd.DataFrame({
        "customer_id": ["a", "a", "a"],
        "timestamp": [T, T, T],
        "touchpoint": ["B", "A", "A"],
        "channel": ["web", "web", "app"],
    })
    out = computed(df).sort_values("_step")
    assert list(zip(out["touchpoint"], out["channel"], strict=True)) == [
        ("A", "app"), ("A", "web"), ("B", "web")]
    assert out["_next_touchpoint"].tolist()[:2] == ["A", "B"]


def test_existing_precomputed_columns_are_replaced():
    df = pd.DataFrame({"customer_id": ["a", "a"], "timestamp": [T, T + timedelta(1)],
                       "touchpoint": ["X", "Y"], "event_seq": [0, 1]})
    twice = add_journey_columns(add_journey_columns(relation(df)))
    assert twice.columns == [*df.columns, *PRECOMPUTED]


def test_customer_level_columns_count_missing_values_as_a_value():
    df = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c"],
        "timestamp": [T] * 5,
        "touchpoint": ["X"] * 5,
        "segment": ["P", "P", "B", "B", None],   # constant within each customer
        "device": ["ios", "web", "web", "web", "web"],  # varies within a
        "region": ["N", None, "S", "S", "S"],    # a value and a missing one within a
        "score": [1.0, 1.0, 2.0, 2.0, None],     # numbers count too
        "empty": [None] * 5,
        "event_seq": range(5),
    })
    assert customer_level_columns(relation(df)) == ["segment", "score", "empty"]


@st.composite
def event_logs(draw):
    n = draw(st.integers(1, 25))
    rows = draw(st.lists(st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(0, 4),
        st.one_of(st.none(), st.sampled_from(["X", "Y", "Z"])),
    ), min_size=n, max_size=n))
    seq = draw(st.permutations(range(n)))
    return pd.DataFrame({
        "customer_id": [r[0] for r in rows],
        "timestamp": [T + timedelta(hours=r[1]) for r in rows],
        "touchpoint": [r[2] for r in rows],
        "event_seq": np.asarray(seq, dtype="int64"),
    })


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_logs())
def test_property_matches_pandas_and_journeys_from_scratch(df):
    assert_same_columns(computed(df), reference(df), ["event_seq"])
    fast = nw.from_native(add_journey_columns(relation(df)))
    for kwargs in ({}, {"with_position": True}, {"with_step": False}):
        got = journeys(fast, **kwargs)
        want = journeys(without_precomputed(fast), **kwargs)
        assert got.collect_schema() == want.collect_schema()
        key = ["customer_id", "timestamp", "event_seq"]
        pd.testing.assert_frame_equal(
            got.to_native().df().sort_values(key).reset_index(drop=True),
            want.to_native().df().sort_values(key).reset_index(drop=True))


# ----------------------------------------------------------------- filters and views

CUSTOMER_LEVEL = ("segment", "persona", "region", "variant")


@pytest.fixture(scope="module")
def stored():
    """The demo events as the workspace stores them (event_seq, ENUM touchpoints), with an
    event-level attribute, and the same table with the precomputed columns."""
    events = demo.load().events.copy()
    events["event_seq"] = np.arange(len(events), dtype="int64")
    events["campaign"] = np.where(events["event_seq"] % 3 == 0, "spring", "autumn")
    con = duckdb.connect()
    con.register("raw", events)
    con.execute("CREATE TYPE tp AS ENUM (SELECT DISTINCT touchpoint FROM raw ORDER BY 1)")
    con.execute("CREATE TABLE plain AS SELECT * REPLACE (touchpoint::tp AS touchpoint) "
                "FROM raw ORDER BY customer_id, timestamp, event_seq")
    con.execute("CREATE TABLE pre AS " + add_journey_columns(con.table("plain")).sql_query())
    return con


class FakeWorkspace:
    """The parts of a Workspace that frames.load reads, over an in-memory table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, customer_level: list[str]):
        self.con = con
        self.profile = {"customer_level": customer_level}

    def get(self, dataset_id):
        return SimpleNamespace(kind="events", profile=self.profile)

    def cursor(self):
        return self.con.cursor()

    def table(self, dataset_id, con=None, *, precomputed=False):
        rel = (con or self.con).table("pre")
        return rel if precomputed else rel.select(duckdb.StarExpression(exclude=PRECOMPUTED))


def test_stored_demo_attributes_are_customer_level(stored):
    level = customer_level_columns(stored.table("plain"))
    assert set(level) == set(CUSTOMER_LEVEL)  # campaign varies within customers


FILTERS = {
    "none": (Filters(), True),
    "segment": (Filters(attributes=(("segment", ("Premium", "Budget")),)), True),
    "campaign": (Filters(attributes=(("campaign", ("spring",)),)), False),
    "dates": (Filters(start=date(2025, 4, 1), end=date(2025, 9, 30)), False),
    "channel": (Filters(channels=("web", "app")), False),
}

STEPS = ["Product page", "Add to cart", "Checkout", "Purchase"]
VIEWS = {
    "sankey": lambda e: paths.sankey_links(e, max_steps=5, top_nodes=None),
    "sankey_folded": lambda e: paths.sankey(e, max_steps=4).coverage,
    "top_paths": lambda e: paths.top_paths(e, max_steps=4),
    "transitions": lambda e: paths.transition_matrix(e),
    "compare": lambda e: paths.compare_transitions(e, conversion=["Purchase"]).table,
    "funnel": lambda e: funnel.funnel(e, STEPS, window=timedelta(days=30)),
    "funnel_strict": lambda e: funnel.funnel(e, STEPS[:2], mode="strict"),
    "funnel_any": lambda e: funnel.funnel(e, STEPS, mode="any_order"),
    "drop_off": lambda e: funnel.drop_off(e, STEPS, 2).table,
    "lifetimes": lambda e: survival.customer_lifetimes(
        e, churn_touchpoints=["Cancel subscription"], inactivity_days=60),
    "scorecard": lambda e: touchpoints.scorecard(e, conversion=["Purchase"],
                                                 churn=["Cancel subscription"]),
}


def same(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    else:
        assert a == b


@pytest.mark.parametrize("name", FILTERS)
def test_views_agree_with_from_scratch_under_filters(stored, name):
    filters, keeps = FILTERS[name]
    ws = FakeWorkspace(stored, list(CUSTOMER_LEVEL))
    loaded = frames.load(ws, "events", filters)
    has = set(PRECOMPUTED) <= set(loaded.collect_schema().names())
    assert has is keeps  # precomputed columns only under filters keeping whole customers
    scratch = frames.canonical(stored.table("plain"), "events", filters)
    for view, run in VIEWS.items():
        try:
            same(run(loaded), run(scratch))
        except AssertionError as error:
            raise AssertionError(f"{view} differs under the {name} filter") from error


def test_load_with_feedback_follows_the_same_rule(stored):
    ws = FakeWorkspace(stored, list(CUSTOMER_LEVEL))
    events, _ = frames.load_with_feedback(ws, "events", None, FILTERS["segment"][0])
    assert set(PRECOMPUTED) <= set(events.collect_schema().names())
    events, _ = frames.load_with_feedback(ws, "events", None, FILTERS["dates"][0])
    assert not set(PRECOMPUTED) & set(events.collect_schema().names())


def test_attribute_filters_need_a_profile_that_lists_them(stored):
    ws = FakeWorkspace(stored, [])  # a dataset imported before customer_level existed
    loaded = frames.load(ws, "events", FILTERS["segment"][0])
    assert not set(PRECOMPUTED) & set(loaded.collect_schema().names())


def test_row_filters_drop_precomputed_columns(stored):
    pre = nw.from_native(stored.table("pre"))
    for name in ("campaign", "dates", "channel"):
        out = frames.apply_filters(pre, FILTERS[name][0])
        assert not set(PRECOMPUTED) & set(out.collect_schema().names()), name
    kept = frames.canonical(pre, "events", FILTERS["segment"][0], whole_journeys=True)
    assert set(PRECOMPUTED) <= set(kept.collect_schema().names())


def test_journeys_ignore_stale_columns_of_a_relation_filtered_by_hand(stored):
    pre = stored.table("pre")
    assert journeys_intact(nw.from_native(pre))
    by_hand = nw.from_native(pre.filter("channel = 'web'"))
    assert not journeys_intact(by_hand)
    scratch = stored.table("plain").filter("channel = 'web'")
    same(paths.sankey_links(by_hand.to_native()), paths.sankey_links(scratch))


def test_precomputed_columns_are_no_attributes(stored):
    table = survival.journey_covariates(stored.table("pre"))
    assert "segment" in table.columns
    assert not set(PRECOMPUTED) & set(table.columns)


def test_real_workspace_hands_on_precomputed_columns(tmp_path):
    from analysis.store import Workspace

    ws = Workspace(tmp_path / "ws")
    events = demo.load().events
    result = ingest.prepare(events, ingest.guess_mapping(events, "events"), "events")
    info = ws.import_result(result, name="demo")
    dataset_id = info.id
    assert set(CUSTOMER_LEVEL) <= set(info.profile.get("customer_level", []))
    for filters, keeps in FILTERS.values():
        loaded = frames.load(ws, dataset_id, filters)
        assert (set(PRECOMPUTED) <= set(loaded.collect_schema().names())) is keeps
        scratch = frames.canonical(without_precomputed(loaded), "events")
        same(paths.sankey_links(loaded), paths.sankey_links(scratch))
        same(funnel.funnel(loaded, STEPS), funnel.funnel(scratch, STEPS))
    assert not set(PRECOMPUTED) & set(ws.table(dataset_id).columns)


def test_a_loaded_frame_is_vouched_for_and_a_hand_filtered_one_still_checked(tmp_path,
                                                                            monkeypatch):
    """frames.load records its whole-journey frames, so views do not scan them again to
    check; a relation filtered by hand from one is new text and is still scanned."""
    from analysis import journeys as journeys_module
    from analysis import precompute
    from analysis.store import Workspace

    ws = Workspace(tmp_path / "ws")
    events = demo.load().events
    info = ws.import_result(ingest.prepare(events, ingest.guess_mapping(events, "events"),
                                           "events"), name="demo")
    loaded = frames.load(ws, info.id, Filters(attributes=(("segment", ("Budget",)),)))
    scans = []
    collect = nw.LazyFrame.collect
    monkeypatch.setattr(nw.LazyFrame, "collect", lambda self, *a, **k: (
        scans.append("n_last" in self.collect_schema().names()), collect(self, *a, **k))[1])
    assert journeys_module.uses_precomputed(loaded)
    assert not any(scans)  # vouched for: no scan
    by_hand = loaded.filter(nw.col("channel").cast(nw.String) == "web")
    assert not precompute.journeys_intact(by_hand)
    assert any(scans)
    scratch = frames.canonical(without_precomputed(by_hand), "events")
    same(paths.sankey_links(by_hand), paths.sankey_links(scratch))
