"""Funnel figures: zero steps keep their label, breakdowns draw Wilson intervals, units read."""

from __future__ import annotations

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis import figures, funnel

T0 = pd.Timestamp("2024-01-01")


def _events(rows: list[tuple[str, float, str, str]]) -> pd.DataFrame:
    """(customer, seconds after T0, touchpoint, group)."""
    df = pd.DataFrame(rows, columns=["customer_id", "seconds", "touchpoint", "group"])
    df["timestamp"] = T0 + pd.to_timedelta(df.pop("seconds"), unit="s")
    return df


EVENTS = _events(
    [(f"a{i}", 0, "Visit", "A") for i in range(40)]
    + [(f"a{i}", 45, "Cart", "A") for i in range(30)]
    + [(f"a{i}", 90, "Buy", "A") for i in range(12)]
    + [(f"b{i}", 0, "Visit", "B") for i in range(35)]
    + [(f"b{i}", 3600 * 30, "Cart", "B") for i in range(10)]
    + [("z", 0, "Never <b>after</b>", "B")]
)


def _bars(fig):
    return [t for t in fig.data if t.type == "bar"]


def test_a_step_nobody_reached_keeps_its_name_and_zero():
    table = funnel.funnel(EVENTS, ["Visit", "Cart", "Never <b>after</b>", "Buy"])
    assert table["customers"].tolist() == [75, 40, 0, 0]
    fig = figures.funnel_chart(table)
    bar = _bars(fig)[0]
    # Every step keeps its place on the axis, under its name (made inert for Plotly).
    assert list(bar.y) == list(fig.layout.yaxis.tickvals) and len(set(bar.y)) == 4
    assert list(fig.layout.yaxis.ticktext) == ["Visit", "Cart", "Never &lt;b&gt;after&lt;/b&gt;",
                                               "Buy"]
    assert list(fig.layout.yaxis.categoryarray) == list(bar.y)[::-1]  # step 1 on top
    assert bar.text[2].startswith("0 · 0%") and bar.text[3].startswith("0")
    # A bar too short to hold its label has it outside, where it can be read.
    assert list(bar.textposition) == ["inside", "inside", "outside", "outside"]


def test_funnel_hover_times_read_in_their_unit():
    table = funnel.funnel(EVENTS, ["Visit", "Cart", "Buy"])
    # Median Visit -> Cart: a's 45 s and b's 30 h -> 45 s; Cart -> Buy: 45 s.
    bar = _bars(figures.funnel_chart(table))[0]
    times = [row[3] for row in bar.customdata]
    assert times[0] == "–" and times[2] == "45 s"
    assert not any(t.startswith("0.0 h") or t == "0 h" for t in times)
    assert "Median time from the previous step" in bar.hovertemplate


def test_breakdown_draws_rates_with_their_wilson_intervals():
    table = funnel.funnel(EVENTS, ["Visit", "Cart", "Buy"], by="group")
    fig = figures.funnel_chart(table, by="group")
    bars = {b.name: b for b in _bars(fig)}
    assert set(bars) == {"A", "B"}
    for group, start in (("A", 40), ("B", 35)):
        reached = table.loc[table["group"] == group, "customers"].to_numpy()
        low, high = proportion_confint(reached, start, alpha=0.05, method="wilson")
        rate = reached / start
        bar = bars[group]
        assert list(bar.x) == pytest.approx(rate)
        assert bar.error_x.type == "data" and bar.error_x.symmetric is False
        assert list(bar.error_x.array) == pytest.approx(high - rate, abs=1e-9)
        assert list(bar.error_x.arrayminus) == pytest.approx(rate - low, abs=1e-9)
        # Counts stay in the hover.
        assert [row[1] for row in bar.customdata] == reached.tolist()
        assert all(row[2] == start for row in bar.customdata)
    assert fig.layout.xaxis.tickformat == ".0%"
    assert fig.layout.legend.title.text == "Group" and fig.layout.showlegend


def test_breakdown_labels_are_percentages_past_the_interval():
    table = funnel.funnel(EVENTS, ["Visit", "Cart", "Buy"], by="group")
    labels = {t.legendgroup: t for t in figures.funnel_chart(table, by="group").data
              if t.type == "scatter"}
    a = labels["A"]
    assert [t.strip() for t in a.text] == ["100% of 40", "75.0%", "30.0%"]
    high = table.loc[table["group"] == "A", "ci_high"].tolist()
    assert list(a.x) == pytest.approx(high)


def test_significant_steps_are_starred():
    table = funnel.funnel(EVENTS, ["Visit", "Cart"], by="group")
    assert table.loc[table["step_index"] == 2, "p_adjusted"].iloc[0] < 0.05
    fig = figures.funnel_chart(table, by="group")
    assert list(fig.layout.yaxis.ticktext) == ["Visit", "Cart ★"]


def test_a_repeated_step_keeps_both_bars():
    table = funnel.funnel(EVENTS, ["Visit", "Visit"])
    fig = figures.funnel_chart(table)
    assert len(set(_bars(fig)[0].y)) == 2
    assert list(fig.layout.yaxis.ticktext) == ["Visit", "Visit"]
