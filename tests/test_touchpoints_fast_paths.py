"""Attribution, online/offline completion and the journey map against plain-pandas counts
written here from the definitions, on small journeys full of equal timestamps (file order,
``event_seq``, decides), through every way the events arrive: pandas, a stored-like DuckDB
relation with the journey columns precomputed at import (read without a sort), the same with a
whole-customer filter (precomputed columns kept) and with a channel filter (dropped)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import pytest

from analysis.frames import Filters, canonical
from analysis.journeys import uses_precomputed
from analysis.precompute import add_journey_columns
from analysis.touchpoints import compare_models, journey_map, markov_removal_credit, online_offline
from analysis.touchpoints.attribution import MODELS, NO_TOUCH

T0 = datetime(2025, 5, 1)
STAGES = ["awareness", "consideration", "conversion", "usage"]
# touchpoint: (stages it may fall in, channel); channel None is "(none)".
KINDS = {"Ad": (["awareness"], "social"), "Mail": (["awareness", "consideration"], "email"),
         "Visit": (["consideration", "awareness"], "web"), "Call": (["consideration"], None),
         "Buy": (["conversion"], "store"), "Use": (["usage", "consideration"], "app")}


def make_events(seed: int = 0, customers: int = 60) -> pd.DataFrame:
    """Journeys of 1-9 events over 4 days (so many share a timestamp), rows shuffled, file
    order in ``event_seq``; a few events without a touchpoint."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for _ in range(int(rng.integers(1, 10))):
            tp = str(rng.choice(list(KINDS)))
            stages, channel = KINDS[tp]
            rows.append({"customer_id": f"c{c:03d}",
                         "timestamp": T0 + timedelta(days=int(rng.integers(0, 4))),
                         "touchpoint": None if rng.random() < 0.03 else tp,
                         "stage": str(rng.choice(stages)), "channel": channel,
                         "segment": "A" if c % 3 else "B"})
    out = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    out["event_seq"] = rng.permutation(len(out)).astype("int64")
    return out.astype({"timestamp": "datetime64[us]"})


