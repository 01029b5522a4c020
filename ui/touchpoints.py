"""Touchpoints page: the settings (kept in the URL), their controls and the cached analyses.
The result sections are in ui/touchpoint_sections.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import streamlit as st

from analysis.frames import Filters
from analysis.schema import AnalysisError
from analysis.touchpoints.completion import Completion, online_offline
from analysis.touchpoints.journey_map import JourneyMap, journey_map
from analysis.touchpoints.scorecard import Scorecard, touchpoint_scorecard, with_reach_trend
from ui import data
from ui.painpoints import PainSettings
from ui.painpoints import analyse as analyse_pain_points
from ui.sidebar import Context
from ui.state import parse_int
from ui.text import md

BY = {"touchpoint": "Touchpoint", "channel": "Channel"}
PERIODS = {"month": "Months", "week": "Weeks"}
#: In a link: the map is drawn for every customer, with no persona column picked.
NO_SEGMENT = "-"
DEFAULTS = {"by": "touchpoint", "lb": 0, "hl": 7, "per": "month", "np": 6, "tol": 7}


@dataclass(frozen=True)
class TouchSettings:
    """Everything the page's results depend on besides the dataset and its definitions."""

    by: str = "touchpoint"
    lookback_days: int = 0
    half_life_days: int = 7
    period: str = "month"
    periods: int = 6
    tolerance_days: int = 7
    segment: str | None = None  # None: the default column; "": none
    persona_a: str | None = None
    persona_b: str | None = None

    def params(self) -> dict[str, list[str]]:
        values = {"by": self.by, "lb": self.lookback_days, "hl": self.half_life_days,
                  "per": self.period, "np": self.periods, "tol": self.tolerance_days}
        out = {k: [str(v)] for k, v in values.items() if v != DEFAULTS[k]}
        out.update({k: [v] for k, v in (("pa", self.persona_a), ("pb", self.persona_b)) if v})
        if self.segment is not None:  # "" is "no persona column", written as NO_SEGMENT
            out["seg"] = [self.segment or NO_SEGMENT]
        return out


def settings_from_url(url: dict[str, list[str]]) -> TouchSettings:
    """The settings a link carries; anything malformed falls back to its default."""
    first = {k: (v[0] if v else "") for k, v in url.items()}

    def number(key: str, low: int, high: int) -> int:
        value = parse_int(first.get(key, ""), low, high)
        return DEFAULTS[key] if value is None else value  # type: ignore[return-value]

    return TouchSettings(
        by=first.get("by") if first.get("by") in BY else "touchpoint",
        lookback_days=number("lb", 0, 3650), half_life_days=number("hl", 1, 365),
        period=first.get("per") if first.get("per") in PERIODS else "month",
        periods=number("np", 2, 24), tolerance_days=number("tol", 0, 365),
        segment=("" if first.get("seg") == NO_SEGMENT else first.get("seg") or None),
        persona_a=first.get("pa") or None,
        persona_b=first.get("pb") or None,
    )


def _feedback_id(ctx: Context) -> str | None:
    return ctx.feedback.id if ctx.feedback else None


def _frames(path: str, events_id: str, feedback_id: str | None, filters: Filters):
    events, feedback = data.events_with_feedback(path, events_id, feedback_id, filters)
    return events, (feedback.collect().to_pandas() if feedback is not None else None)


# ---------------------------------------------------------------- cached analyses


@st.cache_data(max_entries=8, ttl=3600,
               show_spinner="Scoring every touchpoint: reach, conversion, churn, feedback…")
