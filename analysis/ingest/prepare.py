"""Coercing a raw table onto canonical columns, with every unusable row quarantined.

Nothing is dropped silently: every row read ends up either in ``result.data`` or in
``result.quarantine`` with the reason, and ``report.rows_read == rows_imported +
rows_quarantined``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.ingest.parsing import (
    clean_ids,
    is_missing,
    parse_booleans,
    parse_numbers,
    parse_timestamps,
    scale_name,
)
from analysis.ingest.raw import isna, jsonable, plain, to_pandas
from analysis.ingest.report import IngestReport, IngestResult
from analysis.schema import (
    EVENT_SEQ,
    KINDS,
    SCALE_RANGES,
    ColumnMapping,
    IngestError,
    Kind,
    MappingError,
)


class _Rejects:
    """First reason per row, with examples, in the order checks run."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series("", index=index, dtype=object)
        self.examples: dict[str, list[dict[str, Any]]] = {}

    def flag(self, mask: pd.Series, reason: str, raw: pd.Series | None = None) -> None:
        new = mask & (self.reason == "")
        if not new.any():
            return
        self.reason[new] = reason
        rows = new[new].index[:3]
        self.examples[reason] = [
            {"row": int(i) + 1, "value": jsonable(raw.loc[i]) if raw is not None else ""}
            for i in rows
        ]


def prepare(df: Any, mapping: ColumnMapping | dict[str, str], kind: Kind) -> IngestResult:
    """Coerce a raw table onto the canonical columns of ``kind`` and quarantine bad rows.

    Parameters
    ----------
    df
        The raw table (pandas, Polars, DuckDB or PySpark), e.g. from :func:`read_table`.
    mapping
        A :class:`ColumnMapping` or ``{canonical: source column}``.
    kind
        ``"events"``, ``"feedback"`` or ``"customers"``.

    Returns
    -------
    IngestResult
        ``data`` has the canonical columns (timestamps tz-naive UTC, ``touchpoint``/``channel``
        /``stage`` as categoricals) and every unmapped column as an attribute. Rows are
        quarantined for: missing or malformed required values, unparseable timestamps,
        non-numeric revenue/score/duration, scores outside their scale, unknown scales,
        feedback with neither text nor score, duplicate customers, malformed CSV rows.

    Raises
    ------
    MappingError
        A required column is not mapped, or the mapping names a column the table lacks.
    IngestError
        The table has no rows.
    """
    if kind not in KINDS:
        raise MappingError(f"Unknown table kind {kind!r}.", f"Use one of {', '.join(KINDS)}.")
    raw = to_pandas(df)
    mapping = _as_mapping(mapping, kind)
    _check_mapping(raw, mapping)
    source = dict(raw.attrs)
    bad_lines = list(source.get("bad_lines") or [])
    raw = plain(raw.reset_index(drop=True))
    if raw.empty and not bad_lines:
        raise IngestError("The table has no rows.", "Upload a file that contains data rows.")

    rejects = _Rejects(raw.index)
    out = pd.DataFrame(index=raw.index)
    notes: list[str] = list(source.get("notes") or [])
    cols = mapping.as_dict()

    timestamp_format = _prepare_common(raw, cols, kind, out, rejects)
    if kind == "feedback":
        notes += _prepare_feedback(raw, cols, out, rejects)
    if kind == "customers":
        _prepare_customers(raw, cols, out, rejects)

    if kind == "events":
        # The file order breaks ties between events with the same timestamp.
        out[EVENT_SEQ] = np.arange(len(raw), dtype="int64")
    attributes = _attributes(raw, mapping, out)
    for name, values in attributes.items():
        out[name] = values

    keep = rejects.reason == ""
    data = out[keep].reset_index(drop=True)
    if kind == "events":
        data = data.sort_values(["customer_id", "timestamp", EVENT_SEQ]).reset_index(drop=True)
        notes.append(_ties_note(data))
    for name in ("touchpoint", "channel", "stage"):
        if name in data:
            data[name] = data[name].astype("category")
    quarantine = _quarantine(raw, rejects, bad_lines)

    report = _report(kind, raw, data, quarantine, rejects, bad_lines, source, cols,
                     list(attributes), timestamp_format, notes)
    return IngestResult(data=data, quarantine=quarantine, report=report)


