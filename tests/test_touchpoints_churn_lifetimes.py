"""The scorecard's churn lifetimes, read from its own customer table and churn events, against
``survival.lifetimes_from_first`` on the same events: journeys with equal timestamps, events
without a time or a touchpoint (a customer's last event may have no touchpoint), churn events
before the start, and a churn touchpoint that also starts lifetimes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.survival.lifetimes import lifetimes_from_first
from analysis.touchpoints.exposures import _keys, churn_lifetimes, first_touch_tables
from analysis.touchpoints.scorecard import _events
from tests.test_touchpoints_reach_counts import make_events, stored


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("start_at,churn", [(["Buy"], ["Visit"]), (["Buy", "Ad"], ["Mail"]),
                                            (["Buy"], ["Buy", "Mail"])])
def test_churn_lifetimes_match_lifetimes_from_first(seed, start_at, churn):
    df = make_events(seed, customers=150)
    lf = stored(df, None)
    ev = _events(lf)
    _, people = first_touch_tables(ev, ["Buy"], start_at)
    assert "_last" in people.collect_schema().names()  # the precomputed path is tested
    got = churn_lifetimes(ev, people, churn).set_index("customer_id").sort_index()
    expected = lifetimes_from_first(lf, start_at, churn_touchpoints=churn)
    expected = expected.assign(customer_id=_keys(people, expected)).set_index(
        "customer_id").sort_index()
    assert len(got) and got["churned"].any()
    pd.testing.assert_index_equal(got.index, expected.index)
    np.testing.assert_array_equal(got["churned"].to_numpy(), expected["churned"].to_numpy())
    np.testing.assert_array_equal(got["duration_days"].to_numpy(),
                                  expected["duration_days"].to_numpy())


def test_exposure_days_in_utc_when_times_carry_a_zone():
    """Zone-aware times on a connection in a zone with daylight saving: the days between the
    first event and a touch are counted in UTC (as pandas does), not in local calendar days."""
    import duckdb
    import narwhals as nw

    from analysis.touchpoints.exposures import exposure_rows

    frame = pd.DataFrame({
        "_key": [1, 2], "touchpoint": ["Ad", "Ad"], "_tp": ["Ad", "Ad"],
        "_first_at": pd.to_datetime(["2024-06-01 04:00", "2024-03-20 12:00"]).tz_localize("UTC"),
        "_start": pd.to_datetime(["2024-01-01 05:00", "2024-03-01 12:00"]).tz_localize("UTC")})
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")
    got = exposure_rows(nw.from_native(con.from_df(frame)), ["Ad"], "_start")
    expected = ((frame["_first_at"] - frame["_start"]).dt.total_seconds() / 86_400).to_numpy()
    np.testing.assert_allclose(got.sort_values("_key")["days"].to_numpy(), expected,
                               rtol=0, atol=1e-12)


def test_scorecard_of_numbered_touchpoints_equals_that_of_their_text():
    """Touchpoints stored as numbers are named as text (the names given are): the same table
    as the same events with text touchpoints."""
    from analysis.touchpoints.scorecard import touchpoint_scorecard

    df = make_events(2, customers=120)
    codes = {"Ad": 1, "Mail": 2, "Visit": 3, "Buy": 4}
    numbered = df.assign(touchpoint=df["touchpoint"].map(codes).astype("Int64"))
    texts = df.assign(touchpoint=numbered["touchpoint"].astype("string").astype(object)
                      .where(numbered["touchpoint"].notna(), None))
    options = {"conversion": ["4"], "churn": ["3"], "start_at": ["4"]}
    got = touchpoint_scorecard(numbered, **options).table
    expected = touchpoint_scorecard(texts, **options).table
    pd.testing.assert_frame_equal(got, expected)
