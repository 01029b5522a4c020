"""Reading uploaded files: format, encoding and delimiter sniffing.

``ingest.read_table`` is the public entry point; this module holds the sniffing details.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import warnings
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.schema import IngestError

_DELIMITERS = (",", ";", "\t", "|")
_TEXT_FORMATS = {"csv", "tsv", "txt", "tab", "psv", "dat"}
_FORMATS_HINT = "Upload a CSV, TSV, Parquet, Excel (.xlsx) or JSON file."


def read_bytes(path_or_buffer: Any, filename: str | None) -> tuple[bytes, str]:
    """The raw bytes of a path, bytes object or file-like object, and a name for messages."""
    if isinstance(path_or_buffer, str | os.PathLike):
        path = Path(path_or_buffer)
        if not path.is_file():
            raise IngestError(f"There is no file at {path}.", "Check the path and try again.")
        return path.read_bytes(), filename or path.name
    if isinstance(path_or_buffer, bytes | bytearray | memoryview):
        return bytes(path_or_buffer), filename or "upload"
    if hasattr(path_or_buffer, "read"):
        if hasattr(path_or_buffer, "seek"):
            path_or_buffer.seek(0)
        data = path_or_buffer.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = filename or getattr(path_or_buffer, "name", None) or "upload"
        return bytes(data), str(name)
    raise IngestError(
        f"Cannot read a {type(path_or_buffer).__name__} as a table.",
        "Pass a file path, bytes or an open binary file.",
    )


def sniff_format(raw: bytes, name: str) -> str:
    """One of parquet, excel, xls, json, text (delimited)."""
    ext = Path(name).suffix.lower().lstrip(".")
    if raw[:4] == b"PAR1":
        return "parquet"
    if raw[:4] == b"PK\x03\x04":
        return "excel"
    if raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    if ext in {"json", "jsonl", "ndjson"}:
        return "json"
    if ext in {"parquet", "pq"}:
        return "parquet"
    if ext in {"xlsx", "xlsm"}:
        return "excel"
    head = raw[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"[", b"{"):
        return "json"
    return "text"


def decode(raw: bytes, name: str) -> tuple[str, str]:
    """Decode text, detecting UTF-8 (with or without BOM), UTF-16 (BOM) and latin-1/cp1252."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise IngestError(
                f"{name} starts like UTF-16 text but is damaged ({exc.reason}).",
                f"Save it again as UTF-8. {_FORMATS_HINT}",
            ) from exc
    if b"\x00" in raw[:8192]:
        raise IngestError(
            f"{name} looks like a binary file, not a table.", _FORMATS_HINT
        )
    if raw[:3] == b"\xef\xbb\xbf":
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text, encoding = raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, encoding = raw.decode("latin-1"), "latin-1"
    sample = text[:20000]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    if sample and controls / len(sample) > 0.01:
        raise IngestError(f"{name} looks like a binary file, not a table.", _FORMATS_HINT)
    return text, encoding


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
            f"{name} could not be read as delimited text ({_short(exc)}).",
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
                    f"{name} could not be read as delimited text ({_short(exc)}).",
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
        f"value ({_short(exc)}).",
        "Check that quotes are balanced and export the file again.",
    )


def read_json(text: str, name: str) -> pd.DataFrame:
    """A JSON array of records, an object holding one, an object of columns, or JSON lines."""
    stripped = text.strip()
    try:
        payload: Any = json.loads(stripped)
    except json.JSONDecodeError:
        try:
            payload = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"{name} is not valid JSON (line {exc.lineno}: {exc.msg}).",
                "Upload a JSON array of records, or one JSON object per line.",
            ) from exc
    if isinstance(payload, dict):
        lists = [
            v for v in payload.values() if isinstance(v, list) and v and isinstance(v[0], dict)
        ]
        if lists:
            payload = lists[0]
        elif payload and all(isinstance(v, list | dict) for v in payload.values()):
            try:
                return pd.DataFrame(payload).reset_index(drop=True)
            except ValueError as exc:
                raise IngestError(
                    f"{name} holds JSON columns of different lengths.",
                    "Upload a JSON array of records instead.",
                ) from exc
        else:
            payload = [payload]
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise IngestError(
            f"{name} is JSON but not a list of records.",
            'Upload records like [{"customer_id": "a1", "timestamp": "...", ...}, ...].',
        )
    df = pd.json_normalize(payload, max_level=1)
    for col in df.columns:
        if df[col].map(lambda v: isinstance(v, list | dict)).any():
            df[col] = df[col].map(lambda v: json.dumps(v) if isinstance(v, list | dict) else v)
    return df


def read_binary(raw: bytes, fmt: str, name: str) -> pd.DataFrame:
    if fmt == "xls":
        raise IngestError(
            f"{name} is an old-style .xls workbook.",
            "Save it as .xlsx or CSV in your spreadsheet program and upload that.",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "parquet":
                return pd.read_parquet(io.BytesIO(raw))
            return pd.read_excel(io.BytesIO(raw), sheet_name=0)
    except Exception as exc:  # any reader failure means: not a usable file of that format
        label = "Parquet" if fmt == "parquet" else "Excel"
        raise IngestError(
            f"{name} could not be read as {label} ({_short(exc)}).",
            f"The file may be damaged or not really {label}. {_FORMATS_HINT}",
        ) from exc


def maybe_gunzip(raw: bytes, name: str) -> tuple[bytes, str]:
    if raw[:2] != b"\x1f\x8b":
        return raw, name
    try:
        return gzip.decompress(raw), name.removesuffix(".gz")
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"{name} is a damaged gzip file.", "Compress it again.") from exc


def tidy_columns(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Column names as unique, trimmed strings; blank names become column_N."""
    names: list[str] = []
    seen: Counter[str] = Counter()
    for i, col in enumerate(df.columns, start=1):
        label = str(col).strip()
        if not label or label.startswith("Unnamed:"):
            label = f"column_{i}"
        base = label
        # A renamed duplicate must not take the name of a later column ("a", " a", "a_2").
        while label in names or (label != base and label in df.columns):
            seen[base] += 1
            label = f"{base}_{seen[base] + 1}"
        names.append(label)
    df.columns = names
    if df.shape[1] == 0:
        raise IngestError(f"{name} has no columns.", "Export it again with a header row.")
    return df


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


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
    raw, name = read_bytes(path_or_buffer, filename)
    if not raw.strip():
        raise IngestError(f"{name} is empty.", "Export the data again; the file has no content.")
    raw, name = maybe_gunzip(raw, name)
    fmt = sniff_format(raw, name)
    encoding, delimiter, bad_lines = None, None, []
    if fmt in ("parquet", "excel", "xls"):
        df = read_binary(raw, fmt, name)
    else:
        text, encoding = decode(raw, name)
        if fmt == "json":
            df = read_json(text, name)
        else:
            df, delimiter, bad_lines = read_delimited(text, name)
            fmt = {"\t": "tsv"}.get(delimiter, "csv")
    df = tidy_columns(df, name)
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
