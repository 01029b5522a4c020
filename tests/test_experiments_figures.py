"""Experiments figures: the forest chart's panels, bars and verdict colours (flipped when lower
is better), the trend chart's lines, bands with gaps and change line, the event study's leads,
lags and reference, user text kept inert, and empty inputs drawn as a note rather than an
error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.figures.experiments import (
    BETTER,
    LAGS,
    LEADS,
    UNCLEAR,
    VERDICT_COLORS,
    WORSE,
    effect_forest_chart,
    effect_verdict,
    event_study_chart,
    kpi_trend_chart,
)
from analysis.schema import MissingColumnError, ParameterError

VIP, VIP_SAFE = "<b>VIP</b>", "&lt;b&gt;VIP&lt;/b&gt;"


def _effects(**overrides) -> pd.DataFrame:
    """Conversion (pp, higher is better): B better, C unclear. Churn days (lower is better):
    treated lower, so better. NPS (pts, higher is better): VIP worse."""
    table = pd.DataFrame({
        "kpi": ["Conversion", "Conversion", "Days to churn", VIP],
        "comparison": ["B vs A", "C vs A", "Treated vs control", VIP],
        "estimate": [1.2, -0.5, -3.0, -4.0],
        "ci_low": [0.4, -1.5, -5.0, -6.5],
        "ci_high": [2.0, 0.5, -1.0, -1.5],
        "unit": [" pp", " pp", " days", " pts"],
        "p_adjusted": [0.0004, 0.3, 0.02, 0.01],
        "higher_is_better": [True, True, False, True],
    })
    return table.assign(**overrides)


def _series() -> pd.DataFrame:
    """Two groups over three months; Treated has no customers in February (a gap)."""
    periods = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    return pd.DataFrame({
        "period": list(periods) * 2,
        "group": ["Treated"] * 3 + [VIP] * 3,
        "value": [10.0, np.nan, 30.0, 20.0, 21.0, 25.0],
        "ci_low": [8.0, np.nan, 27.0, 18.0, 19.0, 22.0],
        "ci_high": [12.0, np.nan, 33.0, 22.0, 23.0, 28.0],
        "units": [40, 0, 50, 30, 31, 35],
    })


def _event_table() -> pd.DataFrame:
    return pd.DataFrame({
        "relative_period": [-3, -2, -1, 0, 1],
        "estimate": [0.1, -0.2, 0.0, 1.5, 2.0],
        "ci_low": [-0.5, -0.8, 0.0, 0.7, 1.0],
        "ci_high": [0.7, 0.4, 0.0, 2.3, 3.5],
        "p_value": [0.7, 0.5, np.nan, 0.001, 0.0001],
    })


def _serialises(fig) -> dict:
    return json.loads(fig.to_json())


# --- verdicts ---------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high", "higher", "expected"), [
    (0.1, 2.0, True, BETTER),
    (0.1, 2.0, False, WORSE),
    (-2.0, -0.1, True, WORSE),
    (-2.0, -0.1, False, BETTER),
    (-1.0, 1.0, True, UNCLEAR),
    (0.0, 1.0, True, UNCLEAR),
    (np.nan, np.nan, True, UNCLEAR),
    (np.nan, -0.5, np.bool_(False), BETTER),
])
def test_effect_verdict(low, high, higher, expected):
    assert effect_verdict(low, high, higher) == expected


# --- forest chart -----------------------------------------------------------------------


def test_forest_chart_draws_one_panel_per_kpi_with_its_bars():
    fig = effect_forest_chart(_effects())
    _serialises(fig)
    conversion = [t for t in fig.data if t.xaxis == "x"]
    assert [(t.name, t.x, t.y) for t in conversion] == [
        (BETTER, (1.2,), (0,)), (UNCLEAR, (-0.5,), (1,))]
    better, unclear = conversion
    assert better.error_x.array == pytest.approx([0.8])
    assert better.error_x.arrayminus == pytest.approx([0.8])
    assert unclear.error_x.array == pytest.approx([1.0])
    assert unclear.error_x.arrayminus == pytest.approx([1.0])
    assert fig.layout.yaxis.ticktext == ("B vs A", "C vs A")
    # Each KPI has its own x axis (units differ) and a line at 0.
    assert {t.xaxis for t in fig.data} == {"x", "x2", "x3"}
    assert [(s.xref, s.x0, s.x1) for s in fig.layout.shapes] == [
        ("x", 0, 0), ("x2", 0, 0), ("x3", 0, 0)]
    assert fig.layout.xaxis.range[0] < -1.5 and fig.layout.xaxis.range[1] > 2.0
    assert fig.layout.xaxis2.range[1] > 0  # 0 stays in view even when all is below it
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["Conversion (pp)", "Days to churn (days)", f"{VIP_SAFE} (pts)"]


def test_forest_chart_colours_by_verdict_and_flips_when_lower_is_better():
    fig = effect_forest_chart(_effects())
    by_panel = {(t.xaxis, t.name): t for t in fig.data}
    assert by_panel[("x2", BETTER)].x == (-3.0,)  # fewer days to churn is better
    assert by_panel[("x3", WORSE)].x == (-4.0,)
    for trace in fig.data:
        assert trace.marker.color == VERDICT_COLORS[trace.name]
        assert trace.error_x.color == VERDICT_COLORS[trace.name]
    # One legend entry per verdict used.
    assert sorted(t.name for t in fig.data if t.showlegend) == sorted([BETTER, UNCLEAR, WORSE])
    flipped = effect_forest_chart(_effects(higher_is_better=[False, False, True, False]))
    names = {(t.xaxis, t.name) for t in flipped.data}
    assert names == {("x", WORSE), ("x", UNCLEAR), ("x2", WORSE), ("x3", BETTER)}


def test_forest_chart_hover_and_labels_keep_user_text_inert():
    fig = effect_forest_chart(_effects())
    vip = next(t for t in fig.data if t.xaxis == "x3")
    assert list(vip.customdata[0]) == [VIP_SAFE, VIP_SAFE, "−4.00 pts", "−6.50 pts",
                                       "−1.50 pts", "0.010"]
    assert fig.layout.yaxis3.ticktext == (VIP_SAFE,)
    first = next(t for t in fig.data if t.name == BETTER)
    assert list(first.customdata[0]) == ["Conversion", "B vs A", "+1.20 pp", "+0.40 pp",
                                         "+2.00 pp", "< 0.001"]
    assert "<b>" not in fig.to_json()


def test_forest_chart_height_grows_with_rows_and_unknown_estimates_are_counted():
    one = effect_forest_chart(_effects().iloc[:1])
    three = effect_forest_chart(_effects())
    assert three.layout.height > one.layout.height
    assert effect_forest_chart(_effects(), height=500).layout.height == 500
    fig = effect_forest_chart(_effects(estimate=[1.2, np.nan, -3.0, -4.0]))
    assert sum(len(t.x) for t in fig.data) == 3
    assert "1 effect(s) without a finite estimate" in fig.layout.annotations[-1].text


# --- trend chart ------------------------------------------------------------------------


def test_trend_chart_lines_bands_and_gaps():
    fig = kpi_trend_chart(_series(), kpi="Revenue", unit=" €")
    _serialises(fig)
    names = [t.name for t in fig.data]
    # Natural order: "<b>VIP</b>" sorts before "Treated".
    assert names == [f"{VIP_SAFE} 95% CI", VIP_SAFE, "Treated 95% CI", "Treated"]
    vip_band, vip_line, band, line = fig.data
    assert line.y[0] == 10.0 and np.isnan(line.y[1]) and line.y[2] == 30.0
    assert line.mode == "lines+markers" and not line.connectgaps
    # The band closes each run of known intervals on itself; February is a gap.
    assert band.fill == "toself"
    assert list(band.y) == [12.0, 8.0, None, 33.0, 27.0]
    assert band.x[2] is None and pd.Timestamp(band.x[3]) == pd.Timestamp("2024-03-01")
    assert list(vip_band.y) == [22.0, 23.0, 28.0, 22.0, 19.0, 18.0]
    assert band.fillcolor.startswith("rgba(") and band.fillcolor.endswith(",0.18)")
    assert list(line.customdata[0]) == ["Treated", "10.0 €", "8.00 €", "12.0 €", "40"]
    assert vip_line.customdata[0][0] == VIP_SAFE
    assert fig.layout.yaxis.title.text == "Revenue (€)"
    assert not fig.layout.shapes


def test_trend_chart_marks_the_change_date():
    fig = kpi_trend_chart(_series(), kpi="Conversion", unit=" %",
                          change_date="2024-02-15")
    _serialises(fig)
    (shape,) = fig.layout.shapes
    assert (shape.type, shape.xref, shape.yref, shape.y0, shape.y1) == (
        "line", "x", "paper", 0, 1)
    assert pd.Timestamp(shape.x0) == pd.Timestamp(shape.x1) == pd.Timestamp("2024-02-15")
    assert shape.line.dash == "dash"
    (note,) = fig.layout.annotations
    assert note.text == "Change" and pd.Timestamp(note.x) == pd.Timestamp("2024-02-15")


def test_trend_chart_with_time_zones_drops_them():
    series = _series().assign(period=lambda t: t["period"].dt.tz_localize("UTC"))
    fig = kpi_trend_chart(series, kpi="Conversion",
                          change_date=pd.Timestamp("2024-02-15", tz="UTC"))
    assert pd.Timestamp(fig.data[1].x[0]) == pd.Timestamp("2024-01-01")
    assert pd.Timestamp(fig.layout.shapes[0].x0) == pd.Timestamp("2024-02-15")
    _serialises(fig)


# --- event study ------------------------------------------------------------------------


def test_event_study_leads_lags_and_reference():
    fig = event_study_chart(_event_table(), kpi="Conversion", unit=" pp", pretrend_p=0.42)
    _serialises(fig)
    leads, lags, reference = fig.data
    assert (leads.name, leads.x, leads.y) == (LEADS, (-3, -2), (0.1, -0.2))
    assert leads.error_y.array == pytest.approx([0.6, 0.6])
    assert leads.error_y.arrayminus == pytest.approx([0.6, 0.6])
    assert (lags.name, lags.x, lags.y) == (LAGS, (0, 1), (1.5, 2.0))
    assert lags.error_y.array == pytest.approx([0.8, 1.5])
    assert lags.error_y.arrayminus == pytest.approx([0.8, 1.0])
    assert leads.marker.color != lags.marker.color
    assert (reference.x, reference.y) == ((-1,), (0.0,))
    assert reference.marker.symbol == "circle-open"
    assert "Reference period (set to 0)" in reference.hovertemplate
    assert list(lags.customdata[0]) == ["+1.50 pp", "+0.70 pp", "+2.30 pp", "0.001"]
    assert lags.text == ("Month +0", "Month +1")
    change = next(s for s in fig.layout.shapes if s.xref == "x")
    assert (change.x0, change.x1, change.line.dash) == (-0.5, -0.5, "dash")
    zero = next(s for s in fig.layout.shapes if s.xref != "x")
    assert (zero.y0, zero.y1) == (0, 0)
    assert fig.layout.xaxis.title.text == "Months relative to the change"
    assert fig.layout.xaxis.dtick == 1
    assert "Pre-trend test p = 0.42" in [a.text for a in fig.layout.annotations]


def test_event_study_period_names_pretrend_text_and_escaping():
    fig = event_study_chart(_event_table(), kpi=VIP, unit="<i>", period="week",
                            pretrend_p=0.0002)
    assert fig.layout.xaxis.title.text == "Weeks relative to the change"
    assert "Pre-trend test p < 0.001" in [a.text for a in fig.layout.annotations]
    assert VIP_SAFE in fig.layout.yaxis.title.text
    assert fig.data[1].customdata[0][0] == "+1.50&lt;i&gt;"
    plain = event_study_chart(_event_table(), kpi="Conversion")
    assert [a.text for a in plain.layout.annotations] == ["Change"]
    with pytest.raises(ParameterError):
        event_study_chart(_event_table(), kpi="Conversion", period="fortnight")


# --- errors and empty inputs ------------------------------------------------------------


@pytest.mark.parametrize(("build", "frame", "column"), [
    (effect_forest_chart, _effects(), "higher_is_better"),
    (lambda t: kpi_trend_chart(t, kpi="Conversion"), _series(), "units"),
    (lambda t: event_study_chart(t, kpi="Conversion"), _event_table(), "ci_high"),
])
def test_missing_columns_raise(build, frame, column):
    with pytest.raises(MissingColumnError, match=column):
        build(frame.drop(columns=column))


@pytest.mark.parametrize(("build", "message"), [
    (effect_forest_chart, "no effects"),
    (lambda t: kpi_trend_chart(t, kpi=VIP), f"no data over time for {VIP_SAFE}"),
    (lambda t: event_study_chart(t, kpi="Conversion"), "no periods"),
])
def test_empty_inputs_give_a_note(build, message):
    fig = build(pd.DataFrame())
    _serialises(fig)
    assert not fig.data
    assert message in fig.layout.annotations[0].text
