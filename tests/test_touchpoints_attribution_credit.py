"""Attribution split in two: the journeys followed once (model_credit), any half-life after
(compare_models_from_credit); time decay against a plain-Python reference."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.schema import ParameterError
from analysis.touchpoints.attribution import (
    compare_models,
    compare_models_from_credit,
    model_credit,
)

T0 = datetime(2025, 1, 1)
HAND = {  # as in test_touchpoints_attribution
    "A": [("Ad", 0), ("Email", 1), ("Web", 3), ("Purchase", 4), ("Ad", 5), ("Purchase", 6)],
    "B": [("Email", 0), ("Purchase", 2)],
    "C": [("Ad", 0), ("Web", 1)],
    "D": [("Web", 0), ("Ad", 1), ("Email", 2), ("Web", 3), ("Purchase", 3.5)],
}


def _frame() -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": c, "timestamp": T0 + timedelta(days=d), "touchpoint": t}
                         for c, events in HAND.items() for t, d in events])


def _time_decay_reference(half_life_days: float) -> dict[str, float]:
    """Each converting journey's touches before its first purchase, weighted 2^(-age/h)."""
    out: dict[str, float] = {}
    for events in HAND.values():
        days = [d for t, d in events if t == "Purchase"]
        if not days:
            continue
        touches = [(t, d) for t, d in events if d < days[0] and t != "Purchase"]
        weights = [2 ** (-(days[0] - d) / half_life_days) for _, d in touches]
        for (t, _), w in zip(touches, weights, strict=True):
            out[t] = out.get(t, 0.0) + w / sum(weights)
    return out


@pytest.mark.parametrize("half_life", [0.5, 1.0, 7.0, 30.0])
def test_time_decay_matches_a_plain_python_reference(half_life):
    credit = model_credit(_frame(), conversion=["Purchase"], models=["time_decay"])
    table = compare_models_from_credit(credit, half_life_days=half_life)
    got = dict(zip(table["touchpoint"], table["time_decay"], strict=True))
    assert got == pytest.approx(_time_decay_reference(half_life), rel=1e-12)


@pytest.mark.parametrize("by", ["touchpoint", "channel"])
def test_one_credit_serves_every_half_life(by):
    events = demo.load().events
    credit = model_credit(events, conversion=["Purchase"], by=by,
                          lookback=timedelta(days=30))
    for half_life in (1.0, 7.0, 90.0):
        direct = compare_models(events, conversion=["Purchase"], by=by,
                                lookback=timedelta(days=30), half_life_days=half_life)
        pd.testing.assert_frame_equal(
            compare_models_from_credit(credit, half_life_days=half_life), direct)
    assert len(credit.decay) > 0 and credit.decay["_rel"].min() >= 0


def test_credit_without_time_decay_keeps_no_touches():
    credit = model_credit(_frame(), conversion=["Purchase"], models=["markov", "first"])
    assert credit.decay.empty and list(credit.table.columns) == ["first", "markov"]
    table = compare_models_from_credit(credit)
    assert list(table.columns) == ["touchpoint", "markov", "first"]
    assert np.isclose(table["markov"].sum(), 3)


def test_a_bad_half_life_is_refused_before_the_journeys_are_followed():
    with pytest.raises(ParameterError, match="half_life_days"):
        compare_models(_frame(), conversion=["Purchase"], half_life_days=0)
    credit = model_credit(_frame(), conversion=["Purchase"])
    with pytest.raises(ParameterError, match="half_life_days"):
        compare_models_from_credit(credit, half_life_days=float("nan"))


def test_an_undated_touch_weighs_nothing_in_time_decay():
    """A touch without a time has no age: the journey's conversion is shared by its dated
    touches, and other journeys keep their credit (a NaN weight once wiped out every key)."""
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "b"],
        "timestamp": [None, T0 + timedelta(days=1), T0 + timedelta(days=2),
                      T0, T0 + timedelta(days=1), T0 + timedelta(days=2)],
        "touchpoint": ["Email", "Web", "Buy", "Email", "Web", "Buy"]})
    events["timestamp"] = pd.to_datetime(events["timestamp"]).astype("datetime64[us]")
    table = compare_models(events, conversion=["Buy"], models=("time_decay",),
                           half_life_days=1.0).set_index("touchpoint")["time_decay"]
    # a: Web alone (dated); b: Email weighs 2^-1 against Web's 1.
    assert table["Web"] == pytest.approx(1 + 2 / 3)
    assert table["Email"] == pytest.approx(1 / 3)
    assert table.sum() == pytest.approx(2.0)
