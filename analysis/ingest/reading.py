"""Reading uploaded files: format, encoding and delimiter sniffing.

``ingest.read_table`` is the public entry point; this module holds the sniffing details.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import warnings
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.ingest.delimited import read_delimited, short_error
from analysis.schema import IngestError, WorkbookError

_TEXT_FORMATS = {"csv", "tsv", "txt", "tab", "psv", "dat"}
_FORMATS_HINT = "Upload a CSV, TSV, Parquet, Excel (.xlsx) or JSON file."
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Names of Excel workbooks. Such a file without a workbook's signature is read by its content
#: when that is text (many tools export CSV or TSV under an .xls name); see read_table.
EXCEL_EXTENSIONS = frozenset({"xlsx", "xlsm", "xls"})
_WORKBOOK_HINT = "Save it as .xlsx from Excel, or upload the data as CSV."
_RESAVE_HINT = "Open it in Excel and save it again as .xlsx, or upload the data as CSV."
_DELIMITER_NAMES = {",": "comma-separated", ";": "semicolon-separated",
                    "\t": "tab-separated", "|": "pipe-separated"}


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
    if raw[:4] == _ZIP_MAGIC:
        return "excel"
    if raw[:8] == _OLE_MAGIC:
        return "xls"
    if ext in {"json", "jsonl", "ndjson"}:
        return "json"
    if ext in {"parquet", "pq"}:
        return "parquet"
    # An .xlsx or .xls name without a workbook's signature: the content decides.
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
        raise _ole_error(name)
    if fmt == "excel":
        return read_workbook(raw, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # any reader failure means: not a usable Parquet file
        raise IngestError(
            f"{name} could not be read as Parquet ({short_error(exc)}).",
            f"The file may be damaged or not really Parquet. {_FORMATS_HINT}",
        ) from exc


def read_workbook(raw: bytes, name: str) -> pd.DataFrame:
    """The first sheet of an .xlsx workbook (a ZIP file holding ``xl/...``).

    Every failure is told in plain words (damaged, another kind of ZIP file, .xlsb, .ods),
    never with the reader's own message, which speaks of engines and XML parts.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.namelist()
            mimetype = archive.open("mimetype").read(100) if "mimetype" in members else b""
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        raise WorkbookError(
            f"{name} is a damaged Excel workbook (or another damaged ZIP file).",
            _RESAVE_HINT,
        ) from exc
    if "xl/workbook.bin" in members:
        raise WorkbookError(f"{name} is a binary Excel workbook (.xlsb).", _WORKBOOK_HINT)
    if not any(m.startswith("xl/") for m in members):
        raise _other_zip_error(name, members, mimetype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.read_excel(io.BytesIO(raw), sheet_name=0, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types; none of their messages helps
        raise WorkbookError(
            f"{name} is a damaged Excel workbook: its first sheet cannot be read.",
            _RESAVE_HINT,
        ) from exc


def _other_zip_error(name: str, members: list[str], mimetype: bytes) -> WorkbookError:
    if b"opendocument.spreadsheet" in mimetype:
        return WorkbookError(
            f"{name} is an OpenDocument spreadsheet (.ods), not an Excel workbook.",
            "Save it as .xlsx or CSV (File > Save As in LibreOffice) and upload that.",
        )
    tables = [m for m in members if Path(m).suffix.lower().lstrip(".") in
              {*_TEXT_FORMATS, *EXCEL_EXTENSIONS, "json", "parquet"}]
    hint = (f"Unzip it and upload {Path(tables[0]).name}, the file inside." if len(tables) == 1
            else "Unzip it and upload the data files inside one by one." if tables
            else _FORMATS_HINT)
    return WorkbookError(f"{name} is a ZIP archive, not an Excel workbook or a table.", hint)


def _ole_error(name: str) -> WorkbookError:
    if Path(name).suffix.lower() in (".xlsx", ".xlsm"):
        # Excel stores an encrypted .xlsx in the old compound-file container.
        return WorkbookError(
            f"{name} is a password-protected workbook, or an old-style .xls workbook under "
            "an .xlsx name.",
            "Remove the password in Excel (File > Info > Protect Workbook) and save it as "
            ".xlsx, or upload the data as CSV.",
        )
    return WorkbookError(
        f"{name} is an old-style .xls workbook, which cannot be read here.",
        "Save it as .xlsx or CSV in your spreadsheet program and upload that.",
    )


def decode_named_workbook(raw: bytes, name: str) -> tuple[str, str]:
    """The text of a file named like a workbook without a workbook's signature; a plain
    :class:`WorkbookError` when it is not text, or is a web page or XML."""
    try:
        text, encoding = decode(raw, name)
    except IngestError as exc:
        raise WorkbookError(
            f"{name} is not an Excel workbook: its content is neither a workbook nor text.",
            _WORKBOOK_HINT,
        ) from exc
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        raise WorkbookError(
            f"{name} is not an Excel workbook but a web page or XML file with an Excel name.",
            "Open it in Excel and save it as .xlsx, or upload the data as CSV.",
        )
    return text, encoding


def text_workbook_note(name: str, fmt: str, delimiter: str | None, df: pd.DataFrame) -> str:
    """The note for text read from a file named like a workbook; a :class:`WorkbookError`
    when that text holds no columns, so is unlikely to be what the user meant."""
    if fmt != "json" and df.shape[1] < 2:
        raise WorkbookError(
            f"{name} is not an Excel workbook: it holds text without columns.", _WORKBOOK_HINT
        )
    what = "JSON" if fmt == "json" else _DELIMITER_NAMES.get(delimiter or ",", "delimited")
    return f"{name} is not an Excel workbook but {what} text; it was read as such."


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


def read_table(path_or_buffer: Any, *, filename: str | None = None) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet, Excel (.xlsx) or JSON file into a DataFrame.

    The content decides the format, the name only breaks ties. A file named ``.xlsx``/``.xls``
    that holds CSV, TSV or JSON text (as many tools export) is read as that text, with a note
    among the ``notes`` in ``df.attrs``; one that holds neither a workbook nor such text raises a
    :class:`WorkbookError` saying so in plain words.

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
        holds ``format``, ``encoding``, ``delimiter``, ``bad_lines`` (rows with more fields
        than the header, which :func:`prepare` quarantines) and ``notes`` (plain sentences
        about how the file was read).

    Raises
    ------
    IngestError
        The file is empty, binary, damaged, or holds no rows or columns
        (:class:`WorkbookError` when it was taken for an Excel workbook).
    """
    raw, name = read_bytes(path_or_buffer, filename)
    if not raw.strip():
        raise IngestError(f"{name} is empty.", "Export the data again; the file has no content.")
    raw, name = maybe_gunzip(raw, name)
    fmt = sniff_format(raw, name)
    encoding, delimiter, bad_lines, notes = None, None, [], []
    named_workbook = Path(name).suffix.lower().lstrip(".") in EXCEL_EXTENSIONS
    if fmt in ("parquet", "excel", "xls"):
        df = read_binary(raw, fmt, name)
    else:
        text, encoding = (decode_named_workbook if named_workbook else decode)(raw, name)
        if fmt == "json":
            df = read_json(text, name)
        else:
            df, delimiter, bad_lines = read_delimited(text, name)
            fmt = {"\t": "tsv"}.get(delimiter, "csv")
        if named_workbook:
            notes.append(text_workbook_note(name, fmt, delimiter, df))
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
            "notes": notes,
        }
    )
    return df
