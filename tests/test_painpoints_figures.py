"""Pain-point figures: the quadrant's bubbles (reach, severity, size, log hazard-ratio colour,
grey without a ratio), median lines and corner labels, the top-N cut with its note, the trend
chart's lines with gaps and bands, user text kept inert, and empty inputs drawn as a note."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.figures.painpoints import (
    LABELLED,
    NO_RATIO,
    NO_RATIO_COLOR,
    QUADRANTS,
    priority_quadrant_chart,
    sentiment_trend_chart,
)
from analysis.painpoints import pain_points
from analysis.painpoints.trends import touchpoint_sentiment
from analysis.schema import MissingColumnError, ParameterError

VIP, VIP_SAFE = "<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"


def _matrix(**overrides) -> pd.DataFrame:
    """Four pain points by priority: Checkout (HR 2), VIP (no HR), Support (HR 0.5), App (no
    HR)."""
    table = pd.DataFrame({
        "touchpoint": ["Checkout", VIP, "Support", "App"],
        "topic": ["slow page", VIP, "long wait", "crash"],
        "topic_id": [0, 1, 2, 3],
        "mentions": [50, 30, 10, 5],
        "customers": [40, 25, 8, 5],
        "negative_share": [0.8, 0.2, 0.6, 0.1],
        "churn_hazard_ratio": [2.0, np.nan, 0.5, np.nan],
        "hr_ci_low": [1.5, np.nan, 0.3, np.nan],
        "hr_ci_high": [2.7, np.nan, 0.8, np.nan],
        "priority": [0.9, 0.6, 0.5, 0.2],
    })
    return table.assign(**overrides)


def _serialises(fig) -> dict:
    return json.loads(fig.to_json())


def _notes(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.name == "left out"]


# --- quadrant ---------------------------------------------------------------------------


def test_quadrant_bubbles_carry_reach_severity_size_and_log_ratio_colour():
    fig = priority_quadrant_chart(_matrix())
    _serialises(fig)
    rated, grey = fig.data
    assert rated.x == (40, 8) and rated.y == (0.8, 0.6)
    assert rated.marker.size == (40, 8)
    assert rated.marker.color == pytest.approx((math.log(2.0), math.log(0.5)))
    assert rated.marker.cmid == 0
    assert rated.marker.cmax == pytest.approx(math.log(3.0))
    assert rated.marker.cmin == pytest.approx(-math.log(3.0))
    # The colour bar reads in hazard ratios, 1 in the middle.
    ticks = dict(zip(rated.marker.colorbar.ticktext, rated.marker.colorbar.tickvals,
                     strict=True))
    assert ticks["1"] == 0 and ticks["2"] == pytest.approx(math.log(2))
    assert grey.name == NO_RATIO and grey.marker.color == NO_RATIO_COLOR
    assert grey.x == (25, 5) and grey.y == (0.2, 0.1) and grey.showlegend
    # Both traces share one size scale: 2 × largest / 48².
    assert rated.marker.sizeref == grey.marker.sizeref == pytest.approx(2 * 40 / 48**2)
    assert fig.layout.yaxis.tickformat == ".0%"
    assert fig.layout.xaxis.title.text.startswith("Reach: customers")
    assert _notes(fig) == []


def test_quadrant_median_lines_and_corner_labels():
    fig = priority_quadrant_chart(_matrix())
    lines = {s.name: s for s in fig.layout.shapes}
    assert lines["median reach"].x0 == lines["median reach"].x1 == 16.5
    assert lines["median severity"].y0 == pytest.approx(0.4)
    assert lines["median reach"].line.dash == "dash"
    corners = {(a.xanchor, a.yanchor): a.text for a in fig.layout.annotations
               if a.name == "quadrant"}
    assert corners == {(x, y): text for (x, y), text in QUADRANTS.items()}
    assert corners[("right", "top")] == "Widespread and negative: fix first"


def test_quadrant_hover_and_labels():
    fig = priority_quadrant_chart(_matrix())
    rated, grey = fig.data
    assert list(rated.customdata[0]) == ["Checkout", "slow page", "50", "40", "80%",
                                         "2.00 (95% CI 1.50 to 2.70)", "0.90"]
    assert grey.customdata[0][5].startswith("none")
    assert rated.text == ("Checkout · slow page", "Support · long wait")


def test_quadrant_keeps_user_text_inert():
    fig = priority_quadrant_chart(_matrix())
    grey = fig.data[1]
    assert grey.text[0] == f"{VIP_SAFE} · {VIP_SAFE}"
    assert list(grey.customdata[0][:2]) == [VIP_SAFE, VIP_SAFE]
    assert VIP not in fig.to_json()


def test_quadrant_draws_only_the_top_rows_and_says_so():
    fig = priority_quadrant_chart(_matrix(), top=2)
    rated, grey = fig.data
    assert rated.x == (40,) and grey.x == (25,)
    assert _notes(fig) == ["Showing the 2 highest-priority of 4 pain points."]
    assert fig.layout.height == 520 + 30
    # The rank is by priority, not by row order.
    shuffled = priority_quadrant_chart(_matrix().iloc[::-1], top=1)
    assert [t.x for t in shuffled.data] == [(40,)]


def test_quadrant_labels_only_the_first_bubbles():
    n = LABELLED + 4
    many = pd.DataFrame({
        "touchpoint": [f"T{i}" for i in range(n)], "topic": ["a very long topic label " * 3] * n,
        "mentions": range(n, 0, -1), "customers": range(n, 0, -1),
        "negative_share": np.linspace(0, 1, n), "churn_hazard_ratio": np.nan,
        "hr_ci_low": np.nan, "hr_ci_high": np.nan, "priority": np.linspace(1, 0, n)})
    (grey,) = priority_quadrant_chart(many).data
    labels = [t for t in grey.text if t]
    assert len(labels) == LABELLED
    assert all(len(t) <= 30 for t in labels) and len(set(labels)) == LABELLED


def test_quadrant_uses_mentions_without_customer_ids():
    fig = priority_quadrant_chart(_matrix(customers=0))
    rated, grey = fig.data
    assert rated.x == (50, 10) and rated.marker.size == (50, 10) and grey.x == (30, 5)
    assert "mentions" in fig.layout.xaxis.title.text


def test_quadrant_rows_without_a_negative_share_are_counted_not_drawn():
    fig = priority_quadrant_chart(_matrix(negative_share=[0.8, np.nan, 0.6, 0.1]))
    assert sum(len(t.x) for t in fig.data) == 3
    assert _notes(fig) == ["1 without a rated comment (no negative share) cannot be placed."]


def test_quadrant_without_any_hazard_ratio_has_only_the_grey_trace():
    fig = priority_quadrant_chart(_matrix(churn_hazard_ratio=np.nan))
    assert [t.name for t in fig.data] == [NO_RATIO]
    assert fig.data[0].x == (40, 25, 8, 5)


def test_quadrant_colour_scale_widens_to_the_largest_ratio():
    fig = priority_quadrant_chart(_matrix(churn_hazard_ratio=[8.0, np.nan, 0.5, np.nan]))
    assert fig.data[0].marker.cmax == pytest.approx(math.log(8.0))
    assert fig.data[0].marker.cmin == pytest.approx(-math.log(8.0))


def test_quadrant_empty_and_bad_input():
    empty = priority_quadrant_chart(_matrix().iloc[:0])
    assert empty.data == () and "no pain points" in empty.layout.annotations[0].text
    _serialises(empty)
    none_rated = priority_quadrant_chart(_matrix(negative_share=np.nan))
    assert none_rated.data == () and "rated" in none_rated.layout.annotations[0].text
    with pytest.raises(MissingColumnError, match="churn_hazard_ratio"):
        priority_quadrant_chart(_matrix().drop(columns="churn_hazard_ratio"))
    for top in (0, 2.5, True):
        with pytest.raises(ParameterError, match="top"):
            priority_quadrant_chart(_matrix(), top=top)


def test_quadrant_on_the_demo_matrix():
    d = demo.load()
    result = pain_points(d.feedback, d.events, n_topics=5, churn=["Cancel subscription"])
    fig = priority_quadrant_chart(result.matrix, top=10)
    _serialises(fig)
    assert sum(len(t.x) for t in fig.data) == min(10, len(result.matrix))
    assert any(t.name != NO_RATIO for t in fig.data)  # some rows have a hazard ratio


# --- trend ------------------------------------------------------------------------------


def _trend() -> pd.DataFrame:
    """Checkout: weeks of 01-06 (2 comments, 1 negative; NPS 10 and 3) and 01-20 (1 positive
    CES 5); nothing in the week of 01-13. VIP: one negative comment, week of 01-13."""
    comments = pd.DataFrame({
        "touchpoint": ["Checkout", "Checkout", "Checkout", VIP],
        "timestamp": pd.to_datetime(["2025-01-06", "2025-01-07", "2025-01-21",
                                     "2025-01-14"]),
        "sentiment": ["negative", "positive", "positive", "negative"],
        "score": [3, 10, 5, 2], "scale": ["nps", "nps", "ces", "csat"],
    })
    return touchpoint_sentiment(comments)


WEEKS = pd.to_datetime(["2025-01-06", "2025-01-13", "2025-01-20"]).tolist()


def _traces(fig) -> dict:
    return {t.name: t for t in fig.data}


def test_trend_draws_a_band_and_a_line_per_touchpoint_with_gaps():
    fig = sentiment_trend_chart(_trend())
    _serialises(fig)
    # Touchpoints in natural order ("<" sorts before letters), band before line.
    assert [t.name for t in fig.data] == [f"{VIP_SAFE} 95% CI", VIP_SAFE, "Checkout 95% CI",
                                          "Checkout"]
    band, line = fig.data[2:]
    assert list(pd.to_datetime(line.x)) == WEEKS
    assert line.y == (0.5, None, 0.0) and line.connectgaps is False
    assert band.fill == "toself" and band.hoverinfo == "skip"
    trend = _trend().set_index(["touchpoint", "period_start"])
    first, third = trend.loc[("Checkout", WEEKS[0])], trend.loc[("Checkout", WEEKS[2])]
    # Two runs of known intervals, each closed on itself, split by None.
    assert list(band.y) == [first["neg_ci_high"], first["neg_ci_low"], None,
                            third["neg_ci_high"], third["neg_ci_low"]]
    assert fig.layout.yaxis.tickformat == ".0%"


def test_trend_measures_nps_csat_and_ces():
    nps = sentiment_trend_chart(_trend(), measure="nps")
    assert _traces(nps)["Checkout"].y == (0.0, None, None)
    assert nps.layout.yaxis.title.text == "NPS (points)" and nps.layout.yaxis.tickformat is None
    csat = sentiment_trend_chart(_trend(), measure="csat")
    assert _traces(csat)[VIP_SAFE].y == (None, 0.0, None)
    ces = sentiment_trend_chart(_trend(), measure="ces")
    assert [t.name for t in ces.data] == [VIP_SAFE, "Checkout"]  # no interval, no band
    assert _traces(ces)["Checkout"].y == (None, None, 5.0)


def test_trend_hover_keeps_user_text_inert():
    fig = sentiment_trend_chart(_trend())
    line = _traces(fig)[VIP_SAFE]
    assert line.customdata[1][0] == VIP_SAFE
    assert line.customdata[1][1] == "100.0%" and line.customdata[1][3] == "1"
    assert line.customdata[1][2].startswith(" (95% CI ")
    assert line.customdata[0][1] == "–" and line.customdata[0][2] == ""
    assert VIP not in fig.to_json()


def test_trend_empty_and_bad_input():
    empty = sentiment_trend_chart(_trend().iloc[:0])
    assert empty.data == () and "no feedback" in empty.layout.annotations[0].text
    trend = _trend()
    no_answers = sentiment_trend_chart(trend.assign(ces=np.nan), measure="ces")
    assert no_answers.data == () and "CES answers" in no_answers.layout.annotations[0].text
    with pytest.raises(ParameterError, match="measure"):
        sentiment_trend_chart(trend, measure="sentiment")
    with pytest.raises(MissingColumnError, match="nps_ci_low"):
        sentiment_trend_chart(trend.drop(columns="nps_ci_low"), measure="nps")
    # CES needs no interval columns.
    assert sentiment_trend_chart(trend.drop(columns=["nps_ci_low", "neg_ci_low"]),
                                 measure="ces").data
