"""Pain points: topics in feedback text, sentiment, links to touchpoints, priorities.

>>> from analysis import painpoints
>>> painpoints.priority_matrix(feedback, events)                          # doctest: +SKIP
"""

from analysis.painpoints.costs import events_of_customers
from analysis.painpoints.linking import link_feedback
from analysis.painpoints.matrix import PainPoints, Weights, pain_points, priority_matrix
from analysis.painpoints.sentiment import comment_sentiment
from analysis.painpoints.topics import Topics, discover_topics, edit_topics, topics_from_categories
from analysis.painpoints.trends import touchpoint_sentiment

__all__ = [
    "PainPoints",
    "Topics",
    "Weights",
    "comment_sentiment",
    "discover_topics",
    "edit_topics",
    "events_of_customers",
    "link_feedback",
    "pain_points",
    "priority_matrix",
    "topics_from_categories",
    "touchpoint_sentiment",
]
