"""The priority matrix: one row per (touchpoint, topic), ranked by what the problem costs.

Feedback comments get a topic (discovered with TF-IDF + NMF, or a category column), a
sentiment (from the score, else the text) and a touchpoint (explicit, else the customer's
latest event). Each (touchpoint, topic) row then counts mentions and customers, measures how
negative they are, and, from the journeys, how much faster the customers who raised it churn
(Cox), how much less they convert and how much revenue they bring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from analysis.frames import canonical
from analysis.painpoints.costs import MAX_HR_ROWS, MIN_CUSTOMERS_FOR_HR, journey_terms
from analysis.painpoints.linking import DEFAULT_TOLERANCE, link_feedback
from analysis.painpoints.sentiment import comment_sentiment
from analysis.painpoints.topics import Topics, discover_topics, topics_from_categories
from analysis.results import Status
from analysis.schema import MissingColumnError, ParameterError
from analysis.stats import wilson_interval

UNLINKED = "(unlinked)"
__all__ = ["COLUMNS", "HR_FULL", "MAX_HR_ROWS", "MIN_CUSTOMERS_FOR_HR", "UNLINKED", "PainPoints",
           "Weights", "pain_points", "priority_matrix"]
#: A hazard ratio of this size (or more) scores the full churn term of the priority.
HR_FULL = 3.0
COLUMNS = ("touchpoint", "topic", "topic_id", "mentions", "customers", "rated", "negative",
           "negative_share", "scored", "mean_score", "scales", "churn_hazard_ratio",
           "hr_ci_low", "hr_ci_high", "conversion_impact", "revenue_at_risk", "priority")


@dataclass(frozen=True)
class Weights:
    """How much each term counts in the priority score (any non-negative numbers)."""

    reach: float = 1.0
    severity: float = 1.0
    churn: float = 1.0
    revenue: float = 1.0

    def formula(self) -> str:
        return (f"priority = ({self.reach:g} × reach + {self.severity:g} × negative share + "
                f"{self.churn:g} × churn risk + {self.revenue:g} × revenue at risk) / "
                f"{self.total():g}, where reach = customers / the most customers of any row, "
                "negative share is taken at its 95% lower bound (Wilson), so a handful of "
                "comments cannot top the list, "
                f"churn risk = log(hazard ratio) / log({HR_FULL:g}) clipped to 0–1 (0 without "
                "a ratio), revenue at risk = the row's / the largest row's")

    def total(self) -> float:
        return self.reach + self.severity + self.churn + self.revenue


@dataclass(frozen=True)
class PainPoints:
    """A priority matrix with what it was built from.

    ``matrix``: see :func:`priority_matrix`. ``comments``: the feedback rows with
    ``topic_id``, ``topic``, ``sentiment``, ``sentiment_source``, ``language``,
    ``touchpoint`` (linked), ``link`` ("explicit" | "preceding event" | "unlinked").
    ``topics``: the topic model (or categories). ``links``: counts per link kind.
    """

    matrix: pd.DataFrame
    comments: pd.DataFrame
    topics: Topics
    links: dict[str, int] = field(default_factory=dict)
    weights: Weights = field(default_factory=Weights)
    status: Status = "ok"
    message: str = ""


def priority_matrix(feedback: Any, events: Any = None, *, n_topics: int | None = None,
                    random_state: int = 0, **options: Any) -> pd.DataFrame:
    """One row per (touchpoint, topic), sorted by priority (highest first).

    Columns: touchpoint (``(unlinked)`` when feedback could not be tied to one), topic
    (label), topic_id, mentions (comments), customers (distinct customers who wrote them),
    rated (comments with a known sentiment), negative (negative comments), negative_share
    (negative / rated), scored (comments with a score), mean_score (their mean raw score), scales
    (the score scales seen), churn_hazard_ratio with hr_ci_low/hr_ci_high (Cox, customers
    counted as exposed from their first comment on it, against unexposed time, from the
    events; NaN without events or churn, or below
    MIN_CUSTOMERS_FOR_HR customers), conversion_impact (conversion of the raising customers
    minus that of the other customers who reached the touchpoint, in proportion points; NaN
    at a conversion touchpoint or without conversion), revenue_at_risk (revenue of the
    customers who raised it in a negative comment × (HR − 1) / HR, the share of their churn
    the problem accounts for; 0 when HR ≤ 1, NaN without a hazard ratio or revenue),
    priority (0–1, see :class:`Weights`; 0 for comments without a topic, which rank last).

    ``options`` are those of :func:`pain_points`.
    """
    return pain_points(feedback, events, n_topics=n_topics, random_state=random_state,
                       **options).matrix


def pain_points(feedback: Any, events: Any = None, *, n_topics: int | None = None,
                random_state: int = 0, use_categories: bool = False,
                topics: Topics | None = None, churn: Sequence[str] = (),
                conversion: Sequence[str] = (), start_at: Sequence[str] = (),
                tolerance: timedelta | None = DEFAULT_TOLERANCE,
                weights: Weights | None = None) -> PainPoints:
    """Topics, sentiment and touchpoints of every comment, and the priority matrix.

    Parameters
    ----------
    feedback : frame
        Canonical feedback (text and/or score; customer_id, touchpoint, scale, category
        optional).
    events : frame, optional
        Canonical events: needed for linking without an explicit touchpoint, hazard ratios,
        conversion impact and revenue.
    n_topics, random_state
        Topic model settings (:func:`discover_topics`).
    use_categories : bool
        Use the feedback's ``category`` column as topics instead of discovering them.
    topics : Topics, optional
        A topic model already fitted (and possibly edited) on these comments, in row order.
    churn, conversion, start_at : sequence of str
        Churn and conversion touchpoints; lifetimes start at the first ``start_at`` event
        (the first event when empty).
    tolerance : timedelta or None
        Longest gap from a journey event to the feedback linked to it.
    weights : Weights, optional
        Priority weights.
    """
    weights = weights or Weights()
    if min(weights.reach, weights.severity, weights.churn, weights.revenue) < 0 or not (
            weights.total() > 0):
        raise ParameterError("Priority weights must be non-negative and not all zero.",
                             "Pass e.g. Weights(reach=1, severity=2, churn=1, revenue=0).")
    fb = _feedback(feedback)
    if topics is None:
        topics = _topics(fb, use_categories, n_topics, random_state)
    elif len(topics.assignments) != len(fb):
        raise ParameterError(f"The topics cover {len(topics.assignments):,} comments, the "
                             f"feedback has {len(fb):,}.", "Fit them on the same feedback.")
    comments = _comments(fb, events, topics, tolerance)
    matrix = _counts(comments)
    if events is not None and not matrix.empty:
        matrix = journey_terms(matrix, comments, events, list(churn), list(conversion),
                               list(start_at))
    matrix = _prioritise(matrix, weights)
    links = comments["link"].value_counts().to_dict()
    status, message = _status(fb, topics)
    return PainPoints(matrix, comments, topics, links, weights, status, message)


def _feedback(feedback: Any) -> pd.DataFrame:
    frame = canonical(feedback, "feedback") if not isinstance(feedback, pd.DataFrame) else None
    fb = frame.collect().to_pandas() if frame is not None else feedback.copy()
    if "text" not in fb and "score" not in fb:
        raise MissingColumnError("The feedback has neither a text nor a score column.",
                                 "Map the comment or the rating column when importing it.")
    return fb.reset_index(drop=True)


def _topics(fb: pd.DataFrame, use_categories: bool, n_topics: int | None,
            random_state: int) -> Topics:
    if use_categories:
        if "category" not in fb:
            raise MissingColumnError("The feedback has no category column to use as topics.",
                                     "Map a category column when importing, or discover "
                                     "topics from the text.")
        return topics_from_categories(fb["category"], texts=fb.get("text"))
    texts = fb["text"] if "text" in fb else pd.Series([None] * len(fb))
    return discover_topics(texts, n_topics=n_topics, random_state=random_state)


def _comments(fb: pd.DataFrame, events: Any, topics: Topics,
              tolerance: timedelta | None) -> pd.DataFrame:
    sentiment = comment_sentiment(fb)
    links = link_feedback(fb, events, tolerance=tolerance)
    keep = [c for c in ("customer_id", "timestamp", "text", "score", "scale") if c in fb]
    out = fb[keep].copy()
    out["topic_id"] = topics.assignments["topic"].to_numpy()
    out["topic"] = topics.assignments["topic_label"].to_numpy()
    for col in ("sentiment", "sentiment_source", "language"):
        out[col] = sentiment[col].to_numpy()
    out["touchpoint"] = links["linked_touchpoint"].fillna(UNLINKED).to_numpy()
    out["link"] = links["link"].to_numpy()
    return out


def _counts(comments: pd.DataFrame) -> pd.DataFrame:
    c = comments.assign(
        _neg=(comments["sentiment"] == "negative").astype(int),
        _known=(comments["sentiment"] != "unknown").astype(int),
        _score=pd.to_numeric(comments.get("score"), errors="coerce")
        if "score" in comments else np.nan,
        _cust=comments.get("customer_id"))
    grouped = c.groupby(["touchpoint", "topic_id"], dropna=False, sort=False)
    out = grouped.agg(topic=("topic", "first"), mentions=("topic", "size"),
                      customers=("_cust", "nunique"), negative=("_neg", "sum"),
                      rated=("_known", "sum"), scored=("_score", "count"),
                      mean_score=("_score", "mean")).reset_index()
    out["negative_share"] = out["negative"] / out["rated"].where(out["rated"] > 0)
    if "scale" in c:
        scales = c.dropna(subset=["scale"]).groupby(["touchpoint", "topic_id"])["scale"]
        out = out.merge(scales.agg(lambda s: ", ".join(sorted(set(map(str, s)))))
                        .rename("scales").reset_index(), how="left")
    else:
        out["scales"] = None
    for col in ("churn_hazard_ratio", "hr_ci_low", "hr_ci_high", "conversion_impact",
                "revenue_at_risk"):
        out[col] = np.nan
    return out


# --------------------------------------------------------------------------- priority


def _prioritise(matrix: pd.DataFrame, w: Weights) -> pd.DataFrame:
    if matrix.empty:
        return pd.DataFrame(columns=COLUMNS)
    reach = matrix["customers"] / max(matrix["customers"].max(), 1)
    if matrix["customers"].max() == 0:  # no customer ids: reach by mentions
        reach = matrix["mentions"] / matrix["mentions"].max()
    low, _ = wilson_interval(matrix["negative"].to_numpy(), matrix["rated"].to_numpy())
    severity = pd.Series(low, index=matrix.index).fillna(0.0)
    hr = matrix["churn_hazard_ratio"].astype(float)
    churn = (np.log(hr.where(hr > 1)) / math.log(HR_FULL)).clip(0, 1).fillna(0.0)
    revenue = matrix["revenue_at_risk"].astype(float).fillna(0.0)
    revenue = revenue / revenue.max() if revenue.max() > 0 else revenue * 0
    score = (w.reach * reach + w.severity * severity
             + w.churn * churn + w.revenue * revenue) / w.total()
    # Comments without a topic (no text, no category) are counted but are not a problem
    # to fix: they rank last.
    score = score.where(matrix["topic_id"].astype(int) >= 0, 0.0)
    out = matrix.assign(priority=score.astype(float))
    out = out.sort_values(["priority", "mentions"], ascending=False, kind="stable")
    return out[list(COLUMNS)].reset_index(drop=True)


def _status(fb: pd.DataFrame, topics: Topics) -> tuple[Status, str]:
    if fb.empty:
        return "empty", "There is no feedback to analyse."
    return topics.status, topics.message
