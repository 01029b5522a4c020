"""Touchpoint figures: attribution bars per model (top rows, "Other", shares read back from the
figure), start → finish bars, channel mix bars, reach lines; user text kept inert; empty
inputs drawn as a note rather than an error."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from analysis import demo
from analysis.figures.touchpoints import (
    BEFORE,
    FINISHED,
    MODEL_NAMES,
    attribution_chart,
    channel_mix_chart,
    completion_chart,
    reach_trend_chart,
)
from analysis.results import OTHER
from analysis.schema import MissingColumnError, ParameterError
from analysis.touchpoints.attribution import MODELS, compare_models
from analysis.touchpoints.completion import online_offline

X, X_SAFE = "<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return demo.generate(n_customers=1500).events


@pytest.fixture(scope="module")
def compare(events) -> pd.DataFrame:
    return compare_models(events, conversion=["Purchase"])


@pytest.fixture(scope="module")
def completion(events):
    return online_offline(events, conversion=["Purchase"])


def note(fig) -> str:
    assert not fig.data
    return " ".join(a.text for a in fig.layout.annotations)


def test_attribution_chart_draws_every_model_with_its_shares(compare):
    fig = attribution_chart(compare, top=5)
    assert [t.name for t in fig.data] == [MODEL_NAMES[m] for m in MODELS]
    ranked = compare.sort_values(["markov", "touchpoint"], ascending=[False, True])
    names = ranked["touchpoint"].tolist()
    assert list(fig.layout.yaxis.ticktext) == [*names[:5], OTHER]
    for model, trace in zip(MODELS, fig.data, strict=True):
        share = ranked[model] / ranked[model].sum()
        expected = [*share.iloc[:5], share.iloc[5:].sum()]
        assert list(trace.x) == pytest.approx(expected)
        assert sum(trace.x) == pytest.approx(1.0)
        assert trace.orientation == "h"
    assert fig.layout.barmode == "group"
    assert fig.layout.xaxis.tickformat == ".0%"


def test_attribution_chart_without_markov_ranks_by_the_first_model(compare):
    table = compare[["touchpoint", "last", "first"]]
    fig = attribution_chart(table, top=3)
    assert [t.name for t in fig.data] == ["Last touch", "First touch"]
    assert list(fig.layout.yaxis.ticktext)[:2] == ["Checkout", "Payment failed"]
    assert list(fig.layout.yaxis.ticktext)[-1] == OTHER


def test_attribution_chart_escapes_names_and_keeps_every_row_under_top():
    table = pd.DataFrame({"touchpoint": [X, "Web"], "markov": [3.0, 1.0], "first": [2, 2]})
    fig = attribution_chart(table)
    assert list(fig.layout.yaxis.ticktext) == [X_SAFE, "Web"]
    assert fig.data[0].customdata[0][0] == X_SAFE
    assert [t.name for t in fig.data] == ["Markov (removal effect)", "First touch"]
    assert list(fig.data[0].x) == pytest.approx([0.75, 0.25])
    assert list(fig.data[1].x) == pytest.approx([0.5, 0.5])  # first: 2 of 4 each


def test_attribution_chart_by_channel(events):
    table = compare_models(events, conversion=["Purchase"], by="channel", models=["markov"])
    fig = attribution_chart(table, by="channel")
    assert set(fig.layout.yaxis.ticktext) == set(table["channel"])


def test_attribution_chart_empty_and_bad_input(compare):
    assert "no journey converted" in note(attribution_chart(compare.iloc[0:0]))
    zeros = compare.assign(**{m: 0.0 for m in MODELS})
    assert "no journey converted" in note(attribution_chart(zeros))
    with pytest.raises(ParameterError):
        attribution_chart(compare, by="stage")
    with pytest.raises(ParameterError):
        attribution_chart(compare, top=0)
    with pytest.raises(MissingColumnError):
        attribution_chart(compare[["touchpoint"]])


def test_completion_chart_stacks_finish_kinds_per_start(completion):
    fig = completion_chart(completion)
    paths = completion.paths
    assert [t.name for t in fig.data] == [f"Finished {k}" for k in paths["finish_kind"].unique()]
    starts = list(dict.fromkeys(paths["start_kind"]))
    assert list(fig.layout.yaxis.ticktext) == [f"Started {s}" for s in starts]
    drawn = {(starts[y], t.name.removeprefix("Finished ")): x
             for t in fig.data for y, x in zip(t.y, t.x, strict=True) if x}
    assert drawn == pytest.approx(
        {(s, f): v for s, f, v in zip(paths["start_kind"], paths["finish_kind"],
                                      paths["share"], strict=True)})
    assert fig.layout.barmode == "stack"
    header = fig.layout.annotations[0].text
    assert "finished offline: <b>0%</b>" in header and "finished online: <b>15%</b>" in header
    assert f"{completion.converters:,} converters" in fig.layout.xaxis.title.text


def test_completion_chart_on_mixed_journeys():
    t0 = datetime(2025, 1, 1)
    rows = [("A", "web", "Visit"), ("A", "store", "Purchase"), ("B", "store", "Visit"),
            ("B", "web", "Purchase"), ("C", "web", "Purchase")]
    events = pd.DataFrame([{"customer_id": c, "channel": ch, "touchpoint": tp,
                            "timestamp": t0 + timedelta(hours=i)}
                           for i, (c, ch, tp) in enumerate(rows)])
    fig = completion_chart(online_offline(events, conversion=["Purchase"]))
    assert [t.name for t in fig.data] == ["Finished online", "Finished offline"]
    assert list(fig.data[0].x) == pytest.approx([1 / 3, 1 / 3])
    assert list(fig.data[1].x) == pytest.approx([1 / 3, 0.0])
    assert list(fig.data[1].text) == ["Finished offline: 1 (33%)", ""]


def test_channel_mix_chart(completion):
    fig = channel_mix_chart(completion)
    assert [t.name for t in fig.data] == [FINISHED, BEFORE]
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks[:2] == ["web (online)", "app (online)"] and "store (offline)" in ticks
    before = dict(zip(completion.before["channel"], completion.before["share"], strict=True))
    names = [t.split(" (")[0] for t in ticks]
    assert list(fig.data[1].x) == pytest.approx([before.get(n, 0.0) for n in names])
    assert fig.data[0].x[names.index("store")] == 0.0


def test_channel_mix_chart_escapes_channels_and_leaves_out_the_rest():
    t0 = datetime(2025, 1, 1)
    events = pd.DataFrame({"customer_id": ["A", "A", "A", "B"],
                           "channel": [X, "web", "app", "web"],
                           "touchpoint": ["Ad", "Visit", "Purchase", "Purchase"],
                           "timestamp": [t0 + timedelta(hours=i) for i in range(4)]})
    fig = channel_mix_chart(online_offline(events, conversion=["Purchase"]), top=2)
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks == ["web (online)", f"{X_SAFE} (unclassified)"]
    assert fig.data[1].customdata[1][0] == X_SAFE
    assert "1 less used channel" in fig.layout.annotations[0].text


def test_completion_figures_for_empty_and_degenerate_results():
    events = pd.DataFrame({"customer_id": ["A"], "touchpoint": ["Purchase"],
                           "timestamp": [datetime(2025, 1, 1)]})
    degenerate = online_offline(events, conversion=["Purchase"])
    assert "Map a column to channel" in note(completion_chart(degenerate)).replace("<br>", " ")
    assert "channel" in note(channel_mix_chart(degenerate))
    empty = online_offline(events.assign(channel="web").iloc[0:0], conversion=["Purchase"])
    assert empty.status == "empty"
    assert "No customer reached" in note(completion_chart(empty)).replace("<br>", " ")


def trend() -> pd.DataFrame:
    periods = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])
    return pd.DataFrame({
        "touchpoint": [X] * 3 + ["Store walk-in"] * 3,
        "period": list(periods[::-1]) + list(periods),
        "customers": [5, 10, 20, 8, 6, 4], "active": [100] * 6,
        "reach": [0.05, 0.10, 0.20, 0.08, 0.06, 0.04],
    })


def test_reach_trend_chart_draws_a_line_per_touchpoint():
    fig = reach_trend_chart(trend(), ["Store walk-in", X, "Missing"])
    assert [t.name for t in fig.data] == ["Store walk-in", X_SAFE]
    assert list(fig.data[0].y) == pytest.approx([0.08, 0.06, 0.04])
    assert list(fig.data[1].y) == pytest.approx([0.20, 0.10, 0.05])  # sorted by period
    assert fig.data[1].customdata[0][0] == X_SAFE
    assert "20 of 100 active customers" in fig.data[1].customdata[0][2]
    assert fig.layout.yaxis.tickformat == ".0%"
    # One fading touchpoint still gets its name in a legend (plotly hides a lone trace's).
    assert reach_trend_chart(trend(), ["Store walk-in"]).layout.showlegend is True


def test_reach_trend_chart_empty_and_bad_input():
    assert "Nothing to draw" in note(reach_trend_chart(trend().iloc[0:0], ["x"]))
    assert "Nothing to draw" in note(reach_trend_chart(trend(), []))
    assert "none of these" in note(reach_trend_chart(trend(), ["Missing"]))
    with pytest.raises(ParameterError):
        reach_trend_chart(trend(), "Store walk-in")
    with pytest.raises(MissingColumnError):
        reach_trend_chart(trend().drop(columns="reach"), ["Store walk-in"])
