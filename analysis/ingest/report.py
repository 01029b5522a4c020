"""What an import did with every row, and the profile of a prepared table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from analysis.schema import CANONICAL, Kind

_MAX_ATTRIBUTE_VALUES = 50


@dataclass(frozen=True)
class IngestReport:
    """What happened to every row of an import.

    ``rows_read == rows_imported + rows_quarantined`` always holds. ``reasons`` counts
    quarantined rows by their (first) reason; ``examples`` gives up to three offending rows per
    reason as ``{"row": n, "value": raw}`` (``row`` is 1-based, counted over data rows).
    """

    kind: Kind
    rows_read: int
    rows_imported: int
    rows_quarantined: int
    reasons: dict[str, int]
    examples: dict[str, list[dict[str, Any]]]
    mapping: dict[str, str]
    attributes: list[str]
    timestamp_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    file_format: str | None = None
    customers: int | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    #: Events sharing their customer and timestamp with another event (ordered by file order).
    tied_events: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """Plain-language summary lines for display."""
        out = [
            f"{self.rows_read:,} rows read, {self.rows_imported:,} imported, "
            f"{self.rows_quarantined:,} quarantined."
        ]
        for reason, count in self.reasons.items():
            examples = ", ".join(
                example_text(e, quoted=True) for e in self.examples.get(reason, [])
            )
            out.append(f"{count:,} × {reason} (e.g. {examples})")
        return out + list(self.notes)


def example_text(example: dict[str, Any], *, quoted: bool = False) -> str:
    """One quarantined example as "line 12: value" (a file line) or "row 3: value" (a data
    row); ``quoted`` shows the value as a Python literal."""
    value = repr(example["value"]) if quoted else str(example["value"])
    if example.get("line"):
        return f"line {example['line']}: {value}"
    if example.get("row"):
        return f"row {example['row']}: {value}"
    return value


@dataclass(frozen=True)
class IngestResult:
    """``data``: canonical columns + attributes; ``quarantine``: rejected rows (raw values,
    ``_row`` and ``_reason``); ``report``: the :class:`IngestReport`."""

    data: pd.DataFrame
    quarantine: pd.DataFrame
    report: IngestReport

    data: pd.DataFrame
    quarantine: pd.DataFrame


def profile(data: pd.DataFrame, kind: Kind) -> dict[str, Any]:
    """A small description of a prepared table, stored in the catalog at import.

    Keys: rows, customers, first, last, touchpoints ({name: rows}), channels, stages,
    attributes ({column: [values]} for text columns with at most 50 distinct values),
    scales ({scale: rows}), has_text.
    """
    out: dict[str, Any] = {"rows": len(data)}
    if "customer_id" in data:
        out["customers"] = int(data["customer_id"].nunique())
    if "timestamp" in data and len(data):
        out["first"] = str(data["timestamp"].min())
        out["last"] = str(data["timestamp"].max())
    for name, key in (("touchpoint", "touchpoints"), ("channel", "channels"), ("stage", "stages")):
        if name in data:
            counts = data[name].astype("string").value_counts().head(500)
            out[key] = {str(k): int(v) for k, v in counts.items()}
    if kind == "feedback":
        out["has_text"] = bool("text" in data and data["text"].notna().any())
        if "scale" in data:
            counts = data["scale"].astype("string").value_counts()
            out["scales"] = {str(k): int(v) for k, v in counts.items()}
    attributes: dict[str, list[str]] = {}
    for col in data.columns:
        if col in CANONICAL[kind] or col in {"text", "score"}:
            continue
        values = data[col]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == object
                or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        distinct = values.dropna().astype(str).unique()
        if 1 < len(distinct) <= _MAX_ATTRIBUTE_VALUES:
            attributes[col] = sorted(distinct.tolist())
    out["attributes"] = attributes
    return out
