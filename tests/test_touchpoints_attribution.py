"""Attribution: hand-computed credit per model, a hand-solved Markov chain, Shapley against a
brute-force enumeration, invariants under hypothesis, engine parity and the demo data."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta
from fractions import Fraction

import duckdb
import hypothesis.strategies as st
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from analysis import demo, touchpoints
from analysis.schema import ParameterError, UnknownValueError

T0 = datetime(2025, 1, 1)
MODELS = touchpoints.MODELS


def frame(journeys: dict[str, list[tuple[str, float]]], channel: bool = False) -> pd.DataFrame:
    """Events from ``{customer: [(touchpoint, day offset), ...]}``."""
    rows = [
        {"customer_id": cid, "timestamp": T0 + timedelta(days=day), "touchpoint": tp}
        for cid, events in journeys.items() for tp, day in events
    ]
    out = pd.DataFrame(rows)
    if channel:
        out["channel"] = out["touchpoint"].str.lower()
    return out


# A converts at day 4 (the Ad and the second Purchase after it do not count), B converts with
# one touch, C never converts, D converts at day 3.5 after four touches.
HAND = {
    "A": [("Ad", 0), ("Email", 1), ("Web", 3), ("Purchase", 4), ("Ad", 5), ("Purchase", 6)],
    "B": [("Email", 0), ("Purchase", 2)],
    "C": [("Ad", 0), ("Web", 1)],
    "D": [("Web", 0), ("Ad", 1), ("Email", 2), ("Web", 3), ("Purchase", 3.5)],
}


def credit(model: str, events: pd.DataFrame | None = None, **kwargs) -> dict[str, float]:
    events = frame(HAND) if events is None else events
    table = touchpoints.attribution(events, conversion=["Purchase"], model=model, **kwargs)
    key = kwargs.get("by", "touchpoint")
    assert list(table.columns) == [key, "conversions", "share"]
    assert table["share"].sum() == pytest.approx(1.0)
    return {k: round(v, 10) for k, v in zip(table[key], table["conversions"], strict=True)}


def rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 10) for k, v in values.items()}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("first", {"Ad": 1, "Email": 1, "Web": 1}),
        ("last", {"Ad": 0, "Email": 1, "Web": 2}),
        # A: a third each; B: Email; D: Web twice of four touches, Ad and Email once.
        ("linear", {"Ad": 1 / 3 + 1 / 4, "Email": 1 / 3 + 1 + 1 / 4, "Web": 1 / 3 + 2 / 4}),
        # A: .4 / .2 / .4; B: 1; D: Web .4 + .4, Ad and Email share the middle .2.
        ("position", {"Ad": 0.4 + 0.1, "Email": 0.2 + 1 + 0.1, "Web": 0.4 + 0.8}),
    ],
)
def test_heuristic_models_match_hand_computed_credit(model, expected):
    assert credit(model) == rounded(expected)


def test_time_decay_halves_the_weight_per_half_life():
    # half-life 1 day. A: ages 4, 3, 1 days -> 1/16, 2/16, 8/16 of 11/16. B: all to Email.
    # D: ages 3.5, 2.5, 1.5, 0.5 -> proportional to 1, 2, 4, 8 (sum 15); Web gets 1 + 8.
    expected = {"Ad": 1 / 11 + 2 / 15, "Email": 2 / 11 + 1 + 4 / 15, "Web": 8 / 11 + 9 / 15}
    assert credit("time_decay", half_life_days=1.0) == rounded(expected)


def test_events_after_the_first_conversion_are_ignored():
    trimmed = {cid: [e for e in ev if e[1] <= 4] for cid, ev in HAND.items()}
    for model in MODELS:
        assert credit(model) == credit(model, frame(trimmed))


def test_lookback_keeps_only_recent_touches():
    # Within 2 days: A keeps Web; B keeps Email (exactly 2 days); D keeps Email and Web.
    lookback = timedelta(days=2)
    # C (no conversion) keeps its Ad, a touch of a non-converting journey only: a zero row.
    assert credit("linear", lookback=lookback) == rounded({"Email": 1.5, "Web": 1.5, "Ad": 0})
    assert credit("first", lookback=lookback) == rounded({"Email": 2, "Web": 1, "Ad": 0})


def test_converting_journeys_without_touches_are_credited_to_no_touch():
    for model in MODELS:
        got = credit(model, lookback=timedelta(hours=1))
        assert got[touchpoints.NO_TOUCH] == 3
        assert sum(got.values()) == 3


def test_markov_removal_effects_solved_by_hand():
    journeys = {
        "J1": [("A", 0), ("B", 1), ("Buy", 2)],
        "J2": [("A", 0)],
        "J3": [("B", 0), ("Buy", 1)],
        "J4": [("C", 0), ("A", 1), ("Buy", 2)],
    }
    # Transitions: start -> A 2/4, B 1/4, C 1/4; A -> B, null, conversion 1/3 each;
    # B -> conversion 1; C -> A 1. With p_s = P(conversion | at s):
    #   p_B = 1, p_A = 1/3 p_B + 1/3, p_C = p_A, P = 1/2 p_A + 1/4 p_B + 1/4 p_C.
    third, half, quarter = Fraction(1, 3), Fraction(1, 2), Fraction(1, 4)

    def p_conversion(removed: str | None) -> Fraction:
        p_b = 0 if removed == "B" else Fraction(1)
        p_a = 0 if removed == "A" else third * p_b + third
        p_c = 0 if removed == "C" else p_a
        return half * p_a + quarter * p_b + quarter * p_c

    base = p_conversion(None)
    assert base == Fraction(3, 4)
    effects = {s: 1 - p_conversion(s) / base for s in "ABC"}
    assert effects == {"A": Fraction(2, 3), "B": Fraction(2, 3), "C": Fraction(2, 9)}
    expected = {s: float(e / sum(effects.values()) * 3) for s, e in effects.items()}
    assert expected == pytest.approx({"A": 9 / 7, "B": 9 / 7, "C": 3 / 7})
    events = frame(journeys, channel=True)
    got = touchpoints.attribution(events, conversion=["Buy"], model="markov")
    assert dict(zip(got["touchpoint"], got["conversions"], strict=True)) == pytest.approx(expected)
    by_channel = touchpoints.attribution(events, conversion=["Buy"], model="markov",
                                         by="channel")
    assert list(by_channel.columns) == ["channel", "conversions", "share"]
    assert dict(zip(by_channel["channel"], by_channel["conversions"], strict=True)) == (
        pytest.approx({k.lower(): v for k, v in expected.items()}))


def brute_force_shapley(journey_sets: list[frozenset[str]]) -> dict[str, float]:
    """Shapley values by the subset formula over every coalition of the players."""
    players = sorted(set().union(*journey_sets))
    n = len(players)

    def value(coalition: frozenset[str]) -> int:
        return sum(1 for touched in journey_sets if touched <= coalition)

    out = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                total += weight * (value(s | {player}) - value(s))
        out[player] = total
    return out


def brute_force_by_orderings(journey_sets: list[frozenset[str]]) -> dict[str, float]:
    """Shapley values as average marginal contributions over every ordering of the players."""
    players = sorted(set().union(*journey_sets))
    out = dict.fromkeys(players, 0.0)
    orderings = list(itertools.permutations(players))
    for ordering in orderings:
        seen: set[str] = set()
        for player in ordering:
            before = sum(1 for t in journey_sets if t <= seen)
            seen.add(player)
            out[player] += (sum(1 for t in journey_sets if t <= seen) - before) / len(orderings)
    return out


def test_shapley_matches_enumeration_over_coalitions_and_orderings():
    journeys = {
        "P": [("a", 0), ("b", 1), ("a", 2), ("Buy", 3)],
        "Q": [("b", 0), ("Buy", 1)],
        "R": [("c", 0), ("d", 1), ("b", 2), ("Buy", 3)],
        "S": [("d", 0), ("e", 1)],
        "T": [("e", 0), ("c", 1), ("Buy", 2)],
    }
    sets = [frozenset(tp for tp, _ in ev if tp != "Buy") for cid, ev in journeys.items()
            if any(tp == "Buy" for tp, _ in ev)]
    expected = brute_force_shapley(sets)
    assert expected == pytest.approx(brute_force_by_orderings(sets))
    got = touchpoints.attribution(frame(journeys), conversion=["Buy"], model="shapley")
    assert dict(zip(got["touchpoint"], got["conversions"], strict=True)) == pytest.approx(expected)


def test_shapley_is_exact_beyond_twelve_players():
    names = [f"t{i:02d}" for i in range(14)]
    journeys = {f"c{i}": [(names[(i * 3 + j) % 14], j) for j in range(1 + i % 4)] + [("Buy", 9)]
                for i in range(14)}
    sets = [frozenset(tp for tp, _ in ev if tp != "Buy") for ev in journeys.values()]
    expected = brute_force_shapley(sets)
    got = touchpoints.attribution(frame(journeys), conversion=["Buy"], model="shapley")
    assert dict(zip(got["touchpoint"], got["conversions"], strict=True)) == pytest.approx(expected)


journey_sets = st.dictionaries(
    keys=st.sampled_from([f"u{i}" for i in range(8)]),
    values=st.tuples(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=0, max_size=5),
                     st.booleans()),
    min_size=1, max_size=8,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journey_sets)
def test_every_model_credits_exactly_the_converting_journeys(generated):
    journeys = {}
    for cid, (touches, converts) in generated.items():
        events = [(tp, float(i)) for i, tp in enumerate(touches)]
        if converts or not events:
            events.append(("Buy" if converts else "a", float(len(events))))
        journeys[cid] = events
    events = frame(journeys)
    converting = sum(1 for ev in journeys.values() if any(tp == "Buy" for tp, _ in ev))
    if converting == 0:
        events.loc[len(events)] = ["zz", T0, "Buy"]
        converting = 1
    table = touchpoints.compare_models(events, conversion=["Buy"])
    for model in MODELS:
        assert table[model].sum() == pytest.approx(converting)
        assert (table[model] >= -1e-12).all()


def test_same_result_from_pandas_duckdb_and_polars():
    events = frame(HAND, channel=True)
    expected = touchpoints.compare_models(events, conversion=["Purchase"])
    for other in (duckdb.from_df(events), pl.from_pandas(events)):
        got = touchpoints.compare_models(other, conversion=["Purchase"])
        pd.testing.assert_frame_equal(got, expected)
    by_channel = touchpoints.compare_models(events, conversion=["Purchase"], by="channel")
    got = touchpoints.compare_models(pl.from_pandas(events), conversion=["Purchase"],
                                     by="channel")
    pd.testing.assert_frame_equal(got, by_channel)


def test_input_is_not_modified():
    events = frame(HAND)
    before = events.copy()
    touchpoints.compare_models(events, conversion=["Purchase"])
    pd.testing.assert_frame_equal(events, before)


def test_no_converting_journey_gives_an_all_zero_table():
    # A stored dataset keeps touchpoints as an ENUM, so a conversion touchpoint can be known
    # while no row (after filters) reaches it.
    events = pl.from_pandas(frame({"A": [("Ad", 0), ("Web", 1)], "B": [("Email", 0)]}))
    events = events.with_columns(pl.col("touchpoint").cast(pl.Enum(["Ad", "Email", "Purchase",
                                                                    "Web"])))
    for model in MODELS:
        table = touchpoints.attribution(events, conversion=["Purchase"], model=model)
        assert sorted(table["touchpoint"]) == ["Ad", "Email", "Web"]
        assert (table["conversions"] == 0).all() and (table["share"] == 0).all()
    empty = frame(HAND).iloc[:0]
    assert touchpoints.attribution(empty, conversion=["Purchase"]).empty


def test_validation_names_the_valid_values():
    events = frame(HAND)
    with pytest.raises(UnknownValueError, match="Purchse"):
        touchpoints.attribution(events, conversion=["Purchse"])
    with pytest.raises(ParameterError, match="time_decay"):
        touchpoints.attribution(events, conversion=["Purchase"], model="u-shaped")
    with pytest.raises(ParameterError, match="channel"):
        touchpoints.attribution(events, conversion=["Purchase"], by="stage")
    with pytest.raises(ParameterError, match="list"):
        touchpoints.attribution(events, conversion="Purchase")
    with pytest.raises(ParameterError):
        touchpoints.attribution(events, conversion=["Purchase"], lookback=timedelta(0))
    with pytest.raises(ParameterError):
        touchpoints.attribution(events, conversion=["Purchase"], half_life_days=0)


@pytest.fixture(scope="module")
def demo_events() -> pd.DataFrame:
    return demo.load().events


@pytest.mark.parametrize("by", ["touchpoint", "channel"])
def test_every_model_runs_on_the_demo_and_sums_to_the_converters(demo_events, by):
    converters = demo_events.loc[demo_events["touchpoint"] == "Purchase", "customer_id"].nunique()
    table = touchpoints.compare_models(demo_events, conversion=["Purchase"], by=by)
    assert list(table.columns) == [by, *MODELS]
    for model in MODELS:
        assert table[model].sum() == pytest.approx(converters)
        single = touchpoints.attribution(demo_events, conversion=["Purchase"], model=model, by=by)
        assert single["conversions"].sum() == pytest.approx(converters)
    # In the demo Checkout comes late in a journey, right before Purchase: it takes last
    # touches and never a first one.
    if by == "touchpoint":
        row = table.set_index("touchpoint").loc["Checkout"]
        assert row["first"] == 0 and row["last"] > 0
