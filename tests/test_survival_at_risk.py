"""At-risk ranking, lifetimes with baseline covariates, the conversion clock and the sentences,
by hand and on the demo's planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.survival import (
    at_risk,
    churn_table,
    cox_hazards,
    customer_lifetimes,
    from_first,
    kaplan_meier,
    words,
)
from analysis.survival.at_risk import covariate_label, value_label

CHURN = ["Cancel subscription"]


@pytest.fixture(scope="module")
def demo_data():
    return demo.load()


@pytest.fixture(scope="module")
def subscribers(demo_data) -> pd.DataFrame:
    return churn_table(demo_data.events, churn_touchpoints=CHURN, start_at=["Purchase"],
                       feedback=demo_data.feedback)


def _model_covariates(table: pd.DataFrame) -> list[str]:
    base = {"customer_id", "start", "end", "duration_days", "churned", "mean_score",
            "first_touchpoint"}
    return [c for c in table.columns if c not in base]


def test_from_first_starts_at_the_first_conversion_in_journey_order():
    events = pd.DataFrame({
        "customer_id": ["a"] * 4 + ["b", "b"] + ["c"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-09",
                                     "2024-01-01", "2024-01-03", "2024-01-01"]),
        # a: an ad, then a visit and the purchase at the same time (file order), then use.
        "touchpoint": ["ad", "visit", "buy", "use", "buy", "use", "ad"],
    })
    out = from_first(events, ["buy"]).collect().to_pandas()
    got = sorted(zip(out["customer_id"], out["touchpoint"], strict=True))
    assert got == [("a", "buy"), ("a", "use"), ("b", "buy"), ("b", "use")]  # c never bought
    swapped = events.iloc[[0, 2, 1, 3, 4, 5, 6]].reset_index(drop=True)
    out = from_first(swapped, ["buy"]).collect().to_pandas()
    assert sorted(out.loc[out["customer_id"] == "a", "touchpoint"]) == ["buy", "use", "visit"]


def test_baseline_covariates_stop_when_the_lifetime_starts():
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "b", "c", "c"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05",
                                     "2024-01-01", "2024-01-02", "2024-02-01",
                                     "2024-01-01", "2024-01-03"]),
        "touchpoint": ["fail", "buy", "cancel", "visit", "buy", "fail", "visit", "buy"],
    })
    table = churn_table(events, churn_touchpoints=["cancel"], start_at=["buy"])
    rows = table.set_index("customer_id")
    assert rows.loc["a", "duration_days"] == 3 and rows.loc["a", "churned"]
    assert rows.loc["b", "duration_days"] == 30 and not rows.loc["b", "churned"]
    # b's "fail" came after the purchase: not a baseline covariate.
    assert rows["touched: fail"].to_dict() == {"a": 1, "b": 0, "c": 0}
    assert "touched: buy" not in table and "touched: cancel" not in table
    whole = churn_table(events, churn_touchpoints=["cancel"], start_at=["buy"],
                        baseline=False).set_index("customer_id")
    assert whole["touched: fail"].to_dict() == {"a": 1, "b": 1, "c": 0}


def test_covariates_known_by_as_of_only():
    events = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-01", "2024-01-10"]),
        "touchpoint": ["visit", "complain", "visit", "complain"],
    })
    table = churn_table(events, as_of="2024-02-01").set_index("customer_id")
    assert table["touched: complain"].to_dict() == {"a": 0, "b": 1}


def _hand_built(seed: int = 0, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    t = rng.exponential(30 / np.exp(1.0 * x))
    c = rng.uniform(0, 60, n)
    return pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(n)],
                         "duration_days": np.minimum(t, c), "churned": t <= c,
                         "touched: fail": x})


def test_relative_hazard_is_the_cox_prediction_against_the_average_customer():
    table = _hand_built()
    result = at_risk(table, covariates=["touched: fail"], penalizer=0.0)
    coef = cox_hazards(table, covariates=["touched: fail"]).table["coef"].iloc[0]
    assert result.status == "ok" and result.model.table["coef"].iloc[0] == pytest.approx(coef)
    active = table[~table["churned"]].set_index("customer_id")
    assert set(result.table["customer_id"]) == set(active.index)
    mean = table["touched: fail"].mean()
    expected = np.exp(coef * (active.loc[result.table["customer_id"], "touched: fail"] - mean))
    np.testing.assert_allclose(result.table["relative_hazard"], expected.to_numpy())
    assert result.table["risk_rank"].tolist() == list(range(1, len(active) + 1))
    assert result.table["relative_hazard"].is_monotonic_decreasing
    top, bottom = result.table.iloc[0], result.table.iloc[-1]
    assert top["reasons"].startswith("Had fail (×")
    assert bottom["reasons"] == "no single factor stands out"


def test_no_churn_is_degenerate_not_an_exception():
    table = _hand_built().assign(churned=False)
    result = at_risk(table, covariates=["touched: fail"])
    assert result.status == "degenerate" and "No customer churned" in result.message
    assert result.table.empty


def test_labels_read_as_words():
    assert covariate_label("touched: Payment failed") == "Had Payment failed"
    assert covariate_label("first_channel=web") == "First channel: web"
    assert covariate_label("segment") == "Segment"
    assert value_label("touched: App login", 0) == "Never had App login"
    assert value_label("n_channels", 3) == "Channels used: 3"


def test_demo_payment_failure_through_the_page_model(subscribers):
    result = at_risk(subscribers, covariates=_model_covariates(subscribers))
    row = result.model.table.set_index("covariate").loc["touched: Payment failed"]
    assert result.status == "ok"
    assert row.ci_low < demo.PAYMENT_FAILURE_HR < row.ci_high and row.ci_low > 1


def test_demo_long_lived_segment_has_the_highest_median(demo_data, subscribers):
    km = kaplan_meier(subscribers, by="segment")
    summary = km.summary.set_index("group")
    longest = demo_data.ground_truth["survival_by_segment"]["longest"]
    others = summary.drop(index=longest)
    # Not reached (NaN) means more than half are still customers at the end: the longest.
    assert np.isnan(summary.loc[longest, "median_time"]) or (
        summary.loc[longest, "median_time"] > others["median_time"].max())
    assert summary.loc[longest, "rmst"] > others["rmst"].max()
    assert km.logrank_p < 0.001
    sentence = words.group_comparison(km)
    assert sentence.startswith("How long customers stay differs") and longest in sentence


def test_demo_at_risk_top_decile_churns_more_later(demo_data):
    earlier = churn_table(demo_data.events, churn_touchpoints=CHURN, start_at=["Purchase"],
                          as_of="2025-09-01")
    ranked = at_risk(earlier, covariates=_model_covariates(earlier)).table
    later = customer_lifetimes(demo_data.events, churn_touchpoints=CHURN)
    churned = later.set_index("customer_id")["churned"].reindex(ranked["customer_id"])
    decile = len(ranked) // 10
    top, bottom = churned.iloc[:decile].mean(), churned.iloc[-decile:].mean()
    assert top > bottom + 0.3


def test_two_group_sentence_uses_the_hazard_ratio():
    table = _hand_built().assign(plan=lambda d: np.where(d["touched: fail"] == 1, "app", "web"))
    km = kaplan_meier(table, by="plan")
    hazard = cox_hazards(table, covariates=["plan"])
    sentence = words.group_comparison(km, hazard)
    ratio = hazard.table["hazard_ratio"].iloc[0]
    level = hazard.table["covariate"].iloc[0].split("=")[1]
    other = "web" if level == "app" else "app"
    change = f"{abs(1 - ratio) * 100:.0f}% {'lower' if ratio < 1 else 'higher'}"
    assert sentence.startswith(f"{level} customers' churn hazard is {change} than {other}'s")
    assert "log-rank p < 0.001" in sentence


def test_a_separating_covariate_is_left_out_and_the_rest_still_ranks():
    table = _hand_built()
    # Every customer with "cancel form" churned, nobody else did: perfect separation.
    table["touched: cancel form"] = 0
    churned = table.index[table["churned"]]
    table.loc[churned, "touched: cancel form"] = 1
    result = at_risk(table, covariates=["touched: fail", "touched: cancel form"], penalizer=0)
    assert result.status == "ok"
    assert "Left out Had cancel form" in result.message
    assert result.model.table["covariate"].tolist() == ["touched: fail"]


def test_missing_text_values_are_a_level_not_a_lost_row():
    table = _hand_built().assign(
        plan=lambda d: np.where(d["touched: fail"] == 1, "app", None))
    fit = cox_hazards(table, covariates=["plan"])
    assert fit.status == "ok" and fit.n == len(table)
    assert fit.table["covariate"].tolist() in (["plan=(missing)"], ["plan=app"])


def _reference_ranking(table: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """The at-risk list the plain pandas way, row by row (how it was first written)."""
    from analysis.survival.at_risk import _source_covariates
    from analysis.survival.cox import fit_cox

    fit = fit_cox(table, covariates=covariates, penalizer=0.01, keep=("customer_id",))
    active = fit.rows[~fit.rows["churned"].astype(bool)]
    terms = fit.coefficients.index.tolist()
    contributions = (fit.design.loc[active.index, terms] - fit.means[terms]) * fit.coefficients
    by_covariate = contributions.T.groupby(_source_covariates(terms, covariates)).sum().T
    log_hazard = contributions.sum(axis=1).to_numpy()
    order = np.argsort(-log_hazard, kind="stable")
    ranked, values = active.iloc[order], by_covariate.iloc[order]
    reasons = []
    for i in range(len(ranked)):
        row = values.iloc[i]
        picks = np.argsort(-row.to_numpy(), kind="stable")[:3]
        parts = [f"{value_label(row.index[j], ranked[row.index[j]].iloc[i])} "
                 f"(×{np.exp(row.iloc[j]):.2f})" for j in picks if row.iloc[j] > 0.01]
        reasons.append("; ".join(parts) if parts else "no single factor stands out")
    return pd.DataFrame({"customer_id": ranked["customer_id"].astype(str).to_numpy(),
                         "relative_hazard": np.exp(log_hazard[order]), "reasons": reasons})


def test_ranking_and_reasons_match_the_row_by_row_reference():
    rng = np.random.default_rng(5)
    table = _hand_built(seed=5, n=600).assign(
        plan=lambda d: rng.choice(["basic", "pro", "team"], len(d)),
        n_channels=lambda d: rng.integers(1, 4, len(d)),
        mean_score=lambda d: np.round(rng.normal(5, 2, len(d)), 1))
    covariates = ["touched: fail", "plan", "n_channels", "mean_score"]
    ours = at_risk(table, covariates=covariates).table
    expected = _reference_ranking(table, covariates)
    assert ours["customer_id"].tolist() == expected["customer_id"].tolist()
    np.testing.assert_allclose(ours["relative_hazard"], expected["relative_hazard"],
                               rtol=1e-12)
    assert ours["reasons"].tolist() == expected["reasons"].tolist()
    assert ours["reasons"].str.contains("Plan: ").any()
    assert ours["reasons"].str.contains("Mean feedback score: ").any()


@pytest.mark.parametrize("rule", [{"churn_touchpoints": ["cancel"]}, {"inactivity_days": 20},
                                  {"churn_touchpoints": ["cancel"], "inactivity_days": 9}])
def test_lifetimes_from_the_starts_equal_those_of_the_population(rule):
    # A stored dataset (ENUM touchpoints, precomputed journey columns) takes its lifetimes
    # from each customer's start and precomputed last event; the same events without the
    # precomputed columns read the whole population. Ties in time (file order decides),
    # a cancel before the purchase (not a churn), a customer who never bought, a purchase
    # bought twice.
    import duckdb

    from analysis.precompute import add_journey_columns

    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b", "b", "c", "c", "d", "d", "d", "e"],
        "timestamp": pd.to_datetime([
            "2024-01-01", "2024-01-03", "2024-01-03", "2024-02-01", "2024-01-02",
            "2024-01-02", "2024-03-01", "2024-01-01", "2024-01-05", "2024-01-01",
            "2024-01-10", "2024-01-20", "2024-01-04"]),
        "touchpoint": ["visit", "buy", "cancel", "visit", "cancel", "buy", "visit", "visit",
                       "cancel", "buy", "buy", "visit", "visit"],
    }).assign(event_seq=lambda d: range(len(d)))
    con = duckdb.connect()
    con.execute("CREATE TYPE tp AS ENUM ('visit', 'buy', 'cancel')")
    con.register("raw", events)
    plain = con.sql("SELECT * REPLACE (touchpoint::tp AS touchpoint) FROM raw")
    stored = add_journey_columns(plain)
    fast = churn_table(stored, start_at=["buy"], **rule)
    pd.testing.assert_frame_equal(fast, churn_table(plain, start_at=["buy"], **rule))
    pd.testing.assert_frame_equal(fast, churn_table(events, start_at=["buy"], **rule))
    assert fast["customer_id"].tolist() == ["a", "b", "d"]
