"""cohort_retention: monthly start cohorts, censoring-blind shares beside Kaplan–Meier."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from analysis import survival
from analysis.schema import MissingColumnError, ParameterError, UnknownValueError
from analysis.survival.cohorts import COHORT_COLUMNS, CohortResult, cohort_retention

T = pd.Timestamp
NAN = np.nan
AS_OF = "2024-04-15"


@pytest.fixture
def events() -> pd.DataFrame:
    """Days are counted in 2024 (a leap year); as_of is 2024-04-15.

    January cohort: a churns on day 19; b is censored after 96 days; c (started Jan 31) is
    censored after 75 days; g churns on day 85. February: d cancels at the very instant it
    starts (same timestamp, cancel after the visit in row order); e is censored after 55
    days. March: f is censored after 26 days (its May event is after as_of). h starts after
    as_of and belongs to no cohort.
    """
    rows = [
        ("a", "2024-01-01", "visit", "web"), ("a", "2024-01-20", "cancel", "app"),
        ("b", "2024-01-10", "visit", "web"), ("b", "2024-04-10", "visit", "app"),
        ("c", "2024-01-31", "visit", "store"), ("c", "2024-02-20", "visit", "web"),
        ("g", "2024-01-01", "visit", "web"), ("g", "2024-03-26", "cancel", "web"),
        ("d", "2024-02-15", "visit", "web"), ("d", "2024-02-15", "cancel", "web"),
        ("e", "2024-02-20", "visit", "email"),
        ("f", "2024-03-20", "visit", "web"), ("f", "2024-05-01", "visit", "web"),
        ("h", "2024-04-20", "visit", "web"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint", "channel"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


# (cohort, months_since, customers, active, share_active, not_observable, km_survival)
EXPECTED = [
    ("2024-01", 0, 4, 4, 1.0, 0, 1.0),
    ("2024-01", 1, 4, 3, 0.75, 0, 0.75),      # a churned on day 19
    ("2024-01", 2, 4, 3, 0.75, 0, 0.75),
    # g churned on day 85; c (censored at day 75) is not observable at 91.3 days: the
    # censoring-blind share keeps c as active (2/4), Kaplan–Meier gives 3/4 × 1/2.
    ("2024-01", 3, 4, 2, 0.5, 1, 0.375),
    ("2024-01", 4, 4, 2, NAN, 4, NAN),        # 121.75 days: past everyone's as_of
    ("2024-02", 0, 2, 1, 0.5, 0, 0.5),        # d churned at its start
    ("2024-02", 1, 2, 1, 0.5, 0, 0.5),
    ("2024-02", 2, 2, 1, NAN, 2, NAN),        # d observable 60 days, e 55 < 60.875
    ("2024-02", 3, 2, 1, NAN, 2, NAN),
    ("2024-02", 4, 2, 1, NAN, 2, NAN),
    ("2024-03", 0, 1, 1, 1.0, 0, 1.0),
    ("2024-03", 1, 1, 1, NAN, 1, NAN),        # f observable 26 days only
    ("2024-03", 2, 1, 1, NAN, 1, NAN),
    ("2024-03", 3, 1, 1, NAN, 1, NAN),
    ("2024-03", 4, 1, 1, NAN, 1, NAN),
]


def _expected_table() -> pd.DataFrame:
    frame = pd.DataFrame(EXPECTED, columns=["cohort", "months_since", "customers", "active",
                                            "share_active", "not_observable", "km_survival"])
    frame.insert(1, "cohort_start", pd.to_datetime(frame["cohort"] + "-01").astype(
        "datetime64[us]"))
    return frame.astype({"months_since": "int64", "customers": "int64", "active": "int64",
                         "not_observable": "int64"})[COHORT_COLUMNS]


def test_cohort_table_matches_hand_computed_cells(events):
    out = cohort_retention(events, churn_touchpoints=["cancel"], as_of=AS_OF, max_months=4)
    assert isinstance(out, CohortResult)
    assert (out.status, out.message) == ("ok", "")
    assert out.as_of == T(AS_OF)
    assert list(out.table.columns) == COHORT_COLUMNS
    pd.testing.assert_frame_equal(out.table, _expected_table(), check_exact=False, rtol=1e-12)


def test_exported_from_the_survival_package(events):
    assert survival.cohort_retention is cohort_retention
    assert survival.CohortResult is CohortResult


def test_inactivity_churn_passes_through_and_km_reaching_zero_stays_zero(events):
    # With 30 days of inactivity as well: in February d cancels at its start and e (last
    # seen Feb 20, 55 days before as_of) churns at its only event, so the cohort is gone
    # at month 0; Kaplan–Meier has reached 0 and stays there even where nobody is
    # observable (share_active is NaN there).
    out = cohort_retention(events, churn_touchpoints=["cancel"], inactivity_days=30,
                           as_of=AS_OF, max_months=3)
    feb = out.table[out.table["cohort"] == "2024-02"]
    assert feb["active"].tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(feb["share_active"], [0.0, 0.0, NAN, NAN])
    np.testing.assert_array_equal(feb["km_survival"], [0.0, 0.0, 0.0, 0.0])
    # January: c (last seen Feb 20, 20 days after its start) now churns too.
    jan = out.table[out.table["cohort"] == "2024-01"]
    assert jan["active"].tolist() == [4, 2, 2, 1]


def test_as_of_defaults_to_the_last_event(events):
    out = cohort_retention(events, churn_touchpoints=["cancel"], max_months=1)
    assert out.as_of == T("2024-05-01")
    assert out.table["cohort"].unique().tolist() == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert out.table.loc[out.table["cohort"] == "2024-04", "customers"].tolist() == [1, 1]


def test_duckdb_and_polars_input_give_the_same_table(events):
    expected = cohort_retention(events, churn_touchpoints=["cancel"], as_of=AS_OF,
                                max_months=4).table
    relation = duckdb.connect().from_df(events.assign(event_seq=np.arange(len(events))))
    for data in (relation, pl.from_pandas(events)):
        out = cohort_retention(data, churn_touchpoints=["cancel"], as_of=AS_OF, max_months=4)
        pd.testing.assert_frame_equal(out.table, expected)


def test_input_is_not_mutated(events):
    before = events.copy()
    cohort_retention(events, churn_touchpoints=["cancel"], max_months=2)
    pd.testing.assert_frame_equal(events, before)


def test_no_churn_is_degenerate_and_empty_data_is_empty(events):
    out = cohort_retention(events, as_of=AS_OF, max_months=2)
    assert out.status == "degenerate" and "No customer churned" in out.message
    assert (out.table["active"] == out.table["customers"]).all()

    empty = cohort_retention(events.iloc[:0], churn_touchpoints=None)
    assert empty.status == "empty" and empty.message
    assert empty.table.empty and list(empty.table.columns) == COHORT_COLUMNS
    assert empty.as_of is None


@pytest.mark.parametrize("max_months", [0, -3, 1.5, True, "12", None])
def test_bad_max_months_raises_with_hint(events, max_months):
    with pytest.raises(ParameterError, match="max_months") as info:
        cohort_retention(events, max_months=max_months)
    assert "max_months=12" in info.value.hint


def test_bad_churn_arguments_raise_like_customer_lifetimes(events):
    with pytest.raises(UnknownValueError, match="cancl"):
        cohort_retention(events, churn_touchpoints=["cancl"])
    with pytest.raises(ParameterError, match="inactivity_days"):
        cohort_retention(events, inactivity_days=0)
    with pytest.raises(ParameterError, match="as_of"):
        cohort_retention(events, as_of="2023-01-01")
    with pytest.raises(MissingColumnError):
        cohort_retention(pd.DataFrame({"customer_id": ["a"], "duration": [3.0],
                                       "churned": [True]}))


def test_demo_cohorts_censoring_blind_share_is_never_below_kaplan_meier():
    """True by construction: Kaplan–Meier moves a censored customer's weight onto later
    churns (Efron's redistribution to the right), where the censoring-blind share keeps it
    as retained forever; the two agree until someone in the cohort is censored."""
    from analysis import demo

    out = cohort_retention(demo.load().events, churn_touchpoints=["Cancel subscription"],
                           inactivity_days=90, max_months=12)
    table = out.table
    assert out.status == "ok" and table["cohort"].nunique() >= 12
    both = table.dropna(subset=["share_active", "km_survival"])
    assert (both["share_active"] >= both["km_survival"] - 1e-12).all()
    assert (both["share_active"] > both["km_survival"] + 1e-6).any()
    assert (table.groupby("cohort")["not_observable"].diff().dropna() >= 0).all()
    assert (table.groupby("cohort")["active"].diff().dropna() <= 0).all()
    unseen = table["not_observable"] == table["customers"]
    assert table.loc[unseen, "share_active"].isna().all()
    assert table.loc[~unseen, "share_active"].notna().all()