def journeys(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    d = df[df["touchpoint"].notna()].sort_values(["customer_id", "timestamp", "event_seq"])
    return {c: g.reset_index(drop=True) for c, g in d.groupby("customer_id")}


def precomputed(df: pd.DataFrame, filters: Filters | None = None, *,
                enum: bool = False) -> nw.LazyFrame:
    """``df`` as a stored dataset hands it to views: a DuckDB relation with the precomputed
    journey columns (kept by whole-customer filters, dropped by others); ``enum`` stores the
    touchpoint and the stage as ENUMs, their categories deliberately not in name order."""
    con = duckdb.connect()
    relation = add_journey_columns(con.from_df(df))
    if enum:
        for column, kind in (("touchpoint", "tp"), ("stage", "st")):
            names = sorted(df[column].dropna().unique(), reverse=True)
            con.execute(f"CREATE TYPE {kind} AS ENUM (" + ", ".join(f"'{n}'" for n in names)
                        + ")")
            relation = relation.select(duckdb.StarExpression(exclude=[column]),
                                       duckdb.SQLExpression(f"{column}::{kind}").alias(column))
    whole = filters is None or not (filters.channels or filters.start or filters.end)
    return canonical(nw.from_native(relation), "events", filters, whole_journeys=whole)


def inputs(df: pd.DataFrame) -> list[tuple[str, object, pd.DataFrame]]:
    """(name, events as passed, the events they stand for)."""
    seg = Filters(attributes=(("segment", ("A",)),))
    web = Filters(channels=("web", "email", "social", "store"))
    stored = precomputed(df)
    assert uses_precomputed(stored) and uses_precomputed(precomputed(df, seg))
    assert not uses_precomputed(precomputed(df, web))
    enum = precomputed(df, enum=True)
    assert isinstance(enum.collect_schema()["touchpoint"], nw.Enum)
    assert isinstance(enum.collect_schema()["stage"], nw.Enum)
    return [("pandas", df, df), ("precomputed", stored, df), ("stored ENUM", enum, df),
            ("whole-customer filter", precomputed(df, seg), df[df["segment"] == "A"]),
            ("channel filter", precomputed(df, web), df[df["channel"].isin(web.channels)])]


# --- attribution ----------------------------------------------------------------------------

def reference_attribution(df: pd.DataFrame, by: str, lookback: timedelta | None,
                          half_life_days: float) -> dict[str, dict[str, float]]:
    credit: dict[str, dict[str, float]] = {m: defaultdict(float) for m in MODELS}
    moves: Counter = Counter()
    keys, converters, credited = set(), 0, 0
    for g in journeys(df).values():
        hits = g.index[g["touchpoint"] == "Buy"]
        converted = len(hits) > 0
        ref = g["timestamp"].iloc[hits[0]] if converted else g["timestamp"].max()
        touches = g.iloc[:hits[0]] if converted else g
        if lookback is not None:
            touches = touches[ref - touches["timestamp"] <= lookback]
        names = touches[by].fillna("(none)").astype(str).tolist()
        keys.update(names)
        converters += converted
        if names:
            moves[(None, names[0])] += 1
            moves.update(itertools.pairwise(names))
            moves[(names[-1], converted)] += 1
        if not converted or not names:
            continue
        credited += 1
        n = len(names)
        ages = (ref - touches["timestamp"]).dt.total_seconds().to_numpy()
        decay = 2.0 ** (-(ages - ages.min()) / (half_life_days * 86_400))
        for i, name in enumerate(names):
            credit["first"][name] += i == 0
            credit["last"][name] += i == n - 1
            credit["linear"][name] += 1 / n
            credit["position"][name] += (1.0 if n == 1 else 0.5 if n == 2 else
                                         0.4 if i in (0, n - 1) else 0.2 / (n - 2))
            credit["time_decay"][name] += decay[i] / decay.sum()
        for name in set(names):
            credit["shapley"][name] += 1 / len(set(names))
    rows = pd.DataFrame([(s, t, c) for (s, t), c in moves.items()],
                        columns=["source", "target", "count"])
    credit["markov"].update(markov_removal_credit(rows).to_dict() if len(rows) else {})
    extra = {NO_TOUCH: converters - credited} if converters > credited else {}
    return {m: {**{k: float(credit[m].get(k, 0.0)) for k in keys}, **extra} for m in MODELS}


@pytest.mark.parametrize("by", ["touchpoint", "channel"])
@pytest.mark.parametrize("lookback", [None, timedelta(days=1)])
@pytest.mark.parametrize("seed", [0, 1])
def test_attribution_matches_pandas_on_every_path(seed, by, lookback):
    df = make_events(seed)
    for name, events, stands_for in inputs(df):
        table = compare_models(events, conversion=["Buy"], by=by, lookback=lookback,
                               half_life_days=1.5)
        expected = reference_attribution(stands_for, by, lookback, 1.5)
        for model in MODELS:
            got = dict(zip(table[by], table[model], strict=True))
            assert got == pytest.approx(expected[model], abs=1e-9), (name, model)


# --- online / offline completion --------------------------------------------------------------

ONLINE, OFFLINE = ["social", "email", "web", "app"], ["store"]


def kind(channel: object) -> str:
    return "online" if channel in ONLINE else "offline" if channel in OFFLINE else "unclassified"


def test_completion_matches_pandas_on_every_path():
    df = make_events(2, customers=80)
    for name, events, stands_for in inputs(df):
        got = online_offline(events, conversion=["Buy"], online=ONLINE, offline=OFFLINE)
        paths, finish, before, mix = Counter(), Counter(), Counter(), Counter()
        for g in journeys(stands_for).values():
            hits = g.index[g["touchpoint"] == "Buy"]
            if not len(hits):
                continue
            channels = g["channel"].fillna("(none)").tolist()[:hits[0] + 1]
            paths[(kind(channels[0]), kind(channels[-1]))] += 1
            finish[channels[-1]] += 1
            used = set(channels[:-1])
            before.update(used)
            on, off = any(kind(c) == "online" for c in used), any(kind(c) == "offline"
                                                                   for c in used)
            mix["both" if on and off else "online only" if on else
                "offline only" if off else "none before"] += 1
        assert got.converters == sum(paths.values()), name
        assert dict(zip(zip(got.paths["start_kind"], got.paths["finish_kind"], strict=True),
                        got.paths["customers"], strict=True)) == dict(paths), name
        assert dict(zip(got.finish["channel"], got.finish["customers"], strict=True)) == finish
        assert dict(zip(got.before["channel"], got.before["customers"], strict=True)) == before
        assert {k: v for k, v in zip(got.mix["before_kinds"], got.mix["customers"],
                                     strict=True) if v} == dict(mix), name


# --- journey map ----------------------------------------------------------------------------

def reference_cells(df: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per (stage, touchpoint): customers entering, touched, next_stage_share,
    median_seconds_in_stage and the most frequent channel, from the definitions."""
    mapped = df[df["stage"].isin(order)]
    entries, touched, channels = [], Counter(), Counter()
    for g in journeys(mapped).values():
        si = g["stage"].map(order.index).to_numpy()
        for s in sorted(set(si)):
            at = np.flatnonzero(si == s)
            entry = at[0]
            later = [i for i in range(entry + 1, len(g)) if si[i] > s]
            end = g["timestamp"].iloc[later[0]] if later else g["timestamp"].iloc[at[-1]]
            reached = (np.nan if s == len(order) - 1
                       else float(any(si[i] == s + 1 for i in range(entry + 1, len(g)))))
            entries.append((s, g["touchpoint"].iloc[entry], reached,
                            (end - g["timestamp"].iloc[entry]).total_seconds()))
        for s, tp in set(zip(si, g["touchpoint"], strict=True)):
            touched[(s, tp)] += 1
        channels.update(zip(si, g["touchpoint"], g["channel"].fillna("(none)"), strict=True))
    table = pd.DataFrame(entries, columns=["stage_index", "touchpoint", "next", "seconds"])
    cells = table.groupby(["stage_index", "touchpoint"]).agg(
        customers=("next", "size"), next_stage_share=("next", "mean"),
        median_seconds_in_stage=("seconds", "median"))
    out = pd.DataFrame([(s, tp, n) for (s, tp), n in touched.items()],
                       columns=["stage_index", "touchpoint", "touched"])
    out = out.merge(cells.reset_index(), on=["stage_index", "touchpoint"], how="left")
    best = {}
    for (s, tp, ch), _ in sorted(channels.items(), key=lambda x: (-x[1], x[0][2])):
        best.setdefault((s, tp), ch)
    out["channel"] = [best[k] for k in zip(out["stage_index"], out["touchpoint"], strict=True)]
    out["customers"] = out["customers"].fillna(0).astype("int64")
    return out.sort_values(["stage_index", "touchpoint"]).reset_index(drop=True)


@pytest.mark.parametrize("order", [STAGES, ["awareness", "consideration", "usage"]])
@pytest.mark.parametrize("seed", [0, 3])
def test_journey_map_matches_pandas_on_every_path(seed, order):
    df = make_events(seed)
    columns = ["stage_index", "touchpoint", "customers", "touched", "next_stage_share",
               "median_seconds_in_stage", "channel"]
    for name, events, stands_for in inputs(df):
        # As the app does: a filter can remove every event of a stage; the others are drawn.
        present = [s for s in order if s in set(stands_for["stage"])]
        jm = journey_map(events, stages=present)
        got = jm.cells[columns].sort_values(["stage_index", "touchpoint"]).reset_index(drop=True)
        expected = reference_cells(stands_for, present)[columns]
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=name)
        stages = got.groupby("stage_index")["customers"].sum()
        assert jm.stages.set_index("stage_index")["customers"].loc[stages.index].tolist() == (
            stages.tolist())


def test_journey_map_places_feedback_alike_when_it_shares_the_engine():
    """Feedback on the events' own DuckDB connection is matched to its customers' events in
    the engine; from pandas, by listing the customers: the same map either way."""
    df = make_events(4)
    rng = np.random.default_rng(4)
    picked = df[df["touchpoint"].notna()].sample(40, random_state=4)
    feedback = pd.DataFrame({
        "customer_id": picked["customer_id"].to_numpy(),
        "timestamp": (picked["timestamp"] + pd.to_timedelta(rng.integers(0, 30, 40), "h"))
        .astype("datetime64[us]").to_numpy(),
        "touchpoint": picked["touchpoint"].to_numpy(),
        "score": rng.integers(0, 11, 40).astype(float), "scale": "nps"})
    # Customers with feedback but no events (several: they must not collide).
    ghosts = feedback.head(3).assign(customer_id=["ghost1", "ghost2", "ghost3"])
    feedback = pd.concat([feedback, ghosts], ignore_index=True)
    con = duckdb.connect()
    events = nw.from_native(add_journey_columns(con.from_df(df)))
    for segment in (None, "A"):
        options = {"stages": STAGES, "segment_column": "segment", "segment": segment}
        together = journey_map(events, nw.from_native(con.from_df(feedback)), **options)
        apart = journey_map(df, feedback, **options)
        assert together.cells["feedback"].sum() > 0
        pd.testing.assert_frame_equal(together.cells, apart.cells)
        pd.testing.assert_frame_equal(together.stages, apart.stages)
