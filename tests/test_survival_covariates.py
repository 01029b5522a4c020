"""journey_covariates: first channel and touchpoint, flags, channel counts, attributes and
feedback scores on a hand-built journey; pandas and DuckDB agree."""

from __future__ import annotations

import duckdb
import pandas as pd
import polars as pl
import pytest

from analysis.schema import MissingColumnError, ParameterError
from analysis.survival.covariates import journey_covariates


@pytest.fixture
def events() -> pd.DataFrame:
    # a: starts with an ad (no channel) then visits on the web the same day, app later;
    # b: store only; c: one web visit. Segment is known late for b and never for c.
    return pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-03",
                                     "2024-01-02", "2024-01-05", "2024-01-01"]),
        "touchpoint": ["ad", "visit", "cancel", "visit", "buy", "visit"],
        "channel": [None, "web", "app", "store", "store", "web"],
        "segment": [None, "gold", "silver", None, "basic", None],
    })


@pytest.fixture
def feedback() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["a", "a", "b", "x"],
                         "timestamp": pd.to_datetime(["2024-01-02"] * 4),
                         "score": [4.0, 2.0, 5.0, 1.0]})


def test_hand_built_journey(events, feedback):
    out = journey_covariates(events, top_touchpoints=2, feedback=feedback)
    assert list(out.columns) == ["customer_id", "first_touchpoint", "first_channel",
                                 "n_channels", "segment", "touched: ad", "touched: buy",
                                 "mean_score"]
    rows = {r[0]: r[1:] for r in out.itertuples(index=False)}
    # visit reaches every customer (no flag: it would be 1 for all); ad, buy, cancel reach one
    # each: ad and buy win the tie alphabetically.
    assert rows["a"][:6] == ("ad", "web", 2, "gold", 1, 0)
    assert rows["b"][:6] == ("visit", "store", 1, "basic", 0, 1)
    assert rows["c"][:3] == ("visit", "web", 1) and pd.isna(rows["c"][3])
    assert rows["c"][4:6] == (0, 0)
    assert rows["a"][6] == 3.0 and rows["b"][6] == 5.0 and pd.isna(rows["c"][6])
    assert len(out) == 3  # feedback-only customer x does not add a row


def test_ties_keep_file_order(events):
    swapped = events.iloc[[1, 0, 2, 3, 4, 5]].reset_index(drop=True)
    out = journey_covariates(swapped, top_touchpoints=0).set_index("customer_id")
    assert out.loc["a", "first_touchpoint"] == "visit"
    assert not any(c.startswith("touched: ") for c in out.columns)


def test_pandas_duckdb_and_polars_inputs_agree(events, feedback):
    expected = journey_covariates(events, feedback=feedback)
    relation = duckdb.connect().from_df(events.assign(event_seq=range(len(events))))
    pd.testing.assert_frame_equal(journey_covariates(relation, feedback=feedback), expected)
    polars_out = journey_covariates(pl.from_pandas(events), feedback=pl.from_pandas(feedback))
    pd.testing.assert_frame_equal(polars_out, expected)


def test_without_channel_or_attributes():
    ev = pd.DataFrame({"customer_id": [1, 1, 2],
                       "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"]),
                       "touchpoint": ["x", "y", "y"]})
    out = journey_covariates(ev)
    # y reaches both customers, so only x gets a flag.
    assert list(out.columns) == ["customer_id", "first_touchpoint", "touched: x"]
    assert out["first_touchpoint"].tolist() == ["x", "y"]


def test_excluded_touchpoints_get_no_flag(events):
    out = journey_covariates(events, top_touchpoints=5, exclude=["cancel"])
    assert [c for c in out.columns if c.startswith("touched: ")] == ["touched: ad",
                                                                     "touched: buy"]


def test_bad_input_raises(events):
    with pytest.raises(ParameterError):
        journey_covariates(events, top_touchpoints=-1)
    with pytest.raises(MissingColumnError):
        journey_covariates(events, feedback=pd.DataFrame({"timestamp": events["timestamp"],
                                                          "score": 1.0}))


def _reference(events: pd.DataFrame, top: int, exclude: list[str],
               feedback: pd.DataFrame) -> pd.DataFrame:
    """journey_covariates in plain pandas, for events in file order (event_seq)."""
    ev = events.sort_values(["timestamp", "event_seq"], kind="stable")
    by = ev.groupby("customer_id")
    out = pd.DataFrame({"first_touchpoint": by["touchpoint"].first(),
                        "first_channel": by["channel"].first(),
                        "n_channels": by["channel"].nunique()})
    for column in ("segment", "persona", "region", "variant"):
        out[column] = by[column].first()  # first() skips missing values
    reach = ev.groupby("touchpoint")["customer_id"].nunique()
    reach = reach[~reach.index.isin(exclude) & (reach < ev["customer_id"].nunique())]
    ranked = sorted(reach.items(), key=lambda item: (-item[1], item[0]))[:top]
    for name, _ in ranked:
        out[f"touched: {name}"] = (ev["touchpoint"] == name).groupby(
            ev["customer_id"]).max().astype("int64")
    out["mean_score"] = feedback.groupby("customer_id")["score"].mean()
    return out.rename_axis("customer_id").reset_index()


