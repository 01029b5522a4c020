"""The default funnel: the usual path to conversion, the stage order, or the usual path."""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

from analysis import demo, funnel, ingest
from analysis.schema import ParameterError, UnknownValueError

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
T0 = pd.Timestamp("2024-01-01")


def _events(journeys: dict[str, str], *, same_time: bool = False) -> pd.DataFrame:
    """{customer: "A B C"}: one event per name, an hour apart (or all at one instant)."""
    rows = [(c, T0 if same_time else T0 + pd.Timedelta(hours=i), name)
            for c, path in journeys.items() for i, name in enumerate(path.split())]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint"])


PLANTED = _events({
    **{f"s{i}": "Home Search Cart Buy Home" for i in range(6)},  # the usual path
    **{f"d{i}": "Home Cart Buy" for i in range(2)},  # straight to the cart
    **{f"b{i}": "Home Blog" for i in range(3)},  # never buy
    "late": "Blog Buy Search Cart",  # what comes after buying does not count
})


def test_the_usual_path_to_conversion_is_planted():
    # Converters: 6 + 2 + 1. Before buying: Home 8, Cart 8, Search 6, Blog 1 (half is 4.5).
    assert funnel.default_steps(PLANTED, conversion=["Buy"]) == ["Home", "Search", "Cart", "Buy"]
    # Fewer steps: the most common first (Cart, Home), still in their usual order.
    assert funnel.default_steps(PLANTED, conversion=["Buy"], max_steps=3) == [
        "Home", "Cart", "Buy"]


def test_the_usual_order_follows_most_customers():
    df = _events({**{f"a{i}": "A B Z" for i in range(3)}, **{f"b{i}": "B A Z" for i in range(2)}})
    assert funnel.default_steps(df, conversion=["Z"]) == ["A", "B", "Z"]


def test_events_at_one_instant_keep_the_file_order():
    df = _events({f"c{i}": "B A Z" for i in range(4)}, same_time=True)
    assert funnel.default_steps(df, conversion=["Z"]) == ["B", "A", "Z"]


def test_several_conversion_touchpoints_make_a_set_step():
    df = _events({**{f"a{i}": "Home Cart Buy" for i in range(3)},
                  **{f"b{i}": "Home Cart Subscribe Buy" for i in range(3)},
                  **{f"c{i}": "Home Blog" for i in range(4)}})
    # Everyone's first conversion (either one) comes right after Cart.
    steps = funnel.default_steps(df, conversion=["Subscribe", "Buy"])
    assert steps == ["Home", "Cart", ["Subscribe", "Buy"]]
    counts = funnel.funnel(df, steps)["customers"].tolist()
    assert counts == [10, 6, 6]


def test_without_conversion_the_usual_path_of_everyone():
    assert funnel.default_steps(PLANTED) == ["Home", "Search", "Cart", "Buy"]
    # Nothing reaches half: the two most common still make a funnel.
    sparse = _events({"a": "B A", "b": "C A", "c": "D E", "d": "F G"})
    assert funnel.default_steps(sparse) == ["B", "A"]


def test_conversion_that_opens_every_journey_falls_back_to_the_usual_path():
    df = _events({f"c{i}": "Start Form Done" for i in range(5)})
    assert funnel.default_steps(df, conversion=["Start"]) == ["Start", "Form", "Done"]


def test_one_touchpoint_and_empty_data():
    one = _events({"a": "A A", "b": "A"})
    assert funnel.default_steps(one) == ["A"]
    assert funnel.default_steps(one, conversion=["A"]) == ["A"]
    empty = one.iloc[0:0]
    assert funnel.default_steps(empty) == []
    assert funnel.default_steps(empty, conversion=["A"]) == []


def test_stages_use_their_order_or_the_usual_path():
    df = _events({f"c{i}": "A B C" for i in range(3)})
    df["stage"] = df["touchpoint"].map({"A": "aware", "B": None, "C": "buy"})
    assert funnel.default_steps(df, stages=["s1", "s2", "s3"], step_col="stage",
                                max_steps=2) == ["s1", "s2"]
    # Without a stage order: from the data; events without a stage are not a step.
    assert funnel.default_steps(df, step_col="stage", conversion=["C"]) == ["aware", "buy"]


