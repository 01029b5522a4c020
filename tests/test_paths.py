"""Paths: hand-checked journeys, flow conservation, a real log against pandas, backends."""

from __future__ import annotations

from pathlib import Path

import duckdb
import hypothesis.strategies as st
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from scipy import stats

from analysis import demo, ingest, paths
from analysis.journeys import END, OTHER
from analysis.paths import compare_transitions
from analysis.schema import AnalysisError

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _events(rows: list[tuple[str, str, str]], channel: list[str] | None = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    if channel is not None:
        df["channel"] = channel
    return df


# a: Home, Cart, Buy. b: Home and Cart at the same instant (ties keep the file order), then Home.
# c: a single event. d: a repeat.
HAND = _events(
    [
        ("a", "2024-01-01 10:00", "Home"),
        ("a", "2024-01-01 10:05", "Cart"),
        ("a", "2024-01-01 10:09", "Buy"),
        ("b", "2024-01-02 09:00", "Home"),
        ("b", "2024-01-02 09:00", "Cart"),
        ("b", "2024-01-02 09:30", "Home"),
        ("c", "2024-01-03 08:00", "Home"),
        ("d", "2024-01-04 08:00", "Home"),
        ("d", "2024-01-04 08:01", "Home"),
        ("d", "2024-01-04 08:02", "Cart"),
    ],
    channel=["web", "web", "app", "store", "web", "web", "app", "web", "web", "web"],
)


def _as_set(df: pd.DataFrame) -> set[tuple]:
    return set(df[["step", "source", "target", "customers"]].itertuples(index=False, name=None))


def test_hand_built_links():
    links = paths.sankey_links(HAND, max_steps=3, top_nodes=None)
    assert _as_set(links) == {
        (1, "Home", "Cart", 2),  # a, and b: Home comes first in the file at the same instant
        (1, "Home", END, 1),  # c
        (1, "Home", "Home", 1),  # d
        (2, "Cart", "Buy", 1),  # a
        (2, "Cart", "Home", 1),  # b
        (2, "Home", "Cart", 1),  # d
    }
    cov = paths.sankey(HAND, max_steps=3, top_nodes=None).coverage
    assert (cov.customers, cov.customers_total, cov.events, cov.events_total) == (4, 4, 10, 10)


def test_links_are_sorted_and_typed():
    links = paths.sankey_links(HAND, max_steps=3)
    assert list(links.columns) == ["step", "source", "target", "customers"]
    assert links["step"].is_monotonic_increasing
    assert links["customers"].dtype.kind == "i"


def test_collapse_repeats_and_exclude():
    links = paths.sankey_links(HAND, max_steps=3, top_nodes=None, collapse_repeats=True)
    assert (1, "Home", "Cart", 3) in _as_set(links)  # a, b and d
    assert (2, "Cart", END, 1) in _as_set(links)  # d after collapsing
    excluded = paths.sankey_links(HAND, max_steps=2, top_nodes=None, exclude=["Home"])
    assert _as_set(excluded) == {(1, "Cart", "Buy", 1), (1, "Cart", END, 2)}


def test_anchors():
    after = paths.sankey_links(HAND, max_steps=2, top_nodes=None, start_at="Cart")
    assert _as_set(after) == {(1, "Cart", "Buy", 1), (1, "Cart", "Home", 1), (1, "Cart", END, 1)}
    assert paths.sankey(HAND, max_steps=2, start_at="Cart").coverage.customers == 3
    before = paths.sankey_links(HAND, max_steps=2, top_nodes=None, end_at="Cart")
    # a: Home > Cart; b: Home > Cart at one instant (file order); d: Home > Cart
    assert _as_set(before) == {(1, "Home", "Cart", 3)}


def test_node_by_channel():
    links = paths.sankey_links(HAND, max_steps=2, top_nodes=None, node_by="channel")
    # b is ordered Home (store) before Cart (web) at 09:00, as in the file: store -> web.
    assert _as_set(links) == {(1, "web", "web", 2), (1, "store", "web", 1), (1, "app", END, 1)}


def test_folding_into_other_keeps_flows():
    links = paths.sankey_links(HAND, max_steps=3, top_nodes=1)
    assert OTHER in set(links["source"]) | set(links["target"])
    assert links.loc[links["step"] == 1, "customers"].sum() == 4
    assert paths.sankey(HAND, max_steps=3, top_nodes=1).coverage.folded_share > 0


def test_bad_parameters_say_how_to_fix():
    with pytest.raises(AnalysisError, match="from 2 to 50"):
        paths.sankey_links(HAND, max_steps=1)
    with pytest.raises(AnalysisError, match="no stage column"):
        paths.sankey_links(HAND, node_by="stage")


def test_empty_events_give_empty_links():
    links = paths.sankey_links(HAND.iloc[0:0])
    assert links.empty and list(links.columns) == ["step", "source", "target", "customers"]


journey_rows = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
        st.integers(0, 6),
        st.sampled_from(["A", "B", "C", "D", "E", "F"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=journey_rows, max_steps=st.integers(2, 5), top=st.sampled_from([None, 1, 2, 3]),
       collapse=st.booleans())
def test_flow_is_conserved(rows, max_steps, top, collapse):
    df = _events([(c, f"2024-01-01 00:0{t}", tp) for c, t, tp in rows])
    links = paths.sankey_links(df, max_steps=max_steps, top_nodes=top, collapse_repeats=collapse)
    assert links.loc[links["step"] == 1, "customers"].sum() == df["customer_id"].nunique()
    for k in range(2, max_steps):
        inflow = links[(links["step"] == k - 1) & (links["target"] != END)].groupby("target")[
            "customers"].sum()
        outflow = links[links["step"] == k].groupby("source")["customers"].sum()
        pd.testing.assert_series_equal(inflow.sort_index(), outflow.sort_index(),
                                       check_names=False)


def _pandas_links(df: pd.DataFrame, max_steps: int) -> pd.DataFrame:
    """An independent computation: sort, number, look one step ahead."""
    d = df.sort_values(["customer_id", "timestamp"], kind="stable").copy()
    d["step"] = d.groupby("customer_id").cumcount() + 1
    d["target"] = d.groupby("customer_id")["touchpoint"].shift(-1).fillna(END)
    d = d[d["step"] < max_steps]
    return (d.groupby(["step", "touchpoint", "target"]).size().rename("customers").reset_index()
            .rename(columns={"touchpoint": "source"}))


@pytest.fixture(scope="module")
def receipt() -> pd.DataFrame:
    raw = ingest.read_table(DATASETS / "receipt_process_log.csv")
    data = ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events").data
    return data.astype({"touchpoint": str, "channel": str})


def test_receipt_log_links_match_pandas(receipt):
    ours = paths.sankey_links(receipt, max_steps=6, top_nodes=None)
    expected = _pandas_links(receipt, 6)
    assert _as_set(ours) == _as_set(expected)
    assert ours.loc[ours["step"] == 1, "customers"].sum() == 1434


def test_receipt_transition_matrix_matches_pandas(receipt):
    d = receipt.sort_values(["customer_id", "timestamp"], kind="stable").copy()
    d["target"] = d.groupby("customer_id")["touchpoint"].shift(-1)
    d["gap"] = (d.groupby("customer_id")["timestamp"].shift(-1) - d["timestamp"]).dt.total_seconds()
    d = d.dropna(subset=["target"])
    expected = d.groupby(["touchpoint", "target"]).agg(
        transitions=("gap", "size"), customers=("customer_id", "nunique"),
        median_seconds=("gap", "median"),
    ).reset_index()
    ours = paths.transition_matrix(receipt)
    merged = ours.merge(expected, left_on=["source", "target"],
                        right_on=["touchpoint", "target"], suffixes=("", "_pd"))
    assert len(merged) == len(ours) == len(expected)
    assert (merged["transitions"] == merged["transitions_pd"]).all()
    assert (merged["customers"] == merged["customers_pd"]).all()
    np.testing.assert_allclose(merged["median_seconds"], merged["median_seconds_pd"])
    sums = ours.groupby("source")["share_of_row"].sum()
    np.testing.assert_allclose(sums, 1.0)


def test_top_paths_match_pandas_on_the_demo():
    ev = demo.load().events
    ours = paths.top_paths(ev, max_steps=4, limit=10)
    d = ev.sort_values(["customer_id", "timestamp"], kind="stable")
    first = d.groupby("customer_id").head(4)
    path = first.groupby("customer_id")["touchpoint"].agg(" > ".join)
    converted = d.groupby("customer_id")["touchpoint"].agg(lambda s: "Purchase" in set(s))
    counts = path.value_counts()
    top = counts.sort_index().sort_values(ascending=False, kind="stable").head(10)
    assert ours["path"].tolist() == top.index.tolist()
    assert ours["customers"].tolist() == top.tolist()
    np.testing.assert_allclose(ours["share"], top / ev["customer_id"].nunique())
    conv = converted.groupby(path).mean()
    np.testing.assert_allclose(ours["converted_share"], conv.loc[top.index].to_numpy())
    assert paths.common_paths(ev, max_steps=4).conversion == ("Purchase",)
    assert ours["steps"].tolist() == [p.count(" > ") + 1 for p in ours["path"]]


def test_top_paths_without_conversion_touchpoints_are_nan():
    out = paths.top_paths(HAND, conversion=[], churn=[])
    assert out["converted_share"].isna().all() and out["churned_share"].isna().all()
    assert out["customers"].sum() == 4


def test_channel_switching_matches_pandas():
    ev = demo.load().events
    result = paths.channel_switching(ev)
    d = ev.sort_values(["customer_id", "timestamp"], kind="stable").copy()
    d["next"] = d.groupby("customer_id")["channel"].shift(-1)
    moves = d.dropna(subset=["next"])
    assert result.matrix["transitions"].sum() == len(moves)
    assert result.switch_share == pytest.approx((moves["channel"] != moves["next"]).mean())
    per = ev.groupby("customer_id")["channel"].nunique()
    assert result.cross_channel_share == pytest.approx((per > 1).mean())


@pytest.mark.parametrize("backend", ["duckdb", "polars", "polars-lazy"])
def test_same_results_from_every_backend(backend):
    ev = demo.load().events
    native = {
        "duckdb": lambda: duckdb.connect().from_df(ev),
        "polars": lambda: pl.from_pandas(ev),
        "polars-lazy": lambda: pl.from_pandas(ev).lazy(),
    }[backend]()
    pd.testing.assert_frame_equal(paths.sankey_links(native), paths.sankey_links(ev))
    pd.testing.assert_frame_equal(paths.top_paths(native), paths.top_paths(ev))
    pd.testing.assert_frame_equal(paths.transition_matrix(native), paths.transition_matrix(ev))


def test_inputs_are_not_mutated():
    before = HAND.copy()
    paths.sankey_links(HAND, collapse_repeats=True, start_at="Cart")
    paths.top_paths(HAND)
    pd.testing.assert_frame_equal(HAND, before)


def test_compare_by_attribute_against_scipy():
    ev = demo.load().events
    result = compare_transitions(ev, group_col="segment", group_a="Premium", group_b="Budget")
    out = result.table
    seg = ev.sort_values(["customer_id", "timestamp"], kind="stable").groupby(
        "customer_id")["segment"].first()
    n_a, n_b = int((seg == "Premium").sum()), int((seg == "Budget").sum())
    assert result.groups == {"Premium": n_a, "Budget": n_b}
    d = ev.sort_values(["customer_id", "timestamp"], kind="stable").copy()
    d["next"] = d.groupby("customer_id")["touchpoint"].shift(-1)
    made = d.dropna(subset=["next"]).query("touchpoint == 'App login' and next == 'Renewal'")
    who = seg.loc[made["customer_id"].unique()]
    a, b = int((who == "Premium").sum()), int((who == "Budget").sum())
    row = out[(out["source"] == "App login") & (out["target"] == "Renewal")].iloc[0]
    assert (row["customers_a"], row["customers_b"]) == (a, b)
    p = stats.chi2_contingency([[a, n_a - a], [b, n_b - b]], correction=False)[1]
    assert row["p_value"] == pytest.approx(p)
    tested = out["p_value"].notna().sum()
    assert row["p_adjusted"] <= min(1.0, p * tested) + 1e-12
    assert row["p_adjusted"] >= p


def test_compare_converted_counts_only_moves_before_conversion():
    df = _events(
        [("a", "2024-01-01 10:00", "Home"), ("a", "2024-01-01 10:01", "Purchase"),
         ("a", "2024-01-01 10:02", "Home"), ("b", "2024-01-01 10:00", "Home"),
         ("b", "2024-01-01 10:01", "Exit")]
    )
    result = compare_transitions(df, min_customers=100)
    out = result.table
    assert set(zip(out["source"], out["target"], strict=True)) == {("Home", "Exit")}
    assert result.groups == {"converted": 1, "not converted": 1}
    assert out["p_value"].isna().all() and "nothing tested" in result.message
    assert result.status == "degenerate"


def test_compare_needs_two_values():
    with pytest.raises(AnalysisError, match="two different values"):
        compare_transitions(HAND, group_col="channel", group_a="web", group_b="web")


@pytest.mark.parametrize("options", [
    {}, {"collapse_repeats": True, "exclude": ("Newsletter open",)}, {"start_at": "Product page"},
    {"node_by": "channel"}])
def test_counted_once_for_ten_steps_then_cut_equals_a_fresh_count(options):
    """The page counts moves and paths once for the slider's largest value and cuts them
    for the one shown: the same Sankey and top paths as counting for that number."""
    from analysis.paths.sankey import fold_sankey, sankey_steps
    from analysis.paths.top import path_counts, paths_from_counts

    ev = demo.load().events
    ev = ev[ev["region"] != "North"]  # a filter: customers drop out
    moves = sankey_steps(ev, max_steps=10, **options)
    counts = path_counts(ev, max_steps=10, **options)
    for steps in range(2, 11):
        fresh = paths.sankey(ev, max_steps=steps, top_nodes=6, **options)
        cut = fold_sankey(moves, steps, top_nodes=6)
        pd.testing.assert_frame_equal(cut.links, fresh.links)
        assert cut.coverage == fresh.coverage
        top = paths.common_paths(ev, max_steps=steps, limit=15, **options)
        again = paths_from_counts(counts, steps, limit=15)
        pd.testing.assert_frame_equal(again.table, top.table)
        assert again.coverage == top.coverage
    with pytest.raises(AnalysisError, match="counted for 10 steps"):
        fold_sankey(moves, 11)
    ended = sankey_steps(ev, max_steps=6, end_at="Purchase")
    with pytest.raises(AnalysisError, match="counted for 6 steps"):
        fold_sankey(ended, 5)


def test_top_paths_with_ties_follow_file_order():
    """Equal timestamps: the file order (event_seq) decides the step order."""
    t = pd.Timestamp("2024-01-01")
    ev = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b"],
                       "timestamp": [t, t, t + pd.Timedelta(hours=1), t, t],
                       "touchpoint": ["Y", "X", "Z", "X", "Y"],
                       "event_seq": [0, 1, 2, 3, 4]})
    out = paths.top_paths(ev, max_steps=2, conversion=[], churn=[])
    assert sorted(out["path"]) == ["X > Y", "Y > X"]
    assert out.set_index("path")["continues_share"].to_dict() == {"X > Y": 0.0, "Y > X": 1.0}