@pytest.mark.parametrize("top, exclude", [(10, []), (4, ["Cancel subscription"])])
def test_demo_matches_a_pandas_reference(top, exclude):
    from analysis import demo

    data = demo.generate(n_customers=400)
    events = data.events.assign(event_seq=range(len(data.events)))
    # Attributes known only from some events: the first non-missing one counts.
    events.loc[events.index % 3 == 0, ["segment", "channel"]] = None
    expected = _reference(events, top, exclude, data.feedback)
    for frame in (events, duckdb.connect().from_df(events)):
        out = journey_covariates(frame, top_touchpoints=top, exclude=exclude,
                                 feedback=data.feedback)
        pd.testing.assert_frame_equal(out, expected, check_dtype=False)


def test_spark_input_agrees(spark, events, feedback):
    # Spark has no grouped ordered first(): it takes the window-and-join route.
    expected = journey_covariates(events.assign(event_seq=range(len(events))),
                                  top_touchpoints=3, feedback=feedback)
    sdf = spark.createDataFrame(events.assign(event_seq=range(len(events))))
    out = journey_covariates(sdf, top_touchpoints=3, feedback=feedback)
    pd.testing.assert_frame_equal(out, expected)


def test_flags_from_one_pass_match_the_reach_counted_apart(monkeypatch, events, feedback):
    # ENUM touchpoints and channels (as stored datasets have, here not in alphabetical
    # order) take the one-pass DuckDB route; with MAX_FLAGGED = 0 the reach is counted
    # apart in Narwhals. Ties in reach, excluded touchpoints and a category nobody reached.
    con = duckdb.connect()
    con.execute("CREATE TYPE tp AS ENUM ('visit', 'never', 'cancel', 'buy', 'ad')")
    con.register("raw", events)
    con.execute("CREATE TYPE ch AS ENUM ('web', 'store', 'app')")
    relation = con.sql("SELECT * REPLACE (touchpoint::tp AS touchpoint, channel::ch AS channel) "
                       "FROM raw")
    for top, exclude in ((2, ()), (5, ["cancel"]), (1, ["ad"]), (0, ())):
        one_pass = journey_covariates(relation, top_touchpoints=top, exclude=exclude,
                                      feedback=feedback)
        with monkeypatch.context() as m:
            m.setattr("analysis.survival.covariates.MAX_FLAGGED", 0)
            apart = journey_covariates(relation, top_touchpoints=top, exclude=exclude,
                                       feedback=feedback)
        pd.testing.assert_frame_equal(one_pass, apart)
        assert len(one_pass) == 3 and (one_pass["n_channels"] == [2, 1, 1]).all()


@pytest.mark.parametrize("untouched", [False, True])
def test_step_numbers_of_the_import_give_the_same_covariates(events, feedback, untouched):
    # A stored dataset carries its journey steps (precompute); they order the journey as
    # the order key does. An event without a touchpoint has no step: the key is used then.
    from analysis.precompute import add_journey_columns

    con = duckdb.connect()
    con.execute("CREATE TYPE tp AS ENUM ('visit', 'never', 'cancel', 'buy', 'ad')")
    con.execute("CREATE TYPE ch AS ENUM ('web', 'store', 'app')")
    raw = events.assign(event_seq=range(len(events)))
    if untouched:
        raw.loc[1, "touchpoint"] = None
    con.register("raw", raw)
    relation = con.sql("SELECT * REPLACE (touchpoint::tp AS touchpoint, channel::ch AS channel) "
                       "FROM raw")
    with_steps = add_journey_columns(relation)
    assert "_step" in with_steps.columns
    for top in (0, 2, 5):
        pd.testing.assert_frame_equal(
            journey_covariates(with_steps, top_touchpoints=top, feedback=feedback),
            journey_covariates(relation, top_touchpoints=top, feedback=feedback))


def test_mean_score_joins_ids_typed_apart_as_text():
    """Events with numeric ids and feedback with the same ids as text still pair up (a
    silent miss would leave every mean score empty and the Cox model without rows)."""
    events = pd.DataFrame({"customer_id": [1, 1, 2],
                           "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02",
                                                        "2025-01-01"]),
                           "touchpoint": ["a", "b", "a"]})
    feedback = pd.DataFrame({"customer_id": ["1", "2"],
                             "timestamp": pd.to_datetime(["2025-01-01", "2025-01-01"]),
                             "score": [5.0, 9.0], "scale": "nps"})
    out = journey_covariates(events, feedback=feedback)
    assert out["mean_score"].tolist() == [5.0, 9.0]
