"""Home for a feedback table on its own: what it holds, scores, categories, volume, comments.

Shown until the pain-points view can take a feedback table without events; every block says
how to read it and, when its column is missing, how to get it (map the column on Data).
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from analysis import feedback_summary as fs
from analysis import figures
from analysis.figures.feedback import SCALE_TITLES
from analysis.frames import Filters
from analysis.results import OTHER
from ui import data
from ui.sidebar import Context
from ui.text import md

#: URL key of the category the comment sample is drawn from.
CATEGORY_KEY = "fbcat"
ALL = "All categories"
SAMPLE_SIZE = 20
_REUPLOAD = "upload the file again on the Data page and map its {} column"


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Summarising the feedback…")
def summary(path: str, dataset_id: str, filters: Filters) -> fs.FeedbackSummary:
    # events_frame loads any stored dataset as its own kind (here: feedback).
    return fs.feedback_summary(data.events_frame(path, dataset_id, filters))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def comments(path: str, dataset_id: str, filters: Filters, category: str | None) -> pd.DataFrame:
    return fs.comment_sample(data.events_frame(path, dataset_id, filters), n=SAMPLE_SIZE,
                             category=category, random_state=0)


def render(ctx: Context) -> dict[str, list[str]]:
    """Every block of Home for a feedback dataset; returns the page's URL parameters."""
    s = summary(ctx.path, ctx.dataset.id, ctx.filters)
    header(s)
    if s.status == "empty":
        st.info(s.message, icon=":material/filter_alt_off:")
        return {}
    if not s.scores.empty:
        scores(s)
    left, right = st.columns(2, gap="large")
    with left:
        breakdown(s, "category")
    with right:
        breakdown(s, "touchpoint")
    volume(s)
    params = comment_sample(ctx, s)
    if s.scores.empty:  # what is missing comes after what the table holds
        scores(s)
    return params


def header(s: fs.FeedbackSummary) -> None:
    cols = st.columns(4)
    cols[0].metric("Feedback items", f"{s.feedback:,}", border=True)
    cols[1].metric("With a comment", "–" if "text" in s.missing else f"{s.texts:,}",
                   border=True)
    cols[2].metric("Categories", "–" if "category" in s.missing else f"{s.n_categories:,}",
                   border=True)
    cols[3].metric("Touchpoints", "–" if "touchpoint" in s.missing else f"{s.n_touchpoints:,}",
                   border=True)
    span = (f"Feedback from {s.first:%Y-%m-%d} to {s.last:%Y-%m-%d} (UTC), after filters. "
            if s.first and s.last else "")
    st.caption(
        span + "This is a feedback table on its own: link it to an events dataset on the Data "
        "page to join feedback to journeys, churn and experiments."
    )


def scores(s: fs.FeedbackSummary) -> None:
    st.subheader("Scores", anchor=False)
    if s.unscaled_scores:
        st.caption(
            f"{s.unscaled_scores:,} scores have no scale (NPS 0–10, CSAT 1–5 or CES 1–7) and "
            f"are left out; to count them, {_REUPLOAD.format('scale')}."
        )
    if s.scores.empty:
        if "score" in s.missing:
            text = ("This table has no score column, so NPS, CSAT and CES cannot be shown. "
                    f"If the file has ratings, {_REUPLOAD.format('score')}.")
        else:
            text = ("No feedback left after the filters has a score on a known scale: widen "
                    "the filters to see NPS, CSAT and CES.")
        st.info(text, icon=":material/star_half:")
        return
    st.caption(
        "Each bar is the share of a scale's answers at that score; the colours show the "
        "answers its headline counts. The range under each headline is its 95% confidence "
        "interval: with fewer answers it is wider."
    )
    present = list(dict.fromkeys(s.scores["scale"]))
    for col, scale in zip(st.columns(len(present)), present, strict=True):
        with col:
            _headline(s, scale)
            st.plotly_chart(figures.score_distribution_chart(s.scores, scale), width="stretch")


def _headline(s: fs.FeedbackSummary, scale: str) -> None:
    if scale == "nps":
        est, value = s.nps, f"{s.nps.value:+.0f}"
        low, high = f"{est.ci_low:+.0f}", f"{est.ci_high:+.0f}"
        meaning = "% promoters (9–10) − % detractors (0–6), from −100 to +100."
    elif scale == "csat":
        est, value = s.csat, f"{100 * s.csat.value:.1f}%"
        low, high = f"{100 * est.ci_low:.1f}%", f"{100 * est.ci_high:.1f}%"
        meaning = "Share of answers scoring 4 or 5 (Wilson interval)."
    else:
        est, value = s.ces, f"{s.ces.value:.2f} / 7"
        low, high = f"{est.ci_low:.2f}", f"{est.ci_high:.2f}"
        meaning = "Mean answer from 1 to 7."
    st.metric(SCALE_TITLES[scale], value, border=True, help=meaning)
    interval = ("no interval with one answer" if math.isnan(est.ci_low)
                else f"95% CI {low} to {high}")
    st.caption(f"{interval} · {est.n:,} answers")