def _prepare_common(
    raw: pd.DataFrame, cols: dict[str, str], kind: Kind, out: pd.DataFrame, rejects: _Rejects
) -> str | None:
    """Coerce the columns every kind may have; returns how timestamps were read."""
    timestamp_format = None
    if "customer_id" in cols:
        src = raw[cols["customer_id"]]
        rejects.flag(is_missing(src), "missing customer_id", src)
        out["customer_id"] = clean_ids(src)
    if "timestamp" in cols:
        src = raw[cols["timestamp"]]
        parsed = parse_timestamps(src)
        rejects.flag(is_missing(src), "missing timestamp", src)
        rejects.flag(parsed.invalid, "unparseable timestamp", src)
        out["timestamp"] = parsed.values
        timestamp_format = parsed.method
    if "touchpoint" in cols:
        src = raw[cols["touchpoint"]]
        if kind == "events":
            rejects.flag(is_missing(src), "missing touchpoint", src)
        out["touchpoint"] = _labels(src)
    for name in ("channel", "stage"):
        if name in cols:
            out[name] = _labels(raw[cols[name]])
    if "revenue" in cols:
        src = raw[cols["revenue"]]
        parsed = parse_numbers(src)
        rejects.flag(parsed.invalid, "revenue is not a number", src)
        out["revenue"] = parsed.values
    return timestamp_format


def tied_events(data: pd.DataFrame) -> int:
    """Events that share their customer and timestamp with another event."""
    return int(data.duplicated(["customer_id", "timestamp"], keep=False).sum())


def _ties_note(data: pd.DataFrame) -> str:
    tied = tied_events(data)
    if not tied:
        return "No two events of a customer share a timestamp."
    return (
        f"{tied:,} events ({tied / len(data):.1%}) share their customer and timestamp with "
        "another event; they are ordered as they appear in the file."
    )


def _report(kind, raw, data, quarantine, rejects, bad_lines, source, cols, attributes,
            timestamp_format, notes) -> IngestReport:
    reasons = quarantine["_reason"].value_counts().to_dict() if len(quarantine) else {}
    examples = dict(rejects.examples)
    for b in bad_lines:
        shown = examples.setdefault(_line_reason(b, raw.shape[1]), [])
        if len(shown) < 3:
            shown.append({"line": b.get("line"), "value": b["raw"][:120]})
    ts = data.get("timestamp")
    return IngestReport(
        kind=kind,
        rows_read=len(raw) + len(bad_lines),
        rows_imported=len(data),
        rows_quarantined=len(quarantine),
        reasons={str(k): int(v) for k, v in reasons.items()},
        examples=examples,
        mapping=cols,
        attributes=list(attributes),
        timestamp_format=timestamp_format,
        encoding=source.get("encoding"),
        delimiter=source.get("delimiter"),
        file_format=source.get("format"),
        customers=int(data["customer_id"].nunique()) if "customer_id" in data else None,
        first_timestamp=str(ts.min()) if ts is not None and len(ts) else None,
        last_timestamp=str(ts.max()) if ts is not None and len(ts) else None,
        tied_events=tied_events(data) if kind == "events" else None,
        notes=notes,
    )


def _prepare_feedback(
    raw: pd.DataFrame, cols: dict[str, str], out: pd.DataFrame, rejects: _Rejects
) -> list[str]:
    notes: list[str] = []
    has_text = pd.Series(False, index=raw.index)
    if "text" in cols:
        src = raw[cols["text"]]
        out["text"] = src.astype("string").str.strip().where(~is_missing(src))
        has_text = out["text"].notna()
    if "category" in cols:
        out["category"] = _labels(raw[cols["category"]])
    if "score" not in cols:
        rejects.flag(~has_text, "no text and no score", raw[cols["text"]])
        return notes
    src = raw[cols["score"]]
    scores = parse_numbers(src)
    rejects.flag(scores.invalid, "score is not a number", src)
    rejects.flag(~has_text & scores.values.isna(), "no text and no score", src)
    out["score"] = scores.values
    scale = pd.Series(pd.NA, index=raw.index, dtype="string")
    if "scale" in cols:
        scale_src = raw[cols["scale"]]
        scale = scale_src.map(scale_name).astype("string")
        unknown = scale.isna() & ~is_missing(scale_src)
        rejects.flag(unknown, "unknown scale (use nps, csat or ces)", scale_src)
    need = scale.isna() & scores.values.notna()
    if need.any():
        inferred = _infer_scale(scores.values[need & (rejects.reason == "")])
        if inferred:
            scale[need] = inferred
            low, high = SCALE_RANGES[inferred]
            notes.append(
                f"Scale inferred as {inferred.upper()} ({low:g}–{high:g}) from the score range."
            )
        else:
            notes.append(
                "Scores match no NPS (0–10), CSAT (1–5) or CES (1–7) range; "
                "kept as a plain rating without a scale."
            )
    for name, (low, high) in SCALE_RANGES.items():
        outside = (scale == name).fillna(False) & ~scores.values.between(low, high)
        outside &= scores.values.notna()
        rejects.flag(outside, f"score outside the {name.upper()} range {low:g}–{high:g}", src)
    out["scale"] = scale
    return notes