def test_bad_input_says_how_to_fix():
    with pytest.raises(ParameterError, match="at least 2"):
        funnel.default_steps(PLANTED, max_steps=1)
    with pytest.raises(ParameterError, match=r"\['Buy'\]"):
        funnel.default_steps(PLANTED, conversion="Buy")
    with pytest.raises(UnknownValueError, match="Buy"):
        funnel.default_steps(PLANTED, conversion=["Bye"])


@pytest.mark.parametrize("backend", ["polars", "duckdb"])
def test_same_default_from_every_backend(backend):
    frame = pl.from_pandas(PLANTED) if backend == "polars" else duckdb.from_df(PLANTED)
    assert funnel.default_steps(frame, conversion=["Buy"]) == ["Home", "Search", "Cart", "Buy"]


# ------------------------------------------------ the rule, against a pandas reference


def _reference(events: pd.DataFrame, conversion: list[str], max_steps: int = 5) -> list:
    """The documented rule written out with pandas loops over sorted journeys."""
    order = ["customer_id", "timestamp"] + (["event_seq"] if "event_seq" in events else [])
    journeys = {c: g["touchpoint"].astype(str).tolist()
                for c, g in events.sort_values(order, kind="stable").groupby("customer_id")}
    seen = {}
    for customer, path in journeys.items():
        if conversion:
            hits = [i for i, t in enumerate(path) if t in conversion]
            if not hits:
                continue
            path = path[:hits[0]]
        firsts = {}
        for i, name in enumerate(path):
            firsts.setdefault(name, i)
        seen[customer] = firsts
    base = len(seen)
    support = Counter(n for firsts in seen.values() for n in firsts)
    mean = {n: sum(f[n] for f in seen.values() if n in f) / support[n] for n in support}
    ranked = sorted(support, key=lambda n: (-support[n], n))
    most = max_steps - 1 if conversion else max_steps
    common = [n for n in ranked if support[n] >= base / 2]
    chosen = ranked[:max(min(len(common), most), 1 if conversion else 2)]
    wins = {n: [] for n in chosen}
    for a, b in combinations(chosen, 2):
        both = [f for f in seen.values() if a in f and b in f]
        a_first = sum(f[a] < f[b] for f in both)
        b_first = sum(f[b] < f[a] for f in both)
        if both:
            wins[a].append(0.5 + 0.5 * ((a_first > b_first) - (a_first < b_first)))
            wins[b].append(0.5 + 0.5 * ((b_first > a_first) - (b_first < a_first)))
    score = {n: sum(w) / len(w) if w else 0.5 for n, w in wins.items()}
    path = sorted(chosen, key=lambda n: (-score[n], mean[n], -support[n], n))
    return path + ([conversion[0] if len(conversion) == 1 else conversion] if conversion else [])


def test_demo_default_matches_the_reference():
    events = demo.load().events
    steps = funnel.default_steps(events, conversion=["Purchase"])
    assert steps == _reference(events, ["Purchase"])
    assert steps == ["Product page", "Add to cart", "Checkout", "Purchase"]
    # It opens on a real funnel: every step reached by someone, and most steps by many.
    counts = funnel.funnel(events, steps)["customers"].tolist()
    assert len(counts) >= 2 and min(counts) > 0


def test_receipt_log_default_is_its_most_common_path():
    raw = ingest.read_table(DATASETS / "receipt_process_log.csv")
    events = ingest.prepare(raw, ingest.guess_mapping(raw, "events"), "events").data
    steps = funnel.default_steps(events)
    assert steps == _reference(events, [])
    # The five activities open the log's most common path (779 of 1,434 cases).
    assert steps == [
        "Confirmation of receipt", "T02 Check confirmation of receipt",
        "T04 Determine confirmation of receipt", "T05 Print and send confirmation of receipt",
        "T06 Determine necessity of stop advice",
    ]
