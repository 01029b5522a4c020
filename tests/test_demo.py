"""The demo data: reproducible, and its planted effects are really in it.

Each effect is recovered here by an independent computation on the raw events
(statsmodels OLS, lifelines Cox and Kaplan-Meier), not by the app's own analyses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter, KaplanMeierFitter

from analysis import demo


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.load()


@pytest.fixture(scope="module")
def per_customer(data) -> pd.DataFrame:
    ev = data.events
    first = ev.groupby("customer_id")["timestamp"].min()
    bought = ev[ev["touchpoint"] == "Purchase"].groupby("customer_id")["timestamp"].min()
    failed = set(ev.loc[ev["touchpoint"] == "Payment failed", "customer_id"])
    cancel = ev[ev["touchpoint"] == "Cancel subscription"].groupby("customer_id")["timestamp"].min()
    c = data.customers.set_index("customer_id")
    out = pd.DataFrame(
        {
            "first": first,
            "bought": bought,
            "cancel": cancel,
            "segment": c["segment"],
            "region": c["region"],
            "variant": c["variant"],
        }
    )
    out["converted"] = out["bought"].notna().astype(int)
    out["failed"] = out.index.isin(failed).astype(int)
    out["treated"] = (out["region"] == "North").astype(int)
    out["post"] = (out["first"] >= pd.Timestamp("2025-07-01")).astype(int)
    return out


def test_generator_reproduces_the_committed_files(data):
    fresh = demo.generate()
    pd.testing.assert_frame_equal(fresh.events, data.events)
    pd.testing.assert_frame_equal(fresh.feedback, data.feedback)
    pd.testing.assert_frame_equal(fresh.customers, data.customers)
    assert fresh.ground_truth == data.ground_truth


def test_shape_is_a_believable_business(data):
    ev = data.events
    assert ev["customer_id"].nunique() == 5000
    assert set(ev["channel"]) == {"web", "app", "store", "call center", "email", "social", "chat"}
    assert set(ev["stage"]) == {
        "awareness", "consideration", "conversion", "usage", "retention", "advocacy"
    }
    span = ev["timestamp"].max() - ev["timestamp"].min()
    assert pd.Timedelta(days=350) < span <= pd.Timedelta(days=366)
    assert ev.loc[ev["touchpoint"] == "Purchase", "revenue"].gt(0).all()
    assert {"nps", "csat", "ces"} == set(data.feedback["scale"])
    assert data.feedback["text"].notna().mean() > 0.5
    assert set(data.customers.columns) >= {"segment", "persona", "region", "variant"}


def test_ground_truth_realized_values_match_the_data(data, per_customer):
    truth = data.ground_truth
    assert truth["conversion"]["realized_overall"] == pytest.approx(
        per_customer["converted"].mean(), abs=1e-4
    )
    cells = truth["diff_in_diff"]["realized_cells"]
    pc = per_customer
    got = pc[(pc.treated == 1) & (pc.post == 1)]["converted"].mean()
    assert cells["treated_post"] == pytest.approx(got, abs=1e-4)
    assert truth["payment_failure"]["customers"] == int(pc["failed"].sum())


def test_difference_in_differences_effect_is_recoverable(per_customer):
    fit = smf.ols("converted ~ treated * post", data=per_customer).fit(cov_type="HC1")
    low, high = fit.conf_int().loc["treated:post"]
    assert low < demo.DID_EFFECT < high
    assert low > 0  # visible, not noise


def test_ab_lift_is_recoverable(per_customer):
    fit = smf.ols("converted ~ C(variant)", data=per_customer).fit(cov_type="HC1")
    low, high = fit.conf_int().loc["C(variant)[T.B]"]
    assert low < demo.AB_LIFT < high and low > 0


def test_payment_failure_hazard_ratio_is_about_two_and_a_half(per_customer):
    subs = per_customer[per_customer["converted"] == 1].copy()
    end = subs["cancel"].fillna(pd.Timestamp(demo.AS_OF))
    subs["days"] = (end - subs["bought"]).dt.total_seconds() / 86400
    subs["churned"] = subs["cancel"].notna().astype(int)
    subs = pd.concat([subs, pd.get_dummies(subs["segment"], drop_first=True, dtype=int)], axis=1)
    cph = CoxPHFitter().fit(
        subs[["days", "churned", "failed", "Mainstream", "Premium"]],
        duration_col="days", event_col="churned",
    )
    hr = float(np.exp(cph.params_["failed"]))
    low, high = np.exp(cph.confidence_intervals_.loc["failed"]).tolist()
    assert low < demo.PAYMENT_FAILURE_HR < high
    assert 1.8 < hr < 3.5


def test_premium_lives_much_longer(per_customer):
    subs = per_customer[per_customer["converted"] == 1]
    end = subs["cancel"].fillna(pd.Timestamp(demo.AS_OF))
    days = (end - subs["bought"]).dt.total_seconds() / 86400
    medians = {}
    for segment in ("Budget", "Mainstream", "Premium"):
        mask = subs["segment"] == segment
        km = KaplanMeierFitter().fit(days[mask], subs.loc[mask, "cancel"].notna())
        medians[segment] = km.median_survival_time_
    assert medians["Premium"] > 2 * max(medians["Budget"], medians["Mainstream"])
    assert medians["Budget"] == pytest.approx(120, rel=0.35)


def test_payment_failure_feedback_complains_about_cards(data):
    fb = data.feedback
    failed = fb[fb["touchpoint"] == "Payment failed"]
    text = failed["text"].dropna().str.lower()
    assert text.str.contains("card|declin|payment").mean() > 0.95
    checkout = fb[fb["touchpoint"] == "Checkout"]["score"].mean()
    assert failed["score"].mean() < checkout - 2


def test_ensure_demo_imports_once_and_respects_deletion(tmp_path):
    from analysis.store import Workspace

    with Workspace(tmp_path / "w.duckdb") as ws:
        first = demo.ensure_demo(ws)
        assert demo.ensure_demo(ws) == first
        kinds = sorted(d.kind for d in ws.datasets())
        assert kinds == ["customers", "events", "feedback"]
        assert all(d.linked_to == first for d in ws.datasets() if d.kind != "events")
        ws.delete(first)
        assert demo.ensure_demo(ws) is None
        assert ws.datasets() == []
