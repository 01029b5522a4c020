"""Pain points page: the settings (kept in the URL), their controls and the cached analyses.
The result sections are in ui/painpoint_sections.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import streamlit as st

from analysis import painpoints
from analysis.frames import Filters
from analysis.painpoints import PainPoints, Topics, Weights
from analysis.schema import AnalysisError
from ui import data
from ui.sidebar import Context
from ui.state import parse_int
from ui.text import md

AUTO = 0
WEIGHT_NAMES = ("reach", "severity", "churn", "revenue")


@dataclass(frozen=True)
class PainSettings:
    """Everything the results depend on (the cache key)."""

    use_categories: bool = False
    n_topics: int = AUTO
    tolerance_days: int = 7
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    renames: tuple[tuple[int, str], ...] = ()
    merges: tuple[tuple[int, ...], ...] = ()

    def params(self) -> dict[str, list[str]]:
        return {
            "src": ["category"] if self.use_categories else [],
            "k": [str(self.n_topics)] if self.n_topics else [],
            "tol": [str(self.tolerance_days)] if self.tolerance_days != 7 else [],
            "w": [",".join(f"{w:g}" for w in self.weights)]
            if self.weights != (1.0, 1.0, 1.0, 1.0) else [],
            "rn": [f"{i}:{label}" for i, label in self.renames],
            "mg": ["+".join(map(str, group)) for group in self.merges],
        }


def settings_from_url(url: dict[str, list[str]]) -> PainSettings:
    """The settings a link carries; anything malformed falls back to its default."""
    first = {k: (v[0] if v else "") for k, v in url.items()}
    k = first.get("k", "")
    tol = first.get("tol", "")
    return PainSettings(
        use_categories=first.get("src") == "category",
        n_topics=parse_int(k, 3, 20) or AUTO,
        tolerance_days=7 if parse_int(tol, 0, 365) is None else parse_int(tol, 0, 365),
        weights=_weights(first.get("w", "")),
        renames=tuple((int(i), label) for i, _, label in (r.partition(":") for r in
                      url.get("rn", [])) if _id(i) and label.strip()),
        merges=tuple(tuple(int(i) for i in m.split("+")) for m in url.get("mg", [])
                     if all(_id(i) for i in m.split("+")) and "+" in m),
    )


def _id(text: str) -> bool:
    return parse_int(text, 0, 999) is not None


def _weights(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        return (1.0, 1.0, 1.0, 1.0)
    if len(values) != 4 or not all(math.isfinite(v) and 0 <= v <= 10 for v in values) or sum(
            values) <= 0:
        return (1.0, 1.0, 1.0, 1.0)
    return values  # type: ignore[return-value]


# ---------------------------------------------------------------- sources


def sources(ctx: Context) -> tuple[str | None, str | None]:
    """The feedback dataset id and the events dataset id (either may be None)."""
    if ctx.dataset is None:
        return None, None
    if ctx.dataset.kind == "feedback":
        return ctx.dataset.id, None
    return (ctx.feedback.id if ctx.feedback else None), (ctx.events.id if ctx.events else None)


def _frames(path: str, feedback_id: str, events_id: str | None, filters: Filters):
    """The feedback in a fixed row order (topics are matched to comments by position, and
    two queries need not return rows in the same order) and the events."""
    if events_id is None:
        feedback, events = data.events_frame(path, feedback_id, filters), None
    else:
        events, feedback = data.events_with_feedback(path, events_id, feedback_id, filters)
    names = feedback.collect_schema().names()
    order = [c for c in ("timestamp", "customer_id", "touchpoint", "text", "score") if c in names]
    return feedback.sort(*order, nulls_last=True), events


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def _feedback(path: str, feedback_id: str, events_id: str | None,
              filters: Filters) -> pd.DataFrame:
    """The feedback rows in their fixed order, read once for the topics and the matrix."""
    feedback, _ = _frames(path, feedback_id, events_id, filters)
    return feedback.collect().to_pandas()


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Finding topics in the comments…")
def base_topics(path: str, feedback_id: str, events_id: str | None, filters: Filters,
                use_categories: bool, n_topics: int) -> Topics:
    fb = _feedback(path, feedback_id, events_id, filters)
    if use_categories:
        return painpoints.topics_from_categories(fb["category"], texts=fb.get("text"))
    texts = fb["text"] if "text" in fb else pd.Series([None] * len(fb), dtype=object)
    return painpoints.discover_topics(texts, n_topics=n_topics or None, random_state=0)


def topics(ctx: Context, s: PainSettings) -> Topics:
    """The topics with the link's renames and merges applied; an edit that does not fit
    these topics is left out (and said), the others still apply."""
    fb_id, ev_id = sources(ctx)
    base = base_topics(ctx.path, fb_id, ev_id, ctx.filters, s.use_categories, s.n_topics)
    merges: list[tuple[int, ...]] = []
    renames: dict[int, str] = {}
    skipped = 0
    for group in s.merges:
        if _fits(base, merges=[*merges, group], renames=renames):
            merges.append(group)
        else:
            skipped += 1
    for topic, label in s.renames:
        if _fits(base, merges=merges, renames={**renames, topic: label}):
            renames[topic] = label
        else:
            skipped += 1
    if skipped:
        st.caption(f"{skipped} topic edit(s) in this link do not fit these topics and are "
                   "left out.")
    return painpoints.edit_topics(base, rename=renames, merge=merges)


def _fits(base: Topics, *, merges: list, renames: dict) -> bool:
    try:
        painpoints.edit_topics(base, rename=renames, merge=merges)
    except AnalysisError:
        return False
    return True


@st.cache_data(max_entries=8, ttl=3600,
               show_spinner="Tying comments to touchpoints and measuring what they cost…")
def result(path: str, feedback_id: str, events_id: str | None, filters: Filters,
           s: PainSettings, _topics: Topics, topics_key: tuple, churn: tuple[str, ...],
           conversion: tuple[str, ...]) -> PainPoints:
    """``_topics`` is not hashed: ``topics_key`` (what it was built from) stands for it."""
    fb = _feedback(path, feedback_id, events_id, filters)
    events = data.events_frame(path, events_id, filters) if events_id else None
    # Lifetimes start at the first conversion, as on the Churn page: a complaint before
    # buying is then a fact known when the lifetime starts.
    return painpoints.pain_points(
        fb, events, topics=_topics, churn=churn, conversion=conversion, start_at=conversion,
        tolerance=timedelta(days=s.tolerance_days), weights=Weights(*s.weights))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def _weekly(path: str, feedback_id: str, events_id: str | None, filters: Filters,
            tolerance_days: int, _comments: pd.DataFrame) -> pd.DataFrame:
    """``_comments`` is not hashed: the comments' touchpoints, times and sentiments depend on
    the other arguments only (not on topics or weights)."""
    return painpoints.touchpoint_sentiment(_comments, period="week")


def weekly_sentiment(ctx: Context, s: PainSettings, r: PainPoints) -> pd.DataFrame:
    """Each touchpoint's sentiment week by week (computed once per data, filters and
    tolerance, so choosing a measure redraws without recounting)."""
    fb_id, ev_id = sources(ctx)
    return _weekly(ctx.path, fb_id, ev_id, ctx.filters, s.tolerance_days, r.comments)


def analyse(ctx: Context, s: PainSettings) -> PainPoints | None:
    fb_id, ev_id = sources(ctx)
    try:
        t = topics(ctx, s)
        key = (s.use_categories, s.n_topics, s.renames, s.merges)
        d = ctx.definitions
        return result(ctx.path, fb_id, ev_id, ctx.filters, s, t, key, tuple(d.churn),
                      tuple(d.conversion))
    except AnalysisError as error:
        st.error(f"{md(error.problem)} {md(error.hint)}")
        return None


def has_category(ctx: Context) -> bool:
    fb_id, _ = sources(ctx)
    info = ctx.workspace.get(fb_id) if fb_id else None
    return bool(info and "category" in info.mapping)