def breakdown(s: fs.FeedbackSummary, column: str) -> None:
    label, plural = ("Category", "categories") if column == "category" else (
        "Touchpoint", "touchpoints")
    st.subheader(f"By {label.lower()}", anchor=False)
    counts, distinct = (s.categories, s.n_categories) if column == "category" else (
        s.touchpoints, s.n_touchpoints)
    if column in s.missing:
        st.info(f"This table has no {label.lower()} column. To count feedback by "
                f"{label.lower()}, {_REUPLOAD.format(column)}.", icon=":material/label_off:")
        return
    if distinct == 0:
        st.info(f"No feedback left after the filters has a {label.lower()}.",
                icon=":material/label_off:")
        return
    notes = [f"Feedback items per {label.lower()}, largest first: {distinct:,} distinct "
             f"{plural if distinct != 1 else label.lower()}"]
    if OTHER in set(counts[column]):
        shown = len(counts) - 1 - int(fs.MISSING in set(counts[column]))
        notes.append(f"the {distinct - shown:,} smallest are summed as “{OTHER}”")
    if fs.MISSING in set(counts[column]):
        notes.append(f"“{fs.MISSING}” counts feedback without a {label.lower()}")
    st.caption("; ".join(notes) + ". Percentages are shares of all "
               f"{s.feedback:,} feedback items.")
    st.plotly_chart(figures.feedback_count_chart(counts, column, label=label), width="stretch")


def volume(s: fs.FeedbackSummary) -> None:
    st.subheader("Feedback over time", anchor=False)
    unit = ("week's feedback items (weeks start on Monday, UTC; the first and last weeks may "
            "be partial)" if s.period == "week" else "day's feedback items (days in UTC)")
    split = "; colours split it by category" if "category" in s.volume else ""
    st.caption(f"Each bar counts one {unit}{split}. Spikes point to incidents, campaigns or "
               "survey sends: pick those dates in the sidebar and read the comments below.")
    st.plotly_chart(figures.feedback_volume_chart(s.volume, period=s.period), width="stretch")


def comment_sample(ctx: Context, s: fs.FeedbackSummary) -> dict[str, list[str]]:
    st.subheader("What people wrote", anchor=False)
    if "text" in s.missing or s.texts == 0:
        st.info("This table has no comments" + (
            f": to read them, {_REUPLOAD.format('text')}." if "text" in s.missing
            else " left after the filters."), icon=":material/comments_disabled:")
        return {}
    options = [ALL]
    if not s.categories.empty:
        options += [c for c in s.categories["category"] if c != OTHER]
    if CATEGORY_KEY in ctx.url:
        wanted = ctx.url[CATEGORY_KEY][0] if ctx.url[CATEGORY_KEY] else ALL
        st.session_state.setdefault("home_fbcat", wanted if wanted in options else ALL)
    if st.session_state.get("home_fbcat") not in (None, *options):
        del st.session_state["home_fbcat"]
    picked = st.selectbox("Comments from", options, key="home_fbcat",
                          format_func=lambda c: "Feedback without a category"
                          if c == fs.MISSING else c, disabled=len(options) == 1)
    sample = comments(ctx.path, ctx.dataset.id, ctx.filters, None if picked == ALL else picked)
    st.caption(
        f"{SAMPLE_SIZE} comments drawn at random (seed 0): the same ones every time for these "
        "filters." if len(sample) == SAMPLE_SIZE else f"All {len(sample):,} comments."
    )
    _comment_feed(sample)
    return {CATEGORY_KEY: [picked]} if picked != ALL else {}


def _comment_feed(sample: pd.DataFrame) -> None:
    """Each comment whole, as plain text (never Markdown), under a line saying where it is
    from; the list scrolls inside a fixed height."""
    with st.container(height=560, border=False):
        for row in sample.to_dict("records"):
            with st.container(border=True):
                st.caption(md(" · ".join(_about(row))))
                st.text(row["text"])


def _about(row: dict) -> list[str]:
    parts = [f"{row['timestamp']:%Y-%m-%d %H:%M} UTC"]
    for column in ("touchpoint", "category"):
        if column in row:
            parts.append(f"no {column}" if pd.isna(row[column]) else str(row[column]))
    if "score" in row and pd.notna(row["score"]):
        scale = "" if pd.isna(row.get("scale")) else f"{str(row['scale']).upper()} "
        parts.append(f"{scale}score {row['score']:g}")
    return parts
