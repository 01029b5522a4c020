"""Online or offline completion: hand-counted journeys, the demo against a plain-pandas count,
degenerate inputs and the same result from every engine."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pandas as pd
import polars as pl
import pytest

from analysis import demo
from analysis.schema import ParameterError, UnknownValueError
from analysis.touchpoints.completion import (
    KINDS,
    MIX,
    Completion,
    default_channel_kinds,
    online_offline,
)

T0 = datetime(2025, 3, 1)

# (customer, day, touchpoint, channel, event_seq). Rows are deliberately not in journey order.
# A: starts online (social), finishes offline (store).
# B: store and web at the same instant, ordered by event_seq (store first although its row comes
#    second): starts offline, converts on web, converts again in store (ignored).
# C: converts with its first event, in the app: nothing before.
# D: starts with no channel (unclassified), a call before, converts on web, a store visit after
#    the conversion (ignored).
# E: never converts. F: email, then web, converts on web.
ROWS = [
    ("A", 0, "Social ad", "social", 1), ("A", 1, "Store visit", "store", 2),
    ("A", 2, "Purchase", "store", 3),
    ("B", 0, "Product page", "web", 5), ("B", 0, "Store visit", "store", 4),
    ("B", 1, "Purchase", "web", 6), ("B", 2, "Purchase", "store", 7),
    ("C", 0, "Purchase", "app", 8),
    ("D", 3, "Purchase", "web", 11), ("D", 0, "Social ad", None, 9),
    ("D", 1, "Support call", "call center", 10), ("D", 4, "Store visit", "store", 12),
    ("E", 0, "Product page", "web", 13), ("E", 1, "Store visit", "store", 14),
    ("F", 0, "Newsletter", "email", 15), ("F", 1, "Product page", "web", 16),
    ("F", 2, "Purchase", "web", 17),
]


def hand_events() -> pd.DataFrame:
    return pd.DataFrame(
        [{"customer_id": c, "timestamp": T0 + timedelta(days=d), "touchpoint": t,
          "channel": ch, "event_seq": s} for c, d, t, ch, s in ROWS]
    ).astype({"timestamp": "datetime64[us]", "event_seq": "int64"})


def pairs(c: Completion) -> list[tuple[str, str, int]]:
    return list(zip(c.paths["start_kind"], c.paths["finish_kind"], c.paths["customers"],
                    strict=True))


def counts(table: pd.DataFrame, key: str = "channel") -> dict[str, int]:
    return dict(zip(table[key], table["customers"], strict=True))


def test_hand_counted_journeys():
    c = online_offline(hand_events(), conversion=["Purchase"])
    assert (c.status, c.message, c.converters) == ("ok", "", 5)
    assert pairs(c) == [("online", "online", 2), ("online", "offline", 1),
                        ("offline", "online", 1), ("unclassified", "online", 1)]
    assert c.paths["share"].tolist() == pytest.approx([0.4, 0.2, 0.2, 0.2])
    assert (c.online_to_offline, c.offline_to_online) == pytest.approx((0.2, 0.2))
    assert list(c.finish["channel"]) == ["web", "app", "store"]
    assert counts(c.finish) == {"web": 3, "app": 1, "store": 1}
    assert list(c.finish["kind"]) == ["online", "online", "offline"]
    assert counts(c.before) == {"store": 2, "web": 2, "social": 1, "(none)": 1,
                                "call center": 1, "email": 1}
    assert dict(zip(c.before["channel"], c.before["kind"], strict=True))["(none)"] == (
        "unclassified")
    assert c.before["share"].tolist() == pytest.approx([0.4, 0.4, 0.2, 0.2, 0.2, 0.2])
    assert list(c.mix["before_kinds"]) == list(MIX)
    assert counts(c.mix, "before_kinds") == {"online only": 1, "offline only": 1, "both": 2,
                                            "none before": 1}


def test_result_columns_and_shares_sum_to_one():
    c = online_offline(hand_events(), conversion=["Purchase"])
    assert list(c.paths.columns) == ["start_kind", "finish_kind", "customers", "share"]
    assert list(c.finish.columns) == list(c.before.columns) == [
        "channel", "kind", "customers", "share"]
    assert list(c.mix.columns) == ["before_kinds", "customers", "share"]
    for table in (c.paths, c.finish, c.mix):
        assert table["share"].sum() == pytest.approx(1.0)
        assert table["customers"].sum() == c.converters


def test_input_is_not_modified():
    events = hand_events()
    copy = events.copy()
    online_offline(events, conversion=["Purchase"])
    pd.testing.assert_frame_equal(events, copy)


def test_custom_mapping_overrides_the_default():
    # The app counts as offline (an in-store kiosk); the call center is left unclassified.
    c = online_offline(hand_events(), conversion=["Purchase"],
                       online=["web", "social", "email"], offline=["store", "app"])
    assert pairs(c) == [("online", "online", 1), ("online", "offline", 1),
                        ("offline", "online", 1), ("offline", "offline", 1),
                        ("unclassified", "online", 1)]
    kinds = dict(zip(c.before["channel"], c.before["kind"], strict=True))
    assert kinds["call center"] == "unclassified"
    # D used only an unclassified channel before converting.
    assert counts(c.mix, "before_kinds") == {"online only": 1, "offline only": 0, "both": 2,
                                            "none before": 2}


def test_one_list_given_keeps_the_default_for_the_other_kind():
    # Only web is online; store and call center stay offline by name.
    c = online_offline(hand_events(), conversion=["Purchase"], online=["web"])
    assert pairs(c) == [("offline", "online", 1), ("unclassified", "online", 2),
                        ("unclassified", "offline", 1), ("unclassified", "unclassified", 1)]
    assert dict(zip(c.before["channel"], c.before["kind"], strict=True)) == {
        "store": "offline", "web": "online", "(none)": "unclassified",
        "call center": "offline", "email": "unclassified", "social": "unclassified"}


def test_default_channel_kinds():
    assert default_channel_kinds(["social", "web", "email", "store", "app", "chat",
                                  "call center", "(none)", "Direct mail", "kiosk?", "xyz"]) == {
        "social": "online", "web": "online", "email": "online", "store": "offline",
        "app": "online", "chat": "online", "call center": "offline", "(none)": "unclassified",
        "Direct mail": "offline", "kiosk?": "offline", "xyz": "unclassified"}
    assert set(default_channel_kinds(["a", "web"]).values()) <= set(KINDS)


def plain_pandas(events: pd.DataFrame, conversion: str) -> dict:
    """An independent count: sort, cut each journey at its first conversion, tally."""
    ev = events.assign(_row=range(len(events)))
    ev = ev.sort_values(["customer_id", "timestamp", "_row"]).reset_index(drop=True)
    ev["channel"] = ev["channel"].fillna("(none)")
    kind = {"social": "online", "web": "online", "email": "online", "app": "online",
            "chat": "online", "store": "offline", "call center": "offline"}
    out: dict = {"paths": {}, "finish": {}, "before": {}, "mix": dict.fromkeys(MIX, 0)}
    for _, journey in ev.groupby("customer_id", sort=False):
        hits = (journey["touchpoint"] == conversion).to_numpy().nonzero()[0]
        if not len(hits):
            continue
        channels = journey["channel"].tolist()[: hits[0] + 1]
        pair = (kind.get(channels[0], "unclassified"), kind.get(channels[-1], "unclassified"))
        out["paths"][pair] = out["paths"].get(pair, 0) + 1
        out["finish"][channels[-1]] = out["finish"].get(channels[-1], 0) + 1
        for ch in set(channels[:-1]):
            out["before"][ch] = out["before"].get(ch, 0) + 1
        used = {kind.get(ch) for ch in channels[:-1]}
        on, off = "online" in used, "offline" in used
        key = "both" if on and off else "online only" if on else (
            "offline only" if off else "none before")
        out["mix"][key] += 1
    return out


@pytest.fixture(scope="module")
def demo_events() -> pd.DataFrame:
    return demo.generate(n_customers=1500).events


def test_demo_matches_a_plain_pandas_count(demo_events):
    c = online_offline(demo_events, conversion=["Purchase"])
    expected = plain_pandas(demo_events, "Purchase")
    assert c.status == "ok"
    assert {(s, f): n for s, f, n in pairs(c)} == expected["paths"]
    assert counts(c.finish) == expected["finish"]
    assert counts(c.before) == expected["before"]
    assert counts(c.mix, "before_kinds") == expected["mix"]
    assert c.converters == sum(expected["paths"].values())
    for table in (c.paths, c.finish, c.mix):
        assert table["share"].sum() == pytest.approx(1.0)
    # The demo converts on web or app only; store walk-ins start offline.
    assert c.online_to_offline == 0.0
    assert 0.05 < c.offline_to_online < 0.3


def test_no_channel_column_is_degenerate():
    c = online_offline(hand_events().drop(columns="channel"), conversion=["Purchase"])
    assert c.status == "degenerate"
    assert "channel" in c.message and "Map" in c.message
    assert c.converters == 0 and c.paths.empty and c.mix.empty


def test_no_converters_is_empty():
    events = hand_events().iloc[0:0]
    c = online_offline(events, conversion=["Purchase"])
    assert (c.status, c.converters) == ("empty", 0)
    assert "Purchase" in c.message
    assert list(c.finish.columns) == ["channel", "kind", "customers", "share"]


def test_only_unclassified_channels_is_degenerate_with_tables():
    events = hand_events().assign(channel="somewhere")
    c = online_offline(events, conversion=["Purchase"])
    assert c.status == "degenerate" and "online" in c.message
    assert pairs(c) == [("unclassified", "unclassified", 5)]


def test_bad_parameters_raise_with_a_hint():
    events = hand_events()
    with pytest.raises(ParameterError, match="both online and offline") as info:
        online_offline(events, conversion=["Purchase"], online=["web", "store"],
                       offline=["store"])
    assert "one list" in str(info.value)
    with pytest.raises(ParameterError, match="list"):
        online_offline(events, conversion="Purchase")
    with pytest.raises(ParameterError, match="No conversion"):
        online_offline(events, conversion=[])
    with pytest.raises(ParameterError, match="list of channels"):
        online_offline(events, conversion=["Purchase"], online="web")
    with pytest.raises(UnknownValueError, match="Purchse"):
        online_offline(events, conversion=["Purchse"])


def assert_same(a: Completion, b: Completion) -> None:
    for name in ("paths", "finish", "before", "mix"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_dtype=False)
    assert (a.converters, a.online_to_offline, a.offline_to_online, a.status) == (
        b.converters, b.online_to_offline, b.offline_to_online, b.status)


def test_engines_agree(spark):
    events = hand_events()
    reference = online_offline(events, conversion=["Purchase"])
    frames = {
        "duckdb": duckdb.connect().from_df(events),
        "polars": pl.from_pandas(events),
        "polars lazy": pl.from_pandas(events).lazy(),
        "spark": spark.createDataFrame(events),
    }
    for name, frame in frames.items():
        result = online_offline(frame, conversion=["Purchase"])
        try:
            assert_same(result, reference)
        except AssertionError as exc:
            raise AssertionError(f"{name} differs") from exc
