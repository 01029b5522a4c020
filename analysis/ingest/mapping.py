"""Guessing which source column feeds each canonical column."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from analysis.ingest.parsing import (
    is_missing,
    parse_booleans,
    parse_numbers,
    parse_timestamps,
    scale_name,
)
from analysis.ingest.raw import plain, to_pandas
from analysis.schema import CANONICAL, KINDS, ColumnMapping, Kind, MappingError

#: Normalised column names that identify each canonical column, best first.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer_id", "case_concept_name", "customerid", "customer", "cust_id", "user_id",
        "userid", "user", "client_id", "clientid", "client", "visitor_id", "visitorid",
        "visitor", "account_id", "member_id", "person_id", "contact_id", "subscriber_id",
        "profile_id", "distinct_id", "anonymous_id", "respondent_id", "case_id", "caseid",
        "case", "username", "user_name", "screen_name", "author", "handle", "name",
    ),
    "timestamp": (
        "time_timestamp", "timestamp", "ts", "event_time", "event_timestamp", "datetime",
        "date_time", "created_at", "createdat", "occurred_at", "event_date", "time", "date",
        "created", "tweet_created", "submitted_at", "response_date", "survey_date", "sent_at",
        "start_timestamp", "timestamp_utc",
    ),
    "touchpoint": (
        "concept_name", "touchpoint", "touch_point", "event", "event_name", "event_type",
        "action", "activity", "page", "page_name", "step", "interaction", "interaction_type",
        "screen", "screen_name", "page_path", "url", "airline", "brand", "product", "service",
        "journey_step",
    ),
    "channel": (
        "case_channel", "channel", "channel_name", "medium", "utm_medium", "platform",
        "source", "device",
    ),
    "stage": ("stage", "journey_stage", "lifecycle_stage", "funnel_stage", "phase"),
    "revenue": (
        "revenue", "amount", "order_value", "value", "price", "sales", "order_total",
        "total", "spend", "gmv",
    ),
    "text": (
        "text", "comment", "comments", "feedback", "review", "review_text", "message",
        "body", "verbatim", "response", "content", "open_text", "answer", "tweet",
        "description", "note", "notes",
    ),
    "score": (
        "score", "rating", "nps", "nps_score", "csat", "csat_score", "ces", "ces_score",
        "stars", "star_rating", "rating_value", "likelihood_to_recommend",
    ),
    "scale": ("scale", "survey_type", "score_type", "metric", "survey", "question_type"),
    "category": (
        "category", "reason", "negativereason", "negative_reason", "topic", "label", "tag",
        "issue_type", "issue", "complaint_type", "subcategory",
    ),
    "duration": (
        "duration", "duration_days", "tenure", "tenure_days", "lifetime", "lifetime_days",
        "days_active", "days",
    ),
    "churned": (
        "churned", "churn", "is_churned", "cancelled", "canceled", "exited", "attrited",
        "is_cancelled", "lost", "event",
    ),
}

#: Name fragments that make a column a weaker candidate when no synonym matches exactly.
FRAGMENTS: dict[str, tuple[str, ...]] = {
    "customer_id": ("customer", "user", "client", "visitor", "account"),
    "timestamp": ("timestamp", "created", "date", "time"),
    "touchpoint": ("touchpoint", "event", "activity", "action", "page"),
    "channel": ("channel",),
    "stage": ("stage",),
    "revenue": ("revenue", "amount"),
    "text": ("text", "comment", "feedback", "review"),
    "score": ("score", "rating"),
    "category": ("category", "reason"),
    "duration": ("duration", "tenure"),
    "churned": ("churn",),
}

_CONTENT_CHECK_ROWS = 500


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def guess_mapping(df: Any, kind: Kind) -> ColumnMapping:
    """Propose which column feeds each canonical column of ``kind``.

    Column names are matched against known synonyms (``case:concept:name``, ``user``,
    ``client_id`` and ``visitor`` for customer_id; ``event``, ``action`` and ``page`` for
    touchpoint; ``date``, ``time``, ``ts`` and ``created_at`` for timestamp…), then checked
    against the values: a timestamp must mostly parse as dates, a score or revenue as numbers.
    Each source column is used at most once. Unmapped columns stay as attributes.
    """
    if kind not in KINDS:
        raise MappingError(f"Unknown table kind {kind!r}.", f"Use one of {', '.join(KINDS)}.")
    frame = to_pandas(df)
    sample = plain(frame.head(_CONTENT_CHECK_ROWS))
    candidates: list[tuple[float, str, str]] = []
    for target in CANONICAL[kind]:
        for col in frame.columns:
            score = _name_score(target, _normalise(col))
            if score and _content_ok(target, sample[col]):
                candidates.append((score, target, col))
    candidates.extend(_content_fallbacks(kind, sample, {c for _, _, c in candidates}))
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for _, target, col in sorted(candidates, key=lambda c: -c[0]):
        if target not in chosen and col not in used:
            chosen[target] = col
            used.add(col)
    notes = tuple(
        f"{target}: no column looks like it" for target in CANONICAL[kind] if target not in chosen
    )
    return ColumnMapping(kind=kind, notes=notes, **chosen)


def _name_score(target: str, name: str) -> float:
    synonyms = SYNONYMS.get(target, ())
    if name in synonyms:
        return 100.0 - synonyms.index(name)
    tokens = set(name.split("_"))
    for fragment in FRAGMENTS.get(target, ()):
        if fragment in tokens:
            return 40.0
        if len(fragment) > 4 and fragment in name:
            return 30.0
    return 0.0


def _content_ok(target: str, values: pd.Series) -> bool:
    present = values[~is_missing(values)]
    if present.empty:
        return False
    if target == "timestamp":
        parsed = parse_timestamps(present)
        return bool((~parsed.invalid).mean() >= 0.8)
    if target in ("score", "revenue", "duration"):
        return bool((~parse_numbers(present).invalid).mean() >= 0.8)
    if target == "churned":
        return bool((~parse_booleans(present).invalid).mean() >= 0.8)
    if target == "scale":
        return bool(present.map(lambda v: scale_name(v) is not None).mean() >= 0.8)
    return True


def _content_fallbacks(
    kind: Kind, sample: pd.DataFrame, named: set[str]
) -> list[tuple[float, str, str]]:
    """Weak candidates found from values alone, for files with unusual column names."""
    out: list[tuple[float, str, str]] = []
    for col in sample.columns:
        if col in named:
            continue
        values = sample[col]
        present = values[~is_missing(values)]
        if present.empty:
            continue
        is_text = values.dtype == object or pd.api.types.is_string_dtype(values)
        if is_text and (~parse_timestamps(present).invalid).mean() >= 0.95:
            out.append((10.0, "timestamp", col))
        elif kind == "feedback" and is_text and present.astype(str).str.len().mean() > 30:
            out.append((10.0 + min(present.astype(str).str.len().mean() / 100, 5), "text", col))
    return out

