"""Canonical column names, the column mapping and the error types of the analysis package.

Every upload, whatever its column names, is mapped onto the canonical columns of one of three
kinds of table: ``events`` (the journey), ``feedback`` (surveys, reviews, tickets) and
``customers`` (one row per customer).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

Kind = Literal["events", "feedback", "customers"]
#: The position of an event in its source file (0-based), recorded at ingest: events with the
#: same timestamp keep the order the export had.
EVENT_SEQ = "event_seq"
KINDS: tuple[Kind, ...] = ("events", "feedback", "customers")

Scale = Literal["nps", "csat", "ces"]
#: Inclusive score range of each survey scale.
SCALE_RANGES: dict[str, tuple[float, float]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

#: Canonical columns per kind, in display order.
CANONICAL: dict[str, tuple[str, ...]] = {
    "events": ("customer_id", "timestamp", "touchpoint", "channel", "stage", "revenue"),
    "feedback": (
        "customer_id",
        "timestamp",
        "touchpoint",
        "channel",
        "text",
        "score",
        "scale",
        "category",
    ),
    "customers": ("customer_id", "duration", "churned"),
}

#: Columns that must be mapped for a kind (feedback also needs text or score, checked apart).
REQUIRED: dict[str, tuple[str, ...]] = {
    "events": ("customer_id", "timestamp", "touchpoint"),
    "feedback": ("timestamp",),
    "customers": ("customer_id",),
}

#: One line per canonical column, shown next to the mapping editor.
DESCRIPTIONS: dict[str, str] = {
    "customer_id": "who: the customer, user, visitor or case key",
    "timestamp": "when it happened (any common date format; converted to UTC)",
    "touchpoint": "what happened: page, call, store visit, purchase, cancel…",
    "channel": "web, app, store, call center, email, social, chat…",
    "stage": "journey stage: awareness, consideration, conversion, usage, retention…",
    "revenue": "money attached to the event (a number)",
    "text": "the free-text comment",
    "score": "the rating (a number: NPS 0–10, CSAT 1–5, CES 1–7)",
    "scale": "which survey the score belongs to: nps, csat or ces",
    "category": "a human label of the feedback (reason, topic, tag)",
    "duration": "ready-made customer lifetime in days (a number)",
    "churned": "whether that lifetime ended in churn (true/false, 1/0, yes/no)",
}

_ALL_FIELDS = tuple(dict.fromkeys(c for cols in CANONICAL.values() for c in cols))


class AnalysisError(ValueError):
    """Base error of the analysis package: bad input that the caller can fix.

    ``hint`` says how to fix it; ``str(error)`` holds the problem and the hint.
    """

    def __init__(self, problem: str, hint: str = "") -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem} {hint}".strip())


class ParameterError(AnalysisError):
    """A parameter out of range or of the wrong kind (``top_nodes=0``, ``alpha=2``)."""


class UnknownValueError(ParameterError):
    """A name the data does not hold (a touchpoint, a group value); the hint lists the valid
    ones."""


class MissingColumnError(AnalysisError):
    """The table lacks a column the analysis needs."""


def valid_values(values: Iterable[object], limit: int = 25) -> str:
    """A readable list of valid values for an error message: "A, B, C, … (40 in all)"."""
    shown = sorted({str(v) for v in values if v is not None})
    text = ", ".join(shown[:limit]) or "nothing"
    return text + (f", … ({len(shown)} in all)" if len(shown) > limit else "")


def unknown_values_error(what: str, unknown: Iterable[object], valid: Iterable[object]):
    """The :class:`UnknownValueError` for names not in the data, with close matches."""
    valid = [str(v) for v in valid]
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), valid, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return UnknownValueError(
        f"Unknown {what} {', '.join(parts)}; the data has: {valid_values(valid)}.",
        f"Write each {what} exactly as it is written in the data.",
    )


class IngestError(AnalysisError):
    """A file or table that cannot be imported at all (empty, binary, unreadable)."""


class WorkbookError(IngestError):
    """A file taken for an Excel workbook that is not a readable one: random bytes or a web page
    under an .xlsx/.xls name, another kind of ZIP file, a damaged or password-protected
    workbook."""


class MappingError(IngestError):
    """The column mapping is incomplete or names columns the table does not have."""


class UnknownDatasetError(AnalysisError, KeyError):
    """A dataset id that is malformed or not in the workspace catalog."""

    def __str__(self) -> str:
        return ValueError.__str__(self)


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column feeds each canonical column (``None``: not mapped).

    Behaves like a read-only mapping from canonical name to source column name for the
    mapped columns: ``mapping["customer_id"]``, ``dict(mapping)``, ``mapping.get("stage")``.
    """

    kind: Kind = "events"
    customer_id: str | None = None
    timestamp: str | None = None
    touchpoint: str | None = None
    channel: str | None = None
    stage: str | None = None
    revenue: str | None = None
    text: str | None = None
    score: str | None = None
    scale: str | None = None
    category: str | None = None
    duration: str | None = None
    churned: str | None = None
    #: Extra notes from guessing (why a column was or was not chosen); not part of equality.
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MappingError(
                f"Unknown table kind {self.kind!r}.", f"Use one of {', '.join(KINDS)}."
            )
        allowed = set(CANONICAL[self.kind])
        extra = [n for n in _ALL_FIELDS if getattr(self, n) is not None and n not in allowed]
        if extra:
            raise MappingError(
                f"{', '.join(extra)} cannot be mapped for a {self.kind} table.",
                f"A {self.kind} table has the columns {', '.join(CANONICAL[self.kind])}.",
            )

    @classmethod
    def from_dict(cls, kind: Kind, columns: Mapping[str, str | None]) -> ColumnMapping:
        """Build a mapping from ``{canonical: source}``; empty strings count as unmapped."""
        unknown = [k for k in columns if k not in _ALL_FIELDS]
        if unknown:
            raise MappingError(
                f"Unknown canonical column(s): {', '.join(map(str, unknown))}.",
                f"Canonical columns are {', '.join(_ALL_FIELDS)}.",
            )
        clean = {k: (str(v) if v not in (None, "") else None) for k, v in columns.items()}
        return cls(kind=kind, **clean)

    def as_dict(self) -> dict[str, str]:
        """``{canonical: source}`` for the mapped columns."""
        return {n: getattr(self, n) for n in CANONICAL[self.kind] if getattr(self, n)}

    def sources(self) -> set[str]:
        return set(self.as_dict().values())

    def missing_required(self) -> list[str]:
        missing = [n for n in REQUIRED[self.kind] if getattr(self, n) is None]
        if self.kind == "feedback" and self.text is None and self.score is None:
            missing.append("text or score")
        return missing

    def replace(self, **columns: str | None) -> ColumnMapping:
        merged = {**self.as_dict(), **columns}
        return ColumnMapping.from_dict(self.kind, merged)

    def __getitem__(self, name: str) -> str:
        value = self.as_dict().get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __contains__(self, name: object) -> bool:
        return name in self.as_dict()

    def keys(self):
        return self.as_dict().keys()

    def values(self):
        return self.as_dict().values()

    def items(self):
        return self.as_dict().items()

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.as_dict().get(name, default)


def mapping_field_names() -> tuple[str, ...]:
    """All canonical column names across kinds."""
    return tuple(f.name for f in fields(ColumnMapping) if f.name not in ("kind", "notes"))
