"""Per-customer KPIs, effects over many KPIs, and their sentences."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis import demo, overview
from analysis.experiments import compare, kpis, words
from analysis.schema import AnalysisError, MissingColumnError, ParameterError, UnknownValueError

T0 = datetime(2025, 1, 1)


def _day(d: float) -> datetime:
    return T0 + timedelta(days=d)


@pytest.fixture
def hand() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        # a: converts on day 2 (revenue 10 + 5 later), churns on day 40 (outside 30 days)
        ("a", 0, "View", None, "A"), ("a", 2, "Purchase", 10.0, "A"),
        ("a", 20, "Renewal", 5.0, "A"), ("a", 40, "Cancel", None, "A"),
        # b: never converts, churns on day 5, touches Checkout
        ("b", 0, "Checkout", None, "B"), ("b", 5, "Cancel", None, "B"),
        # c: starts on day 80, 20 days before the data ends: churn within 30 days unknown
        ("c", 80, "View", None, "B"), ("c", 81, "Purchase", 7.5, "B"),
        # d: seen in both variants -> no variant; the data ends at day 100
        ("d", 1, "View", None, "A"), ("d", 100, "View", None, "B"),
    ]
    events = pd.DataFrame(rows, columns=["customer_id", "day", "touchpoint", "revenue",
                                         "variant"])
    events["timestamp"] = events["day"].map(_day)
    feedback = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", "zz", None],
        "timestamp": [_day(3)] * 7,
        "score": [10, 6, 8, 2, 5, 10, 10],
        "scale": ["nps", "nps", "nps", "csat", "csat", "nps", "nps"],
    })
    return events.drop(columns="day"), feedback


def test_customer_kpis_by_hand(hand):
    events, feedback = hand
    u = kpis.customer_kpis(events, feedback, conversion=["Purchase"], churn=["Cancel"],
                           churn_days=30, touchpoint="Checkout", attributes=["variant"])
    u = u.set_index("customer_id")
    assert list(u.index) == ["a", "b", "c", "d"]  # "zz" has no events: not in the population
    assert u["converted"].tolist() == [1, 0, 1, 0]
    assert u["days_to_convert"].tolist()[0] == 2 and u.loc["c", "days_to_convert"] == 1
    assert np.isnan(u.loc["b", "days_to_convert"])
    assert u["revenue"].tolist() == [15.0, 0.0, 7.5, 0.0]
    assert u.loc["a", "churned"] == 0 and u.loc["b", "churned"] == 1
    assert np.isnan(u.loc["c", "churned"]) and u.loc["d", "churned"] == 0
    assert u["touched"].tolist() == [0, 1, 0, 0]
    assert u["variant"].tolist() == ["A", "B", "B", None]
    assert u.loc["a", "nps"] == 0.0  # one promoter (+100), one detractor (−100)
    assert u.loc["b", "nps"] == 0.0  # a passive
    assert u.loc["b", "csat"] == 2 and u.loc["b", "csat_satisfied"] == 0
    assert u.loc["c", "csat_satisfied"] == 1 and np.isnan(u.loc["d", "nps"])
    assert u["period"].tolist()[:2] == [pd.Timestamp("2025-01-01")] * 2
    assert u.loc["c", "period"] == pd.Timestamp("2025-03-01")


def test_without_definitions_only_what_the_data_allows(hand):
    events, _ = hand
    u = kpis.customer_kpis(events.drop(columns="revenue"))
    assert list(u.columns) == ["customer_id", "first_seen", "last_seen", "period"]


def test_bad_input_says_what_to_fix(hand):
    events, feedback = hand
    with pytest.raises(UnknownValueError):
        kpis.customer_kpis(events, conversion=["Purchse"])
    with pytest.raises(MissingColumnError):
        kpis.customer_kpis(events, attributes=["region"])
    with pytest.raises(ParameterError):
        kpis.customer_kpis(events, churn=["Cancel"], churn_days=0)
    with pytest.raises(MissingColumnError):
        kpis.customer_kpis(events, feedback.drop(columns="scale"))


def test_home_and_experiments_share_definitions():
    d = demo.load()
    u = kpis.customer_kpis(d.events, d.feedback, conversion=["Purchase"])
    home = overview.dataset_overview(d.events, d.feedback, conversion=["Purchase"])
    assert u["converted"].mean() == pytest.approx(home.conversion_rate, abs=1e-12)
    # Per customer equals per answer when everyone answered once.
    single = d.feedback[d.feedback["scale"] == "nps"].drop_duplicates("customer_id")
    fb = kpis.feedback_kpis_per_customer(single)
    assert fb["nps"].mean() == pytest.approx(overview.feedback_kpis(single)["nps"])
    single = d.feedback[d.feedback["scale"] == "csat"].drop_duplicates("customer_id")
    fb = kpis.feedback_kpis_per_customer(single)
    assert fb["csat_satisfied"].mean() == pytest.approx(overview.feedback_kpis(single)["csat"])


def test_summary_intervals_are_wilson_and_adjusted_wald():
    units = pd.DataFrame({"g": ["x"] * 10, "converted": [1] * 3 + [0] * 7,
                          "nps": [100.0] * 5 + [0.0] * 3 + [-100.0] * 2})
    s = kpis.kpi_summary(units, ["converted", "nps"], by=["g"]).set_index("kpi")
    assert s.loc["converted", "value"] == pytest.approx(30.0)
    # Wilson 95% for 3/10: 10.78% to 60.32%
    assert s.loc["converted", "ci_low"] == pytest.approx(10.779, abs=1e-3)
    assert s.loc["converted", "ci_high"] == pytest.approx(60.322, abs=1e-3)
    assert s.loc["nps", "value"] == pytest.approx(30.0)
    from analysis.stats import nps_interval
    assert (s.loc["nps", "ci_low"], s.loc["nps", "ci_high"]) == pytest.approx(
        nps_interval(5, 2, 10))


def test_nps_interval_and_difference_cover_about_95_percent():
    """Coverage by simulation: 400 surveys of 120 customers (one answer each), true shares
    50% promoters / 30% passives / 20% detractors (NPS 30), and 400 A/B pairs with a true
    difference of 10 points."""
    rng = np.random.default_rng(11)
    hits, diff_hits = 0, 0
    for _ in range(400):
        a = rng.choice([100.0, 0.0, -100.0], size=120, p=[0.5, 0.3, 0.2])
        b = rng.choice([100.0, 0.0, -100.0], size=120, p=[0.55, 0.3, 0.15])
        s = kpis.kpi_summary(pd.DataFrame({"nps": a}), ["nps"]).iloc[0]
        hits += s["ci_low"] <= 30 <= s["ci_high"]
        units = pd.DataFrame({"v": ["A"] * 120 + ["B"] * 120, "nps": np.r_[a, b]})
        effects = compare.ab_effects(units, ["nps"], kpis.kpi_catalog(), variant="v",
                                     control="A").table.iloc[0]
        diff_hits += effects["ci_low"] <= 10 <= effects["ci_high"]
    # 95% of 400 is 380; a binomial(400, 0.95) lies in [369, 390] with 99% probability.
    assert 369 <= hits <= 391, hits
    assert 369 <= diff_hits <= 391, diff_hits


@pytest.fixture(scope="module")
def demo_units():
    d = demo.load()
    return kpis.customer_kpis(d.events, d.feedback, conversion=["Purchase"],
                              churn=["Cancel subscription"], attributes=["variant", "region"])


def test_demo_ab_lift_recovered(demo_units):
    e = compare.ab_effects(demo_units, ["converted", "revenue"], kpis.kpi_catalog(),
                           variant="variant", control="A")
    row = e.table.set_index("kpi").loc["converted"]
    assert row["ci_low"] <= demo.AB_LIFT * 100 <= row["ci_high"]
    assert row["p_adjusted"] < 0.01 and not e.srm


def test_demo_aa_split_is_not_significant(demo_units):
    rng = np.random.default_rng(3)
    units = demo_units.assign(half=rng.choice(["x", "y"], size=len(demo_units)))
    e = compare.ab_effects(units, ["converted", "revenue", "nps", "csat", "ces", "churned"],
                           kpis.kpi_catalog(), variant="half", control="x")
    assert (e.table["p_adjusted"] > 0.05).all(), e.table[["kpi", "p_value"]]


def test_demo_did_contains_planted_effect_and_cells_agree(demo_units):
    treated = demo_units["region"] == demo.TREATED_REGION
    catalog = kpis.kpi_catalog()
    for aggregation in ("customers", "cells"):
        e = compare.did_effects(demo_units, ["converted"], catalog, treated=treated,
                                change=demo.CHANGE_DATE, aggregation=aggregation,
                                cell="region")
        row = e.table.iloc[0]
        assert row["ci_low"] <= demo.DID_EFFECT * 100 <= row["ci_high"], aggregation
        assert row["p_value"] < 0.01
    assert any("cluster" in w for w in e.warnings)  # 4 regions are too few clusters


def test_before_after_warns_and_compares_cohorts(demo_units):
    e = compare.before_after_effects(demo_units, ["converted"], kpis.kpi_catalog(),
                                     change=demo.CHANGE_DATE)
    row = e.table.iloc[0]
    after = demo_units[demo_units["first_seen"] >= demo.CHANGE_DATE]["converted"]
    before = demo_units[demo_units["first_seen"] < demo.CHANGE_DATE]["converted"]
    assert row["difference"] == pytest.approx((after.mean() - before.mean()) * 100)
    z = sps.norm.ppf(0.975) * np.sqrt(after.var(ddof=0) / len(after)
                                      + before.var(ddof=0) / len(before)) * 100
    assert row["ci_high"] - row["difference"] == pytest.approx(z, rel=1e-9)
    assert "not a causal effect" in e.warnings[0]


def test_segments_add_rows_and_every_p_is_adjusted_together(demo_units):
    e = compare.ab_effects(demo_units, ["converted", "revenue"], kpis.kpi_catalog(),
                           variant="variant", segment="region", correction="fdr_bh")
    assert set(e.table["segment"]) == {"All customers", "East", "North", "South", "West"}
    assert len(e.table) == 10
    from analysis.stats import adjust_p_values
    np.testing.assert_allclose(e.table["p_adjusted"],
                               adjust_p_values(e.table["p_value"].to_numpy(), "fdr_bh"))


@pytest.mark.parametrize("correction", ["fdr_bh", "bonferroni", "holm"])
def test_a_new_correction_equals_testing_again(demo_units, correction):
    """The page caches the tests and re-adjusts their p-values when only the correction
    changes: the result is the one a full run with that correction gives, for every design."""
    catalog = kpis.kpi_catalog()
    treated = demo_units["region"] == demo.TREATED_REGION
    designs = [
        lambda c: compare.ab_effects(demo_units, ["converted", "revenue"], catalog,
                                     variant="variant", segment="region", correction=c),
        lambda c: compare.before_after_effects(demo_units, ["converted", "revenue"], catalog,
                                               change=demo.CHANGE_DATE, correction=c),
        lambda c: compare.did_effects(demo_units, ["converted"], catalog, treated=treated,
                                      change=demo.CHANGE_DATE, correction=c,
                                      segment="variant"),
    ]
    for design in designs:
        direct = design(correction)
        again = compare.with_correction(design("holm"), correction)
        pd.testing.assert_frame_equal(again.table, direct.table)
        assert (again.warnings, again.status, again.message) == (
            direct.warnings, direct.status, direct.message)
    with pytest.raises(AnalysisError):
        compare.with_correction(direct, "sidak-ish")


def test_cuped_with_pre_period_reduces_variance():
    rng = np.random.default_rng(5)
    n = 2000
    pre_value = rng.gamma(2.0, 20.0, n)
    ids = [f"c{i}" for i in range(n)]
    units = pd.DataFrame({"customer_id": ids, "v": rng.choice(["A", "B"], n),
                          "revenue": pre_value * 0.9 + rng.normal(0, 10, n)})
    pre = pd.DataFrame({"customer_id": ids[: n // 2], "revenue": pre_value[: n // 2]})
    e = compare.ab_effects(units, ["revenue"], kpis.kpi_catalog(), variant="v", pre=pre)
    plain = compare.ab_effects(units, ["revenue"], kpis.kpi_catalog(), variant="v")
    assert e.cuped_reduction["revenue"] > 0.3
    width = e.table["ci_high"] - e.table["ci_low"]
    assert (width < plain.table["ci_high"] - plain.table["ci_low"]).all()


def test_srm_warning_on_unbalanced_split():
    units = pd.DataFrame({"v": ["A"] * 550 + ["B"] * 450, "converted": [1, 0] * 500})
    e = compare.ab_effects(units, ["converted"], kpis.kpi_catalog(), variant="v")
    assert e.srm and "Sample-ratio mismatch" in e.warnings[0]


def test_sentences_read_like_the_issue():
    row = {"label": "Conversion", "unit": " pp", "comparison": "Treated vs Control",
           "segment": "All customers", "difference": 4.1, "ci_low": 2.8, "ci_high": 5.4,
           "p_value": 0.0004, "p_adjusted": 0.0004}
    assert words.effect_sentence(row, "did") == (
        "Conversion rose 4.1 pp (95% CI 2.8 to 5.4 pp) for the treated group relative to "
        "control; p < 0.001.")
    row.update(difference=-1.2, ci_low=-3.0, ci_high=0.6, p_value=0.2, p_adjusted=0.4,
               comparison="B vs A", segment="North")
    assert words.effect_sentence(row, "ab") == (
        "No clear change in Conversion for B relative to A among North: −1.2 pp (95% CI −3.0 "
        "to 0.6 pp); p = 0.20 (adjusted p = 0.40).")
    row.update(difference=float("nan"), p_value=float("nan"), note="Not tested: an arm is "
               "empty.")
    assert words.effect_sentence(row, "ab").endswith("Not tested: an arm is empty.")
    assert words.verdict({"ci_low": 1, "ci_high": 2, "higher_is_better": False}) == "Worse"


def test_horizon_counts_each_customers_first_days_only(hand):
    events, _ = hand
    u = kpis.customer_kpis(events, conversion=["Purchase"], touchpoint="Checkout",
                           horizon_days=10).set_index("customer_id")
    assert u.loc["a", "revenue"] == 10.0  # the renewal on day 20 is outside the first 10 days
    assert u.loc["a", "converted"] == 1 and u.loc["b", "touched"] == 1
    # c started 20 days before the data ends: observed for 10 days, so it counts
    assert u.loc["c", "converted"] == 1
    u = kpis.customer_kpis(events, conversion=["Purchase"], horizon_days=30)
    u = u.set_index("customer_id")
    assert np.isnan(u.loc["c", "converted"]) and np.isnan(u.loc["c", "revenue"])
    assert u.loc["a", "revenue"] == 15.0 and u.loc["d", "converted"] == 0
    with pytest.raises(ParameterError):
        kpis.customer_kpis(events, horizon_days=0)


def test_horizon_removes_the_late_starter_bias_of_before_after(demo_units):
    d = demo.load()
    even = kpis.customer_kpis(d.events, conversion=["Purchase"], horizon_days=90)
    raw = compare.before_after_effects(demo_units, ["revenue"], kpis.kpi_catalog(),
                                       change=demo.CHANGE_DATE).table.iloc[0]
    fair = compare.before_after_effects(even, ["revenue"], kpis.kpi_catalog(),
                                        change=demo.CHANGE_DATE).table.iloc[0]
    # Late starters had less time to renew: the whole-journey comparison says revenue fell,
    # the first-90-days comparison does not.
    assert raw["ci_high"] < 0 and fair["difference"] > 0


def test_a_segment_without_the_control_says_so(demo_units):
    units = demo_units.copy()
    east = units["region"] == "East"
    units.loc[east, "variant"] = "B"
    for control in ("A", None):
        e = compare.ab_effects(units, ["converted"], kpis.kpi_catalog(), variant="variant",
                               control=control, segment="region")
        row = e.table.set_index("segment").loc["East"]
        # With the largest group as control (B, after the move) East has one variant only.
        expected = "no A (control) customers" if control else "only one variant"
        assert expected in row["note"] and np.isnan(row["p_value"])
        assert e.status == "degenerate"
        assert len(e.table) == 5  # every region has its row


def test_did_counts_customers_in_neither_group(demo_units):
    treated = (demo_units["region"] == demo.TREATED_REGION).astype(object)
    treated.iloc[:25] = None
    e = compare.did_effects(demo_units, ["converted"], kpis.kpi_catalog(), treated=treated,
                            change=demo.CHANGE_DATE)
    assert any(w.startswith("25 customers") for w in e.warnings)


def test_a_difference_not_significant_after_adjustment_is_not_called_a_change():
    row = {"label": "Conversion", "unit": " pp", "comparison": "B vs A", "segment": "South",
           "difference": 5.4, "ci_low": 1.4, "ci_high": 9.3, "p_value": 0.019,
           "p_adjusted": 0.19, "higher_is_better": True}
    assert words.effect_sentence(row, "ab").startswith("No clear change in Conversion")
    assert words.verdict(row) == "Unclear"


def test_feedback_kpis_join_matches_plain_pandas():
    """The feedback KPIs sit on their customers' rows (NaN without answers; answers of
    customers without events left out), from a filtered DuckDB relation with tied
    timestamps, as a plain pandas merge of per-customer means puts them."""
    import duckdb

    from analysis.frames import Filters, canonical

    d = demo.load()
    events = d.events.assign(timestamp=d.events["timestamp"].dt.floor("D"))
    relation = duckdb.connect().from_df(events.astype({"channel": str, "touchpoint": str,
                                                       "stage": str}))
    filtered = canonical(relation, "events", Filters(channels=("web", "app")))
    u = kpis.customer_kpis(filtered, d.feedback, conversion=["Purchase"])
    kept = events[events["channel"].isin(["web", "app"])]
    assert list(u["customer_id"]) == sorted(kept["customer_id"].astype(str).unique())
    fb = d.feedback.dropna(subset=["customer_id", "score"])
    fb = fb.assign(customer_id=fb["customer_id"].astype(str))
    nps = np.where(fb["score"] >= 9, 100.0, np.where(fb["score"] <= 6, -100.0, 0.0))
    per = pd.DataFrame({
        "nps": pd.Series(nps, index=fb.index).where(fb["scale"] == "nps"),
        "csat": fb["score"].where(fb["scale"] == "csat"),
        "csat_satisfied": (fb["score"] >= 4).astype(float).where(fb["scale"] == "csat"),
        "ces": fb["score"].where(fb["scale"] == "ces"),
    }).groupby(fb["customer_id"]).mean().reset_index()
    expected = u[["customer_id"]].merge(per, on="customer_id", how="left")
    assert u[["nps", "csat", "csat_satisfied", "ces"]].notna().any().all()
    pd.testing.assert_frame_equal(u[expected.columns], expected, check_dtype=False)
