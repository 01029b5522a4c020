"""Churn figures: Kaplan–Meier steps with their bands and a numbers-at-risk table checked by
hand, the Cox forest plot's log axis, colours and order, the cohort heatmap's cells, user text
kept inert, and empty inputs drawn as a note rather than an error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.figures.common import rgba
from analysis.figures.survival import (
    LOWERS,
    RAISES,
    UNCLEAR,
    at_risk_table,
    cohort_heatmap,
    group_order,
    hazard_forest,
    risk_ticks,
    survival_chart,
)
from analysis.schema import MissingColumnError, ParameterError
from analysis.survival import kaplan_meier

# Times 1 (churn), 2 (churn, churn, censored), 3 (censored), 4 (churn, censored), 5 (churn).
HAND = pd.DataFrame({
    "duration_days": [1, 2, 2, 2, 3, 4, 4, 5],
    "churned": [True, True, True, False, False, True, False, True],
})


def _curve(group: str, times: list[float], survival: list[float], at_risk: list[int],
           ) -> pd.DataFrame:
    s = np.array(survival)
    return pd.DataFrame({"group": group, "time": times, "survival": s,
                         "ci_lower": s * 0.8, "ci_upper": np.minimum(s * 1.1, 1),
                         "at_risk": at_risk})


# Group "a": 10 customers, lifetimes end at 10 (2), 40 (3), 100 (5); last row at 100.
# Group "b": 4 customers, lifetimes end at 50 (1) and 200 (3).
CURVES = pd.concat([
    _curve("a", [0, 10, 40, 100], [1, 0.9, 0.6, 0.3], [10, 10, 8, 5]),
    _curve("b", [0, 50, 200], [1, 0.75, 0.75], [4, 4, 3]),
], ignore_index=True)


def _traces(fig, name: str) -> list:
    return [t for t in fig.data if t.name in (name, f"{name} upper", f"{name} lower")]


def _hazards(**overrides) -> pd.DataFrame:
    table = pd.DataFrame({
        "covariate": ["events", "channel=email", "plan=pro"],
        "coef": np.log([1.5, 0.6, 1.1]),
        "hazard_ratio": [1.5, 0.6, 1.1],
        "ci_low": [1.2, 0.4, 0.9],
        "ci_high": [1.9, 0.9, 1.3],
        "p_value": [0.001, 0.01, 0.3],
        "p_adjusted": [0.0004, 0.02, 0.4],
    })
    return table.assign(**overrides)


def _cohorts() -> pd.DataFrame:
    """Two cohorts, listed latest first; "2025-02" is observable for months 0 and 1 only."""
    rows = [
        ("2025-02", "2025-02-01", 0, 50, 50, 1.0, 0, 1.0),
        ("2025-02", "2025-02-01", 1, 50, 30, 0.6, 0, 0.62),
        ("2025-02", "2025-02-01", 2, 50, np.nan, np.nan, 50, np.nan),
        ("2025-01", "2025-01-01", 0, 100, 100, 1.0, 0, 1.0),
        ("2025-01", "2025-01-01", 1, 100, 80, 0.8, 0, 0.81),
        ("2025-01", "2025-01-01", 2, 100, 55, 0.55, 0, 0.56),
    ]
    table = pd.DataFrame(rows, columns=["cohort", "cohort_start", "months_since", "customers",
                                        "active", "share_active", "not_observable",
                                        "km_survival"])
    return table.assign(cohort_start=pd.to_datetime(table["cohort_start"]))


# --- numbers at risk --------------------------------------------------------------------


def test_at_risk_table_by_hand():
    table = at_risk_table(CURVES, [0, 10, 30, 40, 150, 250])
    # a: 10 at the start and at 10 (those ending at 10 are still at risk at 10); at 30 the 8
    # whose lifetimes reach 40; at 150 nobody (its last row is 100). b: 4 until 50, then 3
    # until 200, then none.
    assert table.loc["a"].tolist() == [10, 10, 8, 8, 0, 0]
    assert table.loc["b"].tolist() == [4, 4, 4, 4, 3, 0]
    assert table.columns.tolist() == [0, 10, 30, 40, 150, 250]
    assert table.dtypes.unique().tolist() == [np.dtype("int64")]


def test_at_risk_table_of_a_real_kaplan_meier_result_matches_the_lifetimes():
    curves = kaplan_meier(HAND).curves
    ticks = [0, 1.5, 2, 3.5, 5, 6]
    table = at_risk_table(curves, ticks)
    durations = HAND["duration_days"]
    assert table.loc["All"].tolist() == [int((durations >= t).sum()) for t in ticks]
    assert table.loc["All"].tolist() == [8, 7, 7, 3, 1, 0]


def test_groups_sort_naturally_with_missing_last():
    assert group_order(["10", "(missing)", "2", "Plan 10", "Plan 9", "1", "2"]) == [
        "1", "2", "10", "Plan 9", "Plan 10", "(missing)"]
    curves = pd.concat([_curve(g, [0, 5], [1, 0.5], [2, 1]) for g in ("10", "2", "1")])
    assert at_risk_table(curves, [0]).index.tolist() == ["1", "2", "10"]
    legend = [t.name for t in survival_chart(curves).data if t.showlegend is not False]
    assert legend == ["1", "2", "10"]


def test_risk_ticks_use_the_horizons_in_range_or_even_steps():
    assert risk_ticks(400) == [0, 30, 90, 180, 365]
    assert risk_ticks(120) == [0, 30, 90]
    # One horizon in range is not enough for a table: round, evenly spaced ticks instead.
    assert risk_ticks(45) == [0, 10, 20, 30, 40]
    assert risk_ticks(1000, horizons=()) == [0, 200, 400, 600, 800, 1000]
    assert risk_ticks(0) == [0]


# --- Kaplan–Meier chart -----------------------------------------------------------------


def test_each_group_is_a_band_and_a_step_curve():
    fig = survival_chart(CURVES)
    for group in ("a", "b"):
        upper, lower, line = _traces(fig, group)
        assert [upper.name, lower.name, line.name] == [f"{group} upper", f"{group} lower",
                                                        group]
        assert {upper.line.shape, lower.line.shape, line.line.shape} == {"hv"}
        assert lower.fill == "tonexty" and upper.fill is None
        assert list(upper.x) == list(lower.x) == list(line.x)
        assert all(lo <= s <= hi for lo, s, hi in zip(lower.y, line.y, upper.y, strict=True))
        assert line.x[0] == 0 and line.y[0] == 1
        assert upper.hoverinfo == lower.hoverinfo == "skip"
    assert len(fig.data) == 2 * 3 + 1  # three traces per group, one at-risk table


def test_a_curve_of_many_steps_is_drawn_at_screen_resolution():
    """200,000 steps (a large dataset's churn hours) become a few thousand points, and the
    drawn step curve is within 0.1 pp of the true one at every original step."""
    n = 200_000
    times = np.sort(np.random.default_rng(0).uniform(0, 400, n))
    times[0] = 0
    survival = np.linspace(1, 0.3, n)
    fig = survival_chart(_curve("a", list(times), list(survival), list(range(n, 0, -1))))
    upper, lower, line = _traces(fig, "a")
    assert len(line.x) < 4_000 and list(upper.x) == list(lower.x) == list(line.x)
    assert (line.x[0], line.y[0]) == (0, 1) and (line.x[-1], line.y[-1]) == (times[-1], 0.3)
    drawn = np.asarray(line.y)[np.searchsorted(np.asarray(line.x), times, side="right") - 1]
    assert np.abs(drawn - survival).max() <= 1e-3


def test_band_colour_is_the_curves_colour():
    fig = survival_chart(CURVES)
    for group in ("a", "b"):
        _, lower, line = _traces(fig, group)
        same_colour = rgba(line.line.color, 1).rsplit(",", 1)[0]
        assert lower.fillcolor.rsplit(",", 1)[0] == same_colour
        assert 0 < float(lower.fillcolor.rsplit(",", 1)[1].rstrip(")")) < 0.5


def test_chart_axes_hover_and_table_row():
    fig = survival_chart(CURVES)
    assert fig.layout.yaxis.tickformat == ".0%"
    assert list(fig.layout.yaxis.range) == [0, 1.02]
    assert fig.layout.yaxis.title.text == "Share still a customer"
    assert fig.layout.xaxis.title.text == "Days since first event"
    assert list(fig.layout.xaxis.tickvals) == [0, 30, 90, 180]
    line = _traces(fig, "a")[2]
    for word in ("fullData.name", "customdata[0]", "Day", "%{y:.1%}", "95% interval",
                 "at risk"):
        assert word in line.hovertemplate
    # The band's edges and the number at risk of each drawn point, for the hover.
    part = CURVES[CURVES["group"] == "a"].sort_values("time", kind="stable")
    np.testing.assert_allclose(line.customdata,
                               part[["ci_lower", "ci_upper", "at_risk"]].to_numpy(float))
    table = fig.data[-1]
    assert table.mode == "text" and table.yaxis == "y2" and table.xaxis == "x2"
    cells = {(x, y): text for x, y, text in zip(table.x, table.y, table.text, strict=True)}
    # Row 0 is "a", row 1 is "b"; columns at the axis' ticks.
    assert [cells[(t, 0)] for t in (0, 30, 90, 180)] == ["10", "8", "5", "0"]
    assert [cells[(t, 1)] for t in (0, 30, 90, 180)] == ["4", "4", "3", "3"]
    assert list(fig.layout.yaxis2.ticktext) == ["a", "b"]


def test_real_kaplan_meier_curves_draw():
    lifetimes = pd.concat([HAND.assign(plan="basic"),
                           HAND.assign(plan="pro", duration_days=HAND["duration_days"] * 3)])
    result = kaplan_meier(lifetimes, by="plan")
    fig = survival_chart(result.curves)
    assert len(fig.data) == 2 * 3 + 1
    for group in ("basic", "pro"):
        upper, lower, line = _traces(fig, group)
        assert all(lo <= s <= hi + 1e-12 for lo, s, hi in zip(lower.y, line.y, upper.y,
                                                               strict=True))
        assert list(np.diff(line.y) <= 1e-12) == [True] * (len(line.y) - 1)
    # Max time 15: no horizon in range, so ticks 0, 5, 10, 15 and the counts by hand.
    table = fig.data[-1]
    cells = {(x, y): text for x, y, text in zip(table.x, table.y, table.text, strict=True)}
    assert [cells[(t, 0)] for t in (0, 5, 10, 15)] == ["8", "1", "0", "0"]
    assert [cells[(t, 1)] for t in (0, 5, 10, 15)] == ["8", "7", "3", "1"]


def test_group_names_are_plain_text():
    curves = _curve("<b>x</b> & co", [0, 5], [1, 0.5], [2, 1])
    fig = survival_chart(curves)
    line = fig.data[2]
    assert line.name == "&lt;b&gt;x&lt;/b&gt; &amp; co"
    assert line.hovertemplate.startswith("%{fullData.name}<br>")  # the name above
    assert "<b>x" not in " ".join(fig.layout.yaxis2.ticktext)
    assert all("<b>" not in (t.name or "") for t in fig.data)


# --- Cox forest plot ------------------------------------------------------------------


def test_forest_is_sorted_by_hazard_ratio_on_a_log_axis():
    fig = hazard_forest(_hazards())
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.yaxis.ticktext) == ["channel=email", "plan=pro", "events"]
    reference = fig.data[0]
    assert list(reference.x) == [1, 1] and reference.line.dash == "dash"
    # The range (log10 units) holds 1 and every interval.
    low, high = fig.layout.xaxis.range
    assert low < math.log10(0.4) and high > math.log10(1.9)


def test_forest_colours_by_what_the_interval_says():
    fig = hazard_forest(_hazards())
    by_name = {t.name: t for t in fig.data[1:]}
    assert set(by_name) == {RAISES, LOWERS, UNCLEAR}
    assert list(by_name[RAISES].x) == [1.5] and list(by_name[RAISES].y) == [2]
    assert list(by_name[LOWERS].x) == [0.6] and list(by_name[LOWERS].y) == [0]
    assert list(by_name[UNCLEAR].x) == [1.1] and list(by_name[UNCLEAR].y) == [1]
    assert len({t.marker.color for t in by_name.values()}) == 3
    raises = by_name[RAISES].error_x
    assert raises.array[0] == pytest.approx(0.4) and raises.arrayminus[0] == pytest.approx(0.3)
    hover = by_name[RAISES].customdata[0]
    assert list(hover) == ["events", "1.50", "1.20", "1.90", "< 0.001"]
    assert "Adjusted p" in by_name[RAISES].hovertemplate


def test_forest_shortens_long_names_keeps_them_whole_and_plain_in_the_hover():
    name = "<b>acquisition_channel</b>=paid social campaign spring sale"
    fig = hazard_forest(_hazards(covariate=[name, "channel=email", "plan=pro"]))
    tick = fig.layout.yaxis.ticktext[2]
    assert tick.endswith("…") and "<b>" not in tick
    raises = next(t for t in fig.data if t.name == RAISES)
    assert raises.customdata[0][0] == name.replace("<", "&lt;").replace(">", "&gt;")


def test_forest_height_grows_and_infinite_ratios_are_counted_not_drawn():
    small = hazard_forest(_hazards().iloc[:1])
    many = pd.concat([_hazards()] * 8, ignore_index=True)
    assert hazard_forest(many).layout.height > small.layout.height
    table = _hazards(hazard_ratio=[1.5, 0.6, np.inf], ci_low=[1.2, 0.4, np.nan])
    fig = hazard_forest(table)
    assert sum(len(t.x) for t in fig.data[1:]) == 2
    assert "1 covariate(s)" in fig.layout.annotations[0].text


# --- cohort heatmap ---------------------------------------------------------------------


def test_cohort_heatmap_cells_order_and_empty_cells():
    fig = cohort_heatmap(_cohorts())
    heat = fig.data[0]
    assert list(fig.layout.yaxis.ticktext) == ["2025-01", "2025-02"]  # by cohort_start
    assert list(heat.x) == [0, 1, 2]
    z = np.array(heat.z, dtype=float)
    np.testing.assert_allclose(z[0], [1.0, 0.8, 0.55])
    assert z[1][:2].tolist() == [1.0, 0.6] and math.isnan(z[1][2])
    assert heat.text[0].tolist() == ["100%", "80%", "55%"]
    assert heat.text[1][2] == "" and heat.hoverongaps is False
    assert heat.customdata[1][2].tolist() == ["2025-02", "50", "–", "50", "–", "–"]
    for words in ("Not yet observable", "Kaplan–Meier estimate", "Customers", "Active"):
        assert words in heat.hovertemplate
    assert fig.layout.yaxis.autorange == "reversed"


def test_cohort_heatmap_can_draw_the_kaplan_meier_version():
    heat = cohort_heatmap(_cohorts(), value="km_survival").data[0]
    np.testing.assert_allclose(np.array(heat.z, dtype=float)[0], [1.0, 0.81, 0.56])
    assert "Kaplan" in heat.colorbar.title.text
    with pytest.raises(ParameterError, match="km_survival"):
        cohort_heatmap(_cohorts(), value="share")


def test_cohort_labels_are_plain_text():
    heat = cohort_heatmap(_cohorts().replace({"cohort": {"2025-01": "<i>Jan</i>"}}))
    fig_ticks = list(heat.layout.yaxis.ticktext)
    assert fig_ticks[0] == "&lt;i&gt;Jan&lt;/i&gt;"
    assert heat.data[0].customdata[0][0][0] == "&lt;i&gt;Jan&lt;/i&gt;"


# --- empty and wrong input --------------------------------------------------------------


@pytest.mark.parametrize("draw, frame", [
    (survival_chart, kaplan_meier(HAND.iloc[:0]).curves),
    (hazard_forest, pd.DataFrame(columns=["covariate", "hazard_ratio", "ci_low", "ci_high",
                                          "p_adjusted"])),
    (cohort_heatmap, pd.DataFrame()),
])
def test_empty_input_draws_a_note(draw, frame):
    fig = draw(frame)
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text.startswith("Nothing to draw")


def test_missing_columns_say_what_to_pass():
    with pytest.raises(MissingColumnError, match="at_risk"):
        survival_chart(CURVES.drop(columns="at_risk"))


def test_inputs_are_not_mutated():
    curves, hazards, cohorts = CURVES.copy(), _hazards(), _cohorts()
    survival_chart(curves)
    hazard_forest(hazards)
    cohort_heatmap(cohorts)
    pd.testing.assert_frame_equal(curves, CURVES)
    pd.testing.assert_frame_equal(hazards, _hazards())
    pd.testing.assert_frame_equal(cohorts, _cohorts())
