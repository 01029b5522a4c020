"""Ingestion: read any export, guess the column mapping, coerce, quarantine bad rows.

>>> df = read_table("export.csv")                       # doctest: +SKIP
>>> mapping = guess_mapping(df, "events")               # doctest: +SKIP
>>> result = prepare(df, mapping, "events")             # doctest: +SKIP
>>> result.data, result.quarantine, result.report       # doctest: +SKIP

Nothing is dropped silently: every row read ends up either in ``result.data`` or in
``result.quarantine`` with the reason, and ``report.rows_read == rows_imported +
rows_quarantined``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis import reading
from analysis.parsing import (
    clean_ids,
    is_missing,
    parse_booleans,
    parse_numbers,
    parse_timestamps,
)
from analysis.schema import (
    CANONICAL,
    KINDS,
    SCALE_RANGES,
    ColumnMapping,
    IngestError,
    Kind,
    MappingError,
)

__all__ = [
    "IngestReport",
    "IngestResult",
    "guess_mapping",
    "prepare",
    "read_table",
]

# --------------------------------------------------------------------------- reading


def read_table(path_or_buffer: Any, *, filename: str | None = None) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet, Excel (.xlsx) or JSON file into a DataFrame.

    Parameters
    ----------
    path_or_buffer
        A path, ``bytes``, or a binary file-like object (such as a Streamlit upload).
    filename
        The original file name, used for the format hint and in messages.

    Returns
    -------
    pandas.DataFrame
        Text formats are read as strings (types are set by :func:`prepare`). ``df.attrs``
        holds ``format``, ``encoding``, ``delimiter`` and ``bad_lines`` (rows with more fields
        than the header, which :func:`prepare` quarantines).

    Raises
    ------
    IngestError
        The file is empty, binary, damaged, or holds no rows or columns.
    """
    raw, name = reading.read_bytes(path_or_buffer, filename)
    if not raw.strip():
        raise IngestError(f"{name} is empty.", "Export the data again; the file has no content.")
    raw, name = reading.maybe_gunzip(raw, name)
    fmt = reading.sniff_format(raw, name)
    encoding, delimiter, bad_lines = None, None, []
    if fmt in ("parquet", "excel", "xls"):
        df = reading.read_binary(raw, fmt, name)
    else:
        text, encoding = reading.decode(raw, name)
        if fmt == "json":
            df = reading.read_json(text, name)
        else:
            df, delimiter, bad_lines = reading.read_delimited(text, name)
            fmt = {"\t": "tsv"}.get(delimiter, "csv")
    df = reading.tidy_columns(df, name)
    df = df.dropna(how="all").reset_index(drop=True)
    if df.empty and not bad_lines:
        raise IngestError(
            f"{name} has column names but no data rows.",
            "Export it again including the rows, not only the header.",
        )
    df.attrs.update(
        {
            "format": fmt,
            "encoding": encoding,
            "delimiter": delimiter,
            "bad_lines": bad_lines,
            "columns_in_header": int(df.shape[1]),
            "filename": name,
        }
    )
    return df


# --------------------------------------------------------------------------- mapping

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
    frame = _to_pandas(df)
    sample = _plain(frame.head(_CONTENT_CHECK_ROWS))
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
        return bool(present.map(lambda v: _scale_name(v) is not None).mean() >= 0.8)
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


# --------------------------------------------------------------------------- preparing


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
                f"row {e['row']}: {e['value']!r}" for e in self.examples.get(reason, [])
            )
            out.append(f"{count:,} × {reason} (e.g. {examples})")
        return out + list(self.notes)


