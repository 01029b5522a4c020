"""Delimited text (CSV, TSV…): the delimiter, and rows that keep their values in place.

Rows with more fields than the header and lines opened by a stray quote are set apart with
their line numbers, for :func:`analysis.ingest.prepare` to quarantine; nothing is dropped.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.schema import IngestError

_DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(text: str, name: str) -> str:
    """The delimiter whose field count is most consistent over the first lines."""
    lines = [line for line in text[:200_000].splitlines()[:200] if line.strip()]
    if Path(name).suffix.lower() in {".tsv", ".tab"} and lines and "\t" in lines[0]:
        return "\t"
    best, best_key = ",", (-1.0, 0)
    for delim in _DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        modal, freq = Counter(counts).most_common(1)[0]
        if modal < 2:
            continue
        key = (freq / len(counts), modal)
        if key > best_key:
            best, best_key = delim, key
    return best


def read_delimited(text: str, name: str) -> tuple[pd.DataFrame, str, list[dict[str, Any]]]:
    """Read delimited text as strings; rows with more fields than the header are returned apart.

    The header is read as a data row: given a header, pandas takes the first column as the
    index when the first data row has one field more, which shifts every value silently.
    """
    if not text.strip():
        raise IngestError(f"{name} is empty.", "Export the data again with its rows.")
    delim = sniff_delimiter(text, name)
    options = dict(
        sep=delim, header=None, dtype=str, keep_default_na=False, na_values=[""],
        skip_blank_lines=True,
    )
    bad: list[dict[str, Any]] = []
    try:
        df = pd.read_csv(io.StringIO(text), engine="c", **options)
        if len(df) < _content_lines(text):
            # Some value runs over several lines: a quoted text with line breaks, or two stray
            # quotes swallowing the rows between them. Read it again, checking each record.
            df, bad = read_by_line(text, delim, name, ValueError("a value spans lines"))
    except pd.errors.ParserError as exc:
        if "EOF inside string" in str(exc):
            df, bad = read_by_line(text, delim, name, exc)
        else:
            df, bad = _read_ragged(text, delim, name)
    except pd.errors.EmptyDataError as exc:
        raise IngestError(f"{name} has no columns.", "Export it again with a header row.") from exc
    except (csv.Error, ValueError) as exc:
        raise IngestError(
            f"{name} could not be read as delimited text ({short_error(exc)}).",
            "Check that quotes are balanced and every row uses the same delimiter.",
        ) from exc
    header = ["" if pd.isna(v) else str(v) for v in df.iloc[0]] if len(df) else []
    df = df.iloc[1:].reset_index(drop=True)
    df.columns = header or df.columns
    return df, delim, bad


def _read_ragged(text: str, delim: str, name: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows (header first) of text whose rows differ in length; longer rows are set apart."""
    records: list[list[str]] = []
    numbers: list[int] = []
    for strict in (True, False):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=strict)
        records, numbers, start = [], [], 1
        try:
            for record in reader:
                if record:
                    records.append(record)
                    numbers.append(start)  # the line the record starts on
                start = reader.line_num + 1
            break
        except csv.Error as exc:
            if "unexpected end of data" in str(exc) or "field larger" in str(exc):
                # A quote never closed swallows the rest of the file: read line by line.
                return read_by_line(text, delim, name, exc)
            if not strict:  # NUL bytes
                raise IngestError(
                    f"{name} could not be read as delimited text ({short_error(exc)}).",
                    "Check that quotes are balanced and every row uses the same delimiter.",
                ) from exc
    return _by_width(records, delim, numbers)


def _by_width(records: list[list[str]], delim: str,
              lines: list[int] | None = None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows (header first) padded to the header's width; longer rows set apart. ``lines``:
    each record's line number in the file, for the rows set apart."""
    width = len(records[0]) if records else 0
    # Trailing delimiters (empty extra fields) are an export habit, not extra data.
    records = [
        r[:width] if len(r) > width and not any(f.strip() for f in r[width:]) else r
        for r in records
    ]
    rows = [r + [""] * (width - len(r)) for r in records if len(r) <= width]
    numbers = lines or [None] * len(records)
    bad = [
        {"fields": len(r), "raw": delim.join(r)[:500], "line": n}
        for r, n in zip(records, numbers, strict=True) if len(r) > width
    ]
    df = pd.DataFrame(rows, columns=range(width), dtype=object)
    return df.mask(df == ""), bad


def _content_lines(text: str) -> int:
    """Lines holding something other than white space."""
    return len(_CONTENT_LINE.findall(text))


_CONTENT_LINE = re.compile(r"^[ \t]*\S", re.MULTILINE)

#: A quoted value may run over at most this many lines; a quote still open after that is a
#: stray one.
MAX_RECORD_LINES = 50


def read_by_line(
    text: str, delim: str, name: str, cause: Exception
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows of delimited text in which a quote is never closed, read record by record.

    Each record starts at a line start. One that runs over several lines (a quoted value
    with line breaks) is kept only if it closes within :data:`MAX_RECORD_LINES` lines, has
    the header's width, and none of the lines it swallows is a full row on its own; otherwise
    its first line is set apart ("quote never closed", with its line number) and reading
    resumes on the next line. Raises when not even the header can be read.
    """
    lines = text.splitlines(keepends=True)
    records: list[list[str]] = []
    numbers: list[int] = []
    stray: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        width = len(records[0]) if records else None
        record, end = _record_at(lines, i, delim, width)
        if record is None:
            stray.append({"fields": None, "line": i + 1, "reason": "quote never closed",
                          "raw": lines[i].rstrip("\r\n")[:500]})
            i += 1
            continue
        records.append(record)
        numbers.append(i + 1)
        i = end
    if not records or (stray and stray[0]["line"] == 1):
        raise _unclosed_quote(name, cause)
    df, bad = _by_width(records, delim, numbers)
    return df, sorted(bad + stray, key=lambda b: b["line"])


def _parse(chunk: str, delim: str) -> list[list[str]] | None:
    """The records of ``chunk``, or None when a quoted value is still open at its end."""
    try:
        return [r for r in csv.reader(io.StringIO(chunk, newline=""), delimiter=delim,
                                      strict=True) if r]
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return None
        return [r for r in csv.reader(io.StringIO(chunk, newline=""), delimiter=delim,
                                      strict=False) if r]


def _record_at(lines: list[str], i: int, delim: str,
               width: int | None) -> tuple[list[str] | None, int]:
    """The record starting on line ``i`` and the line after it, or (None, i) for a stray
    quote."""
    for j in range(i, min(i + MAX_RECORD_LINES, len(lines))):
        parsed = _parse("".join(lines[i:j + 1]), delim)
        if parsed is None:
            continue
        if len(parsed) != 1:
            return None, i
        if j > i and width is not None and (len(parsed[0]) != width or any(
                (alone := _parse(line, delim)) is not None and len(alone) == 1
                and len(alone[0]) == width for line in lines[i + 1:j + 1])):
            return None, i
        return parsed[0], j + 1
    return None, i


def _unclosed_quote(name: str, exc: Exception) -> IngestError:
    return IngestError(
        f"{name} has a quote that is never closed, so the rest of the file would be read as one "
        f"value ({short_error(exc)}).",
        "Check that quotes are balanced and export the file again.",
    )


def short_error(exc: Exception) -> str:
    """The first line of an exception's message, cut to 200 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
