"""The six wrong or surprising results of issue 7, each pinned by a test that failed before."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis import frames, funnel, ingest, paths
from analysis.store import Workspace


def _events(rows, **extra) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    for name, values in extra.items():
        df[name] = values
    return df


# 1 ------------------------------------------------------------- path comparison cut-off


CONVERTER = [("a", "2024-01-01 10:00", "Home"), ("a", "2024-01-01 10:01", "Promo"),
             ("a", "2024-01-01 10:02", "Cart"), ("a", "2024-01-01 10:03", "Purchase"),
             ("b", "2024-01-01 10:00", "Home"), ("b", "2024-01-01 10:01", "Cart"),
             ("b", "2024-01-01 10:02", "Exit")]


def _converted_moves(df, **kw) -> set[tuple[str, str]]:
    table = paths.compare_transitions(df, min_customers=1, **kw).table
    made = table[table["customers_a"] > 0]
    return set(zip(made["source"], made["target"], strict=True))


def test_conversion_cutoff_ignores_left_out_touchpoints():
    assert _converted_moves(_events(CONVERTER), exclude=["Promo"]) == {("Home", "Cart")}
    assert _converted_moves(_events(CONVERTER)) == {("Home", "Promo"), ("Promo", "Cart")}


def test_conversion_cutoff_ignores_merged_repeats():
    rows = [("a", "2024-01-01 10:00", "Home"), ("a", "2024-01-01 10:01", "Home"),
            ("a", "2024-01-01 10:02", "Cart"), ("a", "2024-01-01 10:03", "Purchase"),
            ("b", "2024-01-01 10:00", "Home"), ("b", "2024-01-01 10:01", "Exit")]
    assert _converted_moves(_events(rows), collapse_repeats=True) == {("Home", "Cart")}


def test_comparison_without_a_conversion_touchpoint_is_degenerate():
    rows = [("a", "2024-01-01", "Home"), ("a", "2024-01-02", "Cart")]
    result = paths.compare_transitions(_events(rows))
    assert result.status == "degenerate" and "conversion" in result.message
    assert result.table.empty


# 2 ------------------------------------------------------------------ ties keep file order

DATE_ONLY = b"""user,date,event
u1,2024-03-01,Visit
u1,2024-03-01,Purchase
u2,2024-03-02,Visit
u2,2024-03-02,Add to cart
u2,2024-03-02,Purchase
u3,2024-03-02,Visit
"""


def test_date_only_export_keeps_file_order(tmp_path):
    raw = ingest.read_table(io.BytesIO(DATE_ONLY), filename="export.csv")
    data = ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events").data
    assert data["event_seq"].tolist() == [0, 1, 2, 3, 4, 5]
    # "Purchase" sorts before "Visit", yet each Visit came first in the file.
    assert funnel.funnel(data, ["Visit", "Purchase"])["customers"].tolist() == [3, 2]
    links = paths.sankey_links(data, max_steps=2, top_nodes=None)
    assert set(links.loc[links["source"] == "Visit", "target"]) == {"Purchase", "Add to cart",
                                                                      "(end)"}
    with Workspace(tmp_path / "ws.duckdb") as ws:
        result = ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events")
        info = ws.import_result(result, name="date only")
        stored = frames.load(ws, info.id)
        assert funnel.funnel(stored, ["Visit", "Purchase"])["customers"].tolist() == [3, 2]


def test_pandas_row_order_breaks_ties_without_event_seq():
    rows = [("a", "2024-01-01", "Visit"), ("a", "2024-01-01", "Purchase")]
    assert funnel.funnel(_events(rows), ["Visit", "Purchase"])["customers"].tolist() == [1, 1]
    assert funnel.funnel(_events(rows[::-1]), ["Visit", "Purchase"])["customers"].tolist() == [
        1, 0]


# 3 (any order, one event per step) is in tests/test_funnel.py:
# test_repeated_steps_need_two_events and test_any_order_does_not_let_one_event_count_twice.


# 4 --------------------------------------------------------------------------- strict mode


def test_strict_mode_skips_events_without_a_touchpoint_like_journeys_do():
    rows = [("a", "2024-01-01 10:00", "A"), ("a", "2024-01-01 10:01", None),
            ("a", "2024-01-01 10:02", "B")]
    df = _events(rows)
    assert funnel.funnel(df, ["A", "B"], mode="strict")["customers"].tolist() == [1, 1]
    links = paths.sankey_links(df, max_steps=2, top_nodes=None)
    assert set(zip(links["source"], links["target"], strict=True)) == {("A", "B")}


def test_strict_mode_is_deterministic_with_ties():
    rows = [(c, "2024-01-01", t) for c in "abcdefgh" for t in ("A", "A", "B")]
    df = _events(rows)
    runs = {tuple(funnel.funnel(df, ["A", "B"], mode="strict")["customers"]) for _ in range(5)}
    # The second A (same instant, later in the file) sits between the first A and B.
    assert runs == {(8, 0)}
    assert funnel.funnel(df, ["A", "A", "B"], mode="strict")["customers"].tolist() == [8, 8, 8]


# 5 --------------------------------------------------------------- breakdown significance


def _breakdown_events(groups=(("x", 40, 38, 3), ("y", 40, 30, 0))) -> pd.DataFrame:
    rows, group = [], []
    for g, n, second, third in groups:
        for i in range(n):
            cid = f"{g}{i}"
            steps = ["A"] + (["B"] if i < second else []) + (["C"] if i < third else [])
            for k, name in enumerate(steps):
                rows.append((cid, f"2024-01-01 10:0{k}", name))
                group.append(g)
    return _events(rows, group=group)


def test_small_later_steps_use_fisher_and_stars_are_holm_corrected():
    out = funnel.funnel(_breakdown_events(), ["A", "B", "C"], by="group")
    step2 = out[out["step_index"] == 2]
    step3 = out[out["step_index"] == 3]
    assert set(step2["test"]) == {"chi-square"}
    assert set(step3["test"]) == {"Fisher exact"}  # expected counts below 5
    p2 = sps.chi2_contingency([[38, 30], [2, 10]], correction=False)[1]
    p3 = sps.fisher_exact([[3, 0], [35, 30]])[1]
    assert step2["p_value"].iloc[0] == pytest.approx(p2)
    assert step3["p_value"].iloc[0] == pytest.approx(p3)
    adjusted = multipletests([p2, p3], method="holm")[1]
    assert step2["p_adjusted"].iloc[0] == pytest.approx(adjusted[0])
    assert step3["p_adjusted"].iloc[0] == pytest.approx(adjusted[1])
    assert out.loc[out["step_index"] == 1, "p_adjusted"].isna().all()


def test_more_groups_with_tiny_counts_say_too_few_to_test():
    df = _breakdown_events((("x", 40, 38, 3), ("y", 40, 30, 0), ("z", 30, 25, 1)))
    out = funnel.funnel(df, ["A", "B", "C"], by="group")
    step3 = out[out["step_index"] == 3]
    assert step3["p_value"].isna().all()
    assert step3["note"].str.contains("too few").all()


# 6 ------------------------------------------------------------------------------ drop-off


def test_drop_off_sees_an_event_at_the_same_instant():
    rows = [("a", "2024-01-01 10:00", "Checkout"), ("a", "2024-01-01 10:00", "Help"),
            ("b", "2024-01-01 10:00", "Checkout"), ("b", "2024-01-01 10:05", "Purchase"),
            ("c", "2024-01-01 10:00", "Checkout")]
    result = funnel.drop_off(_events(rows), ["Checkout", "Purchase"], 1)
    assert dict(zip(result.table["next_touchpoint"], result.table["customers"],
                    strict=True)) == {"Help": 1, funnel.LEFT: 1}
    assert (result.dropped, result.continued, result.status) == (2, 1, "ok")


def test_drop_off_feedback_only_counts_what_was_said_after_the_step():
    rows = [("a", "2024-01-02", "Checkout"), ("b", "2024-01-02", "Checkout"),
            ("b", "2024-01-03", "Purchase")]
    feedback = pd.DataFrame({
        "customer_id": ["a", "a", "b"],
        "timestamp": pd.to_datetime(["2024-01-01 00:00", "2024-01-02 12:00", "2024-01-04 00:00"]),
        "category": ["before the step", "payment failed", "delivery"],
        "score": [2.0, 1.0, 9.0],
    })
    table = funnel.drop_off_feedback(_events(rows), feedback, ["Checkout", "Purchase"], 1).table
    assert table["topic"].tolist() == ["payment failed", "delivery"]
    assert table["dropped_mentions"].tolist() == [1, 0]
    assert np.isnan(table["dropped_mean_score"].iloc[1])


def test_nothing_left_after_filters_is_a_status_not_an_error():
    empty = _events([("a", "2024-01-01", "Home")]).iloc[:0]
    assert paths.sankey(empty, start_at="Cart").status == "empty"
    assert paths.common_paths(empty).status == "empty"
    assert paths.transitions(empty).status == "empty"
    assert funnel.funnel(empty, ["Home", "Cart"])["customers"].tolist() == [0, 0]
    assert funnel.drop_off(empty, ["Home", "Cart"], 1).status == "empty"


def test_a_small_folded_share_does_not_read_zero():
    from analysis.results import Coverage, percent

    assert [percent(x) for x in (0.0, 0.004, 0.5, 0.996, 1.0)] == ["0%", "<1%", "50%", ">99%",
                                                                   "100%"]
    text = Coverage(customers=5, customers_total=1000, events=995, events_total=1000,
                    folded_share=0.003).sentence()
    assert "(<1%)" in text and "(>99%)" in text and "<1% of customer-steps" in text