@dataclass(frozen=True)
class IngestResult:
    """``data``: canonical columns + attributes; ``quarantine``: rejected rows (raw values,
    ``_row`` and ``_reason``); ``report``: the :class:`IngestReport`."""

    data: pd.DataFrame
    quarantine: pd.DataFrame
    report: IngestReport


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
            {"row": int(i) + 1, "value": _jsonable(raw.loc[i]) if raw is not None else ""}
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
    raw = _to_pandas(df)
    mapping = _as_mapping(mapping, kind)
    _check_mapping(raw, mapping)
    source = dict(raw.attrs)
    bad_lines = list(source.get("bad_lines") or [])
    raw = _plain(raw.reset_index(drop=True))
    if raw.empty and not bad_lines:
        raise IngestError("The table has no rows.", "Upload a file that contains data rows.")

    rejects = _Rejects(raw.index)
    out = pd.DataFrame(index=raw.index)
    notes: list[str] = []
    timestamp_format = None
    cols = mapping.as_dict()

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
    if kind == "feedback":
        notes += _prepare_feedback(raw, cols, out, rejects)
    if kind == "customers":
        _prepare_customers(raw, cols, out, rejects)

    attributes = _attributes(raw, mapping, out)
    for name, values in attributes.items():
        out[name] = values

    keep = rejects.reason == ""
    data = out[keep].reset_index(drop=True)
    if kind == "events":
        data = data.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    for name in ("touchpoint", "channel", "stage"):
        if name in data:
            data[name] = data[name].astype("category")
    quarantine = _quarantine(raw, rejects, bad_lines)

    reasons = quarantine["_reason"].value_counts().to_dict() if len(quarantine) else {}
    examples = dict(rejects.examples)
    if bad_lines:
        examples["malformed row"] = [
            {"row": None, "value": b["raw"][:120]} for b in bad_lines[:3]
        ]
    ts = data.get("timestamp")
    report = IngestReport(
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
        notes=notes,
    )
    return IngestResult(data=data, quarantine=quarantine, report=report)


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
        scale = scale_src.map(_scale_name).astype("string")
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


def _scale_name(value: Any) -> str | None:
    text = str(value).strip().lower() if value is not None else ""
    if not text or text in {"nan", "none", "<na>"}:
        return None
    if text in SCALE_RANGES:
        return text
    if "promot" in text or "nps" in text:
        return "nps"
    if "effort" in text or "ces" in text:
        return "ces"
    if "satisf" in text or "csat" in text:
        return "csat"
    return None


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
            values = values.map(lambda v: None if _isna(v) else str(v)).astype("string")
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        attrs[name] = values
    return attrs


def _quarantine(raw: pd.DataFrame, rejects: _Rejects, bad_lines: list[dict]) -> pd.DataFrame:
    bad = rejects.reason != ""
    q = raw[bad].astype("string")
    q.insert(0, "_reason", rejects.reason[bad].astype("string"))
    q.insert(0, "_row", (raw.index[bad] + 1).astype("int64"))
    if bad_lines:
        extra = pd.DataFrame(
            {
                "_row": pd.array([pd.NA] * len(bad_lines), dtype="Int64"),
                "_reason": [
                    f"malformed row ({b['fields']} fields, header has {raw.shape[1]})"
                    for b in bad_lines
                ],
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


def _to_pandas(df: Any) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame):
        _check_unique_columns(df)
        return df
    try:
        frame = nw.from_native(df)
    except TypeError as exc:
        raise IngestError(
            f"Cannot import a {type(df).__name__}.",
            "Pass a pandas, Polars, DuckDB or PySpark table, or use read_table on a file.",
        ) from exc
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    return frame.to_pandas()


def _check_unique_columns(df: pd.DataFrame) -> None:
    if not df.columns.is_unique:
        repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise IngestError(
            f"The table has more than one column named {', '.join(map(repr, repeated))}.",
            "Rename the columns so that each has its own name.",
        )


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy without ``attrs`` and with categorical columns as plain values.

    pandas deep-copies ``attrs`` (which can hold thousands of malformed rows) into the result of
    every operation; categoricals (from Parquet, or a frame passed in) refuse the reductions and
    string checks that coercion relies on.
    """
    frame = frame.copy(deep=False)
    frame.attrs = {}
    for i, dtype in enumerate(frame.dtypes):
        if isinstance(dtype, pd.CategoricalDtype):
            frame.isetitem(i, np.asarray(frame.iloc[:, i]))
    return frame


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    if _isna(value):
        return None
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)
