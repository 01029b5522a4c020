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
