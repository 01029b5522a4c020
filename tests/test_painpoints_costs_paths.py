"""The journey costs read the same from a DuckDB relation with an ENUM touchpoint (one bit per
touchpoint) as from any other frame, and the drill-down's events of some customers keep
whole journeys."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from analysis import demo
from analysis.frames import to_lazy
from analysis.painpoints import events_of_customers, pain_points
from analysis.painpoints.costs import _touchpoint_codes, journey_terms


def _enum_relation(events: pd.DataFrame) -> duckdb.DuckDBPyRelation:
    con = duckdb.connect()
    # Not in alphabetical order: the codes are positions in the type, whatever the names.
    names = sorted(events["touchpoint"].dropna().unique(), key=lambda n: n[::-1])
    con.execute("CREATE TYPE touchpoint_enum AS ENUM (SELECT unnest($1))", [names])
    return con.from_df(events).project(
        "* EXCLUDE (touchpoint), CAST(touchpoint AS touchpoint_enum) AS touchpoint")


def test_enum_touchpoints_give_the_same_costs_as_text():
    d = demo.load()
    first = d.events["customer_id"].drop_duplicates().iloc[:1200]
    ev = d.events[d.events["customer_id"].isin(first)].reset_index(drop=True)
    ev = ev.astype({"touchpoint": object, "channel": str, "stage": str})
    # A customer whose events carry no touchpoint: converted and reached are unknown.
    blank = ev["customer_id"] == ev["customer_id"].iloc[0]
    ev.loc[blank, "touchpoint"] = None
    fb = d.feedback[d.feedback["customer_id"].isin(first)].reset_index(drop=True)
    # Feedback at a touchpoint the events never have: reached by nobody.
    fb.loc[fb.index[:5], "touchpoint"] = "Carrier pigeon"
    churn, conversion = ["Cancel subscription"], ["Purchase"]
    result = pain_points(fb, ev, churn=churn, conversion=conversion, start_at=conversion)
    base = result.matrix.drop(columns="priority")
    relation = _enum_relation(ev)
    assert _touchpoint_codes(to_lazy(relation)) is not None  # the bit-mask query is used
    as_text = journey_terms(base, result.comments, ev, churn, conversion, conversion)
    as_enum = journey_terms(base, result.comments, relation, churn, conversion, conversion)
    assert as_text["conversion_impact"].notna().sum() > 5
    assert "Carrier pigeon" in set(as_text["touchpoint"])
    pd.testing.assert_frame_equal(as_enum, as_text, check_exact=False, rtol=1e-12)


def test_events_of_customers_are_their_whole_journeys():
    d = demo.load()
    ev = d.events.astype({"touchpoint": str, "channel": str, "stage": str})
    ev["event_seq"] = np.arange(len(ev), dtype="int64")
    wanted = [str(c) for c in ev["customer_id"].drop_duplicates().iloc[[3, 7, 11]]]
    expected = ev[ev["customer_id"].astype(str).isin(wanted)]
    for frame in (ev, duckdb.connect().from_df(ev)):
        got = events_of_customers(frame, wanted).collect().to_pandas()
        assert len(got) == len(expected)
        assert sorted(got["customer_id"].astype(str).unique()) == sorted(wanted)
        assert np.array_equal(np.sort(got["event_seq"].to_numpy()),
                              np.sort(expected["event_seq"].to_numpy()))