def _prepare_customers(
    raw: pd.DataFrame, cols: dict[str, str], out: pd.DataFrame, rejects: _Rejects
) -> None:
    ids = out["customer_id"]
    rejects.flag(ids.duplicated() & ~is_missing(raw[cols["customer_id"]]),
                 "duplicate customer_id", raw[cols["customer_id"]])
    if "duration" in cols:
        src = raw[cols["duration"]]
        parsed = parse_numbers(src)
        rejects.flag(parsed.invalid, "duration is not a number", src)
        rejects.flag(parsed.values < 0, "negative duration", src)
        out["duration"] = parsed.values
    if "churned" in cols:
        src = raw[cols["churned"]]
        parsed = parse_booleans(src)
        rejects.flag(parsed.invalid, "churned is not true/false", src)
        out["churned"] = parsed.values


def _infer_scale(scores: pd.Series) -> str | None:
    scores = scores.dropna()
    if scores.empty or not (scores == scores.round()).all():
        return None
    low, high = scores.min(), scores.max()
    if low >= 1 and high <= 5:
        return "csat"
    if low >= 1 and high <= 7:
        return "ces"
    if low >= 0 and high <= 10:
        return "nps"
    return None


def _labels(values: pd.Series) -> pd.Series:
    text = clean_ids(values) if pd.api.types.is_float_dtype(values) else values.astype("string")
    return text.str.strip().where(~is_missing(values))


def _attributes(raw: pd.DataFrame, mapping: ColumnMapping, out: pd.DataFrame) -> dict:
    """Unmapped columns, renamed away from canonical names, with storable types."""
    used = mapping.sources()
    taken = set(out.columns)
    attrs: dict[str, pd.Series] = {}
    for col in raw.columns:
        if col in used:
            continue
        name = col
        while name in taken or name.startswith("_"):
            name = f"{name}_attr" if not name.startswith("_") else name.lstrip("_") or "column"
        taken.add(name)
        values = raw[col]
        if values.dtype == object:
            values = values.map(lambda v: None if isna(v) else str(v)).astype("string")
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        attrs[name] = values
    return attrs


def _line_reason(bad: dict, width: int) -> str:
    """Why a line of the file could not become a row."""
    return bad.get("reason") or f"malformed row ({bad['fields']} fields, header has {width})"


def _quarantine(raw: pd.DataFrame, rejects: _Rejects, bad_lines: list[dict]) -> pd.DataFrame:
    bad = rejects.reason != ""
    q = raw[bad].astype("string")
    q.insert(0, "_reason", rejects.reason[bad].astype("string"))
    q.insert(0, "_row", (raw.index[bad] + 1).astype("int64"))
    if bad_lines:
        extra = pd.DataFrame(
            {
                "_row": pd.array([pd.NA] * len(bad_lines), dtype="Int64"),
                "_reason": [_line_reason(b, raw.shape[1]) for b in bad_lines],
                "_line": pd.array([b.get("line") for b in bad_lines], dtype="Int64"),
                "_raw_line": [b["raw"] for b in bad_lines],
            }
        )
        q = pd.concat([q, extra.astype({"_reason": "string", "_raw_line": "string"})])
    q = q.reset_index(drop=True)
    q["_row"] = q["_row"].astype("Int64")
    return q



def _as_mapping(mapping: ColumnMapping | dict[str, str], kind: Kind) -> ColumnMapping:
    if isinstance(mapping, ColumnMapping):
        return mapping if mapping.kind == kind else ColumnMapping.from_dict(kind, dict(mapping))
    if isinstance(mapping, dict):
        return ColumnMapping.from_dict(kind, mapping)
    raise MappingError(
        f"Expected a ColumnMapping or a dict, got {type(mapping).__name__}.",
        "Use ingest.guess_mapping(df, kind) to build one.",
    )


def _check_mapping(raw: pd.DataFrame, mapping: ColumnMapping) -> None:
    missing = mapping.missing_required()
    if missing:
        raise MappingError(
            f"A {mapping.kind} table needs {', '.join(missing)}, which is not mapped.",
            f"Pick the column that holds it (columns: {', '.join(map(str, raw.columns[:20]))}).",
        )
    absent = [f"{k} -> {v!r}" for k, v in mapping.items() if v not in raw.columns]
    if absent:
        raise MappingError(
            f"The mapping names columns the table does not have: {', '.join(absent)}.",
            f"Choose among: {', '.join(map(str, raw.columns[:20]))}.",
        )