def _scorecard(path: str, events_id: str, feedback_id: str | None, filters: Filters,
               conversion: tuple[str, ...], churn: tuple[str, ...],
               tolerance_days: int) -> Scorecard:
    """The scorecard with the default reach trend; ``_with_trend`` swaps in another."""
    events, feedback = _frames(path, events_id, feedback_id, filters)
    return touchpoint_scorecard(
        events, feedback, conversion=conversion or None, churn=churn or None,
        start_at=conversion, period=DEFAULTS["per"], periods=DEFAULTS["np"],
        tolerance=timedelta(days=tolerance_days))


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Following reach over time…")
def _with_trend(path: str, events_id: str, feedback_id: str | None, filters: Filters,
                conversion: tuple[str, ...], churn: tuple[str, ...], period: str, periods: int,
                tolerance_days: int) -> Scorecard:
    """The scorecard with the reach trend over ``periods`` ``period``s: changing the trend
    slices the reach counts the scorecard stored (months and weeks), without recomputing the
    hazards, attribution and feedback behind the roles or reading the events again."""
    card = _scorecard(path, events_id, feedback_id, filters, conversion, churn, tolerance_days)
    if (period, periods) == (DEFAULTS["per"], DEFAULTS["np"]):
        return card
    events, _ = data.events_with_feedback(path, events_id, feedback_id, filters)
    return with_reach_trend(card, events, period=period, periods=periods)  # type: ignore[arg-type]


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Following converters across channels…")
def _completion(path: str, events_id: str, filters: Filters, conversion: tuple[str, ...],
                online: tuple[str, ...], offline: tuple[str, ...]) -> Completion:
    events = data.events_frame(path, events_id, filters)
    return online_offline(events, conversion=list(conversion), online=list(online),
                          offline=list(offline))


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Drawing the journey map…")
def _journey_map(path: str, events_id: str, feedback_id: str | None, filters: Filters,
                 stages: tuple[str, ...], segment: str | None, persona: str | None,
                 tolerance_days: int, _pain: pd.DataFrame | None, pain_key: tuple) -> JourneyMap:
    """``_pain`` (the pain-point matrix) is not hashed: ``pain_key`` stands for it. The
    feedback stays in the events' engine, where its customers' events are joined."""
    events, feedback = data.events_with_feedback(path, events_id, feedback_id, filters)
    has_stage = "stage" in events.collect_schema().names()
    # A filter can remove every event of a defined stage: the others are drawn.
    return journey_map(events, feedback, stages=(stages or None) if has_stage else None,
                       segment_column=segment if persona else None, segment=persona,
                       pain_points=_pain, tolerance=timedelta(days=tolerance_days),
                       skip_absent_stages=True)


def _guarded(compute):
    """Run ``compute``; a bad input becomes a message on the page, never a traceback."""
    try:
        return compute()
    except AnalysisError as error:
        st.error(f"{md(error.problem)} {md(error.hint)}")
        return None


def scorecard(ctx: Context, s: TouchSettings) -> Scorecard | None:
    d = ctx.definitions
    return _guarded(lambda: _with_trend(
        ctx.path, ctx.events.id, _feedback_id(ctx), ctx.filters, tuple(d.conversion),
        tuple(d.churn), s.period, s.periods, s.tolerance_days))


def completion(ctx: Context, online: tuple[str, ...], offline: tuple[str, ...]
               ) -> Completion | None:
    return _guarded(lambda: _completion(ctx.path, ctx.events.id, ctx.filters,
                                        tuple(ctx.definitions.conversion), online, offline))


def pain_point_matrix(ctx: Context) -> pd.DataFrame | None:
    """The Pain points page's matrix with its default settings (cached there), or None."""
    if ctx.feedback is None:
        return None
    result = analyse_pain_points(ctx, PainSettings())
    return None if result is None or result.matrix.empty else result.matrix


def journey_maps(ctx: Context, s: TouchSettings) -> list[JourneyMap] | None:
    """One map (everyone, or persona A) or two side by side (A and B)."""
    pain = pain_point_matrix(ctx)
    d = ctx.definitions  # the matrix (default settings) depends on these and the data only
    key = ("default", tuple(d.churn), tuple(d.conversion)) if pain is not None else ()
    personas = [s.persona_a] + ([s.persona_b] if s.persona_a and s.persona_b else [])
    maps = [_guarded(lambda p=p: _journey_map(
        ctx.path, ctx.events.id, _feedback_id(ctx), ctx.filters,
        tuple(ctx.definitions.stages), s.segment, p, s.tolerance_days, pain, key))
        for p in personas]
    return None if any(m is None for m in maps) else maps


def segment_columns(ctx: Context) -> list[str]:
    """Attribute columns that can split customers into personas (2 to 12 values)."""
    attributes: dict = ctx.events.profile.get("attributes", {})
    fit = [c for c, v in attributes.items() if 2 <= len(v) <= 12]
    segment = ctx.definitions.segment
    return sorted(fit, key=lambda c: (c != segment, c.lower()))


def segment_values(ctx: Context, column: str | None) -> list[str]:
    if not column:
        return []
    return [str(v) for v in ctx.events.profile.get("attributes", {}).get(column, [])]


def channels(ctx: Context) -> list[str]:
    return sorted(map(str, ctx.events.profile.get("channels", {})), key=str.lower)
