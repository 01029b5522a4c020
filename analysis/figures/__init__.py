"""Plotly figure builders, one module per view: data first, options keyword-only, a figure
out and no side effects."""

from analysis.figures.common import PALETTE
from analysis.figures.feedback import (
    feedback_count_chart,
    feedback_volume_chart,
    score_distribution_chart,
)
from analysis.figures.funnel import conversion_trend_chart, funnel_chart, time_histogram
from analysis.figures.labels import duration_text, points_text, ratio_text
from analysis.figures.overview import activity_chart
from analysis.figures.paths import (
    sankey_chart,
    transition_difference_chart,
    transition_heatmap,
)

__all__ = [
    "PALETTE",
    "activity_chart",
    "conversion_trend_chart",
    "duration_text",
    "feedback_count_chart",
    "feedback_volume_chart",
    "funnel_chart",
    "points_text",
    "ratio_text",
    "sankey_chart",
    "score_distribution_chart",
    "time_histogram",
    "transition_difference_chart",
    "transition_heatmap",
]
