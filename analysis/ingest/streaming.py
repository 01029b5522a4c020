"""Streaming import of large delimited events files, chunk by chunk, staged on disk.

Decided once: the encoding (over the whole file, as ``read_table`` does), delimiter and header,
and the timestamp formats (found on the first rows that need them and kept, so a chunk of
ambiguous dates such as 03/04/2024 is not read the other way round). What is stored equals
``Workspace.import_result(prepare(read_table(file)))``. Chunks are staged in a DuckDB file of
the import's own under the workspace's ``tmp/`` (memory stays low: DuckDB spills to disk), then
written to Parquet in journey order and committed as ``Workspace`` commits any import (rename,
then the catalog row). Only events are streamed: feedback needs
every score to infer its scale, customers every row to find duplicate ids.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import shutil
from collections import Counter, deque, namedtuple
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import pandas as pd

from analysis.definitions import guess_from_data
from analysis.ingest import delimited, parsing
from analysis.ingest.prepare import _as_mapping, _check_mapping, prepare
from analysis.ingest.raw import jsonable
from analysis.ingest.reading import decode, sniff_format, tidy_columns
from analysis.ingest.report import IngestReport
from analysis.precompute import PRECOMPUTED
from analysis.schema import EVENT_SEQ, ColumnMapping, IngestError, Kind
from analysis.sources import drop_columns
from analysis.store import DATA_FILE, DatasetInfo, Workspace, _clean_name, new_id

_HEAD_BYTES, _BLOCK_BYTES = 1 << 20, 1 << 24
#: DuckDB's memory limit (for every session) while streaming: below it, it keeps what it wrote.
MEMORY_LIMIT = "512MB"
_LABELS, _FORMATS = ("touchpoint", "channel", "stage"), {"\t": "tsv"}
_TIMESTAMP_REASONS = ("missing timestamp", "unparseable timestamp")
_Source = namedtuple("_Source", ["name", "encoding", "delimiter"])


@dataclass(frozen=True)
class Progress:
    """How far a streaming import is: rows read and quarantined so far, bytes of the file."""

    rows_read: int
    rows_quarantined: int
    bytes_read: int
    total_bytes: int


def _open(source: Any, name: str | None) -> tuple[Any, str]:
    """A context giving a seekable binary stream (a file opened here is closed), and a name."""
    if isinstance(source, str | os.PathLike):
        if not (path := Path(source)).is_file():
            raise IngestError(f"There is no file at {path}.", "Check the path and try again.")
        return path.open("rb"), name or path.name
    if not (hasattr(source, "read") and hasattr(source, "seek")):
        raise IngestError(f"Cannot stream a {type(source).__name__}.",
                          "Pass a file path or an open binary file.")
    return nullcontext(source), str(name or getattr(source, "name", None) or "upload")


def _decodes(stream: BinaryIO, encoding: str) -> bool:
    stream.seek(0)
    try:  # decode block by block, keeping nothing
        deque(codecs.iterdecode(iter(lambda: stream.read(_BLOCK_BYTES), b""), encoding), 0)
    except UnicodeDecodeError:
        return False
    return True


def _sniff(stream: BinaryIO, name: str) -> _Source:
    """Encoding (as ``reading.decode`` decides it on the whole file) and delimiter."""
    stream.seek(0)
    head = stream.read(_HEAD_BYTES)
    if not head.strip() and len(head) < _HEAD_BYTES:
        raise IngestError(f"{name} is empty.", "Export the data again; the file has no content.")
    if head[:2] == b"\x1f\x8b" or sniff_format(head, name) != "text":
        raise IngestError(f"{name} is not plain delimited text, which is what is streamed.",
                          "Import it with read_table and prepare, or save it as CSV.")
    decode(head[:65536], name)  # raises for binary content, as the one-shot reader does
    candidates = (["utf-8-sig"] if head[:3] == b"\xef\xbb\xbf" else []) + ["utf-8", "cp1252"]
    encoding = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else next(
        (e for e in candidates if _decodes(stream, e)), "latin-1")
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    return _Source(name, encoding, delimited.sniff_delimiter(text, name))


def _blocks(stream: BinaryIO, src: _Source, chunk_rows: int) -> Iterator[tuple[str, int, int]]:
    """(text, first line number, bytes read) of ``chunk_rows`` records, ending outside quotes;
    a quote open for over ``MAX_RECORD_LINES`` lines is a stray one (as ``read_by_line`` says)."""
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=src.encoding, newline="")
    lines: list[str] = []
    start, records, inside, opened = 1, 0, False, 0
    try:
        for line in text:
            lines.append(line)
            if line.count('"') % 2:
                inside, opened = not inside, len(lines) - 1
            if inside and len(lines) - opened > delimited.MAX_RECORD_LINES:  # a stray quote
                odd = [i for i in range(opened + 1, len(lines)) if lines[i].count('"') % 2]
                inside, opened = len(odd) % 2 == 1, odd[-1] if odd else opened
            if not inside and line.strip():
                records += 1
                if records > chunk_rows - (start > 1):  # the first block holds the header
                    yield "".join(lines), start, stream.tell()
                    start, lines, records = start + len(lines), [], 0
        if lines:
            yield "".join(lines), start, stream.tell()
    finally:
        text.detach()


def _read_block(text: str, src: _Source) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows (header first) and set-apart lines, as ``read_delimited`` reads them."""
    name, sep = src.name, src.delimiter
    try:
        df = pd.read_csv(io.StringIO(text), engine="c", sep=sep, header=None, dtype=str,
                         keep_default_na=False, na_values=[""], skip_blank_lines=True)
        if len(df) < delimited._content_lines(text):
            return delimited.read_by_line(text, sep, name, ValueError("a value spans lines"))
        return df, []
    except pd.errors.ParserError as exc:
        if "EOF inside string" in str(exc):
            return delimited.read_by_line(text, sep, name, exc)
        return delimited._read_ragged(text, sep, name)
    except pd.errors.EmptyDataError as exc:
        raise IngestError(f"{name} has no columns.", "Export it again with a header row.") from exc
    except (csv.Error, ValueError) as exc:
        raise IngestError(
            f"{name} could not be read as delimited text ({delimited.short_error(exc)}).",
            "Check that quotes are balanced and every row uses the same delimiter.",
        ) from exc


def _chunks(stream: BinaryIO, src: _Source, chunk_rows: int
            ) -> Iterator[tuple[pd.DataFrame, list[dict[str, Any]], int]]:
    """(rows, set-apart lines numbered in the file, bytes read); the header goes first."""
    header, header_lines = "", 0
    for text, start, position in _blocks(stream, src, chunk_rows):
        df, bad = _read_block(header + text, src)
        shift = start - 1 - header_lines if header else 0
        if not header:
            lines = text[:_HEAD_BYTES].splitlines(keepends=True)
            header_lines = next((i for i, line in enumerate(lines) if line.strip()), 0) + 1
            header = "".join(lines[:header_lines])
        names = ["" if pd.isna(v) else str(v) for v in df.iloc[0]] if len(df) else []
        df = df.iloc[1:].set_axis(names or df.columns, axis=1).reset_index(drop=True)
        df = tidy_columns(df, src.name).dropna(how="all").reset_index(drop=True)
        yield df, [{**b, "line": b["line"] and b["line"] + shift} for b in bad], position


def read_head(source: Any, *, filename: str | None = None, rows: int = 10_000
              ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The first ``rows`` rows as the streaming import reads them, and read_table's attrs."""
    opened, name = _open(source, filename)
    with opened as stream:
        src = _sniff(stream, name)
        df = next(_chunks(stream, src, rows))[0]
    return df, {"format": _FORMATS.get(src.delimiter, "csv"), "encoding": src.encoding,
                "delimiter": src.delimiter, "filename": name, "notes": []}


class _TimestampPlan:
    """``parse_timestamps``, but trying the formats earlier chunks needed right after ISO."""

    def __init__(self) -> None:
        self.formats: list[str] = []
        self.used: set[str] = set()

    def method(self) -> str:
        last = [m for m in ("epoch", "free-form") if m in self.used]
        return " + ".join([*sorted({"ISO 8601"} & self.used), *self.formats, *last]) or "none"

    def parse(self, values: pd.Series) -> parsing.Parsed:
        missing = parsing.is_missing(values)
        text = values.where(~missing).astype("string").str.strip()
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        aware = text.str.contains(parsing._OFFSET_AT_END).fillna(False).astype(bool)
        for part in (~missing & aware, ~missing & ~aware):
            if part.any():
                out[part] = parsing._to_utc(text[part], format="ISO8601")
        self.used |= {"ISO 8601"} if out.notna().any() else set()
        for fmt in self.formats:
            if (todo := ~missing & out.isna()).any():
                out[todo] = parsing._to_utc(text[todo], format=fmt)
        if (todo := ~missing & out.isna()).any():
            rest = parsing.parse_timestamps(text[todo])  # finds formats for what is left
            out[todo] = rest.values
            for how in rest.method.split(" + "):
                if how in ("epoch", "free-form"):
                    self.used.add(how)
                elif how not in ("ISO 8601", "none"):
                    self.formats.append(how)
        return parsing._finish(out, missing, self.method())


@dataclass
class _Tally:
    """What the chunks so far did: counts, reasons, examples, lines set apart."""

    raw_rows: int = 0
    quarantined: int = 0
    empty: pd.DataFrame | None = None
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bad_lines: list[dict[str, Any]] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    values: dict[str, set[str]] = field(default_factory=dict)

    def progress(self, position: int, total: int) -> Progress:
        bad = len(self.bad_lines)
        return Progress(self.raw_rows + bad, self.quarantined + bad, min(position, total), total)


def _prepare_chunk(raw: pd.DataFrame, mapping: ColumnMapping, plan: _TimestampPlan,
                   tally: _Tally) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``prepare`` on one chunk with timestamps read by the file's plan (as datetimes, then
    told apart again: missing or unparseable); rows, event_seq, examples numbered in the file."""
    _check_mapping(raw, mapping)  # before the timestamp column is read
    ts_col = mapping.as_dict()["timestamp"]
    original, chunk = raw[ts_col], raw.copy(deep=False)
    chunk[ts_col] = (parsed := plan.parse(original)).values
    result = prepare(chunk, mapping, "events")
    data, q = result.data, result.quarantine
    data[EVENT_SEQ] += tally.raw_rows
    local = q["_row"].to_numpy(dtype="int64") - 1
    examples = {k: v for k, v in result.report.examples.items() if k not in _TIMESTAMP_REASONS}
    q[ts_col] = pd.array(original.iloc[local].to_numpy(), dtype="string")
    wrong = (q["_reason"] == "missing timestamp").to_numpy() & parsed.invalid.to_numpy()[local]
    q.loc[wrong, "_reason"] = "unparseable timestamp"
    for reason in _TIMESTAMP_REASONS:
        if len(rows := local[(q["_reason"] == reason).to_numpy()][:3]):
            examples[reason] = [{"row": int(i) + 1, "value": jsonable(original.iloc[i])}
                                for i in rows]
    for reason, shown in examples.items():
        kept = tally.examples.setdefault(reason, [])
        kept += [{**e, "row": e["row"] + tally.raw_rows} for e in shown][:3 - len(kept)]
    tally.reasons.update(q["_reason"].astype(str).tolist())
    q["_row"] += tally.raw_rows
    tally.raw_rows += len(raw)
    tally.quarantined += len(q)
    tally.attributes = result.report.attributes
    for col in tally.attributes:  # distinct values while there are at most 50 (as profile)
        if len(seen := tally.values.setdefault(col, set())) <= 50:
            seen.update(data[col].dropna().unique()[:51].tolist())
    for name in _LABELS:  # as text while staging: each chunk's categories differ
        if name in data:
            data[name] = data[name].astype("string")
    return data, q


def _append(cur: Any, table: str, frame: pd.DataFrame, view: str) -> None:
    # Not CREATE TABLE AS: DuckDB 2.0 loses rows appended to such a table in its transaction.
    cur.register(view, frame)  # the transaction's cursor is closed after an error
    types = ", ".join(f"{_ident(c)} {t}" for c, t, *_ in
                      cur.execute(f"DESCRIBE SELECT * FROM {view}").fetchall())
    cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({types})")
    cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
    cur.unregister(view)


def import_csv_stream(
    workspace: Workspace, source: Any, mapping: ColumnMapping | dict[str, str],
    kind: Kind = "events", *, name: str, chunk_rows: int = 200_000,
    progress: Callable[[Progress], None] | None = None, source_checksum: str | None = None,
    source_name: str | None = None, linked_to: str | None = None,
) -> DatasetInfo:
    """Stage a large delimited events file chunk by chunk, then store it atomically;
    returns the entry ``import_result`` gives for the whole file. ``source``: a path or a
    seekable binary file; ``progress``: called with a :class:`Progress` after every chunk and
    at the end. Other parameters and errors are as for ``prepare`` and ``import_result`` (only
    ``"events"``); after an error or a kill, nothing is stored."""
    if kind != "events":  # feedback needs every score for its scale, customers every id
        raise IngestError(f"Only events files are streamed, not {kind}.", "Use read_table.")
    name = _clean_name(name)
    workspace._check_link(linked_to)
    mapping = _as_mapping(mapping, kind)
    opened, label = _open(source, source_name)
    dataset_id = new_id()
    with opened as stream, workspace._import_dir(dataset_id) as work:
        src = _sniff(stream, label)
        stage_dir = work / "stage"  # a DuckDB file of its own: no other import sees it
        stage_dir.mkdir()
        cur = duckdb.connect(str(stage_dir / "stage.duckdb"))
        try:
            cur.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            tally, template, plan = _stage(cur, dataset_id, stream, src, mapping, (
                chunk_rows, progress or (lambda _: None), stream.seek(0, io.SEEK_END)))
            level = workspace._write_dataset(
                work, _labelled(cur, f"stage_{dataset_id}", template),
                cur.table(f"stage_q_{dataset_id}"), "events")
            stored = cur.read_parquet(str(work / DATA_FILE))
            stored.create_view("stored")
            report, profile = _summary(cur, "stored", template, tally, src, mapping, plan)
            profile["customer_level"] = level
            guessed = guess_from_data(drop_columns(stored, PRECOMPUTED), profile)
        finally:
            cur.close()
            shutil.rmtree(stage_dir, ignore_errors=True)
        entry = DatasetInfo(dataset_id, name, "events", workspace._clock(), report.rows_imported,
                            report.rows_quarantined, report.mapping, source_checksum,
                            source_name, linked_to, report.to_dict(), profile)
        return workspace._commit_import(work, entry, guessed.to_dict())


def _stage(cur: Any, dataset_id: str, stream: BinaryIO, src: _Source, mapping: ColumnMapping,
           options: tuple) -> tuple[_Tally, pd.DataFrame, _TimestampPlan]:
    """Append each chunk to staging tables, each committed (a transaction's appends stay in RAM)."""
    chunk_rows, progress, total = options
    stage, quarantine = f"stage_{dataset_id}", f"stage_q_{dataset_id}"
    plan, tally, template = _TimestampPlan(), _Tally(), None
    for raw, bad, position in _chunks(stream, src, chunk_rows):
        tally.bad_lines += bad
        tally.empty = raw.iloc[:0] if tally.empty is None else tally.empty
        if len(raw):
            data, q = _prepare_chunk(raw, mapping, plan, tally)
            template = data.iloc[:0] if template is None else template
            _append(cur, stage, data, "incoming_data")
            _append(cur, quarantine, q, "incoming_quarantine")
        progress(tally.progress(position, total))
    if template is None:  # the one-shot path stores an empty table when lines were set apart
        raise IngestError(f"{src.name} has column names but no data rows." if not tally.bad_lines
                          else f"None of the rows of {src.name} could be read.",
                          "Export it again including the rows, not only the header.")
    _add_bad_lines(cur, quarantine, tally, mapping)
    progress(tally.progress(total, total))
    return tally, template, plan


def _add_bad_lines(cur: Any, quarantine: str, tally: _Tally, mapping: ColumnMapping) -> None:
    """Lines that could not become rows go last in the quarantine, as ``prepare`` puts them."""
    if not tally.bad_lines:
        return
    tally.empty.attrs = {"bad_lines": tally.bad_lines}  # as read_table hands them to prepare
    result = prepare(tally.empty, mapping, "events")
    tally.reasons.update(result.report.reasons)
    tally.examples.update(result.report.examples)  # reasons of their own
    cur.execute(f"ALTER TABLE {quarantine} ADD COLUMN _line BIGINT; "
                f"ALTER TABLE {quarantine} ADD COLUMN _raw_line VARCHAR")
    _append(cur, quarantine, result.quarantine, "incoming_lines")


def _labelled(cur: Any, stage: str, template: pd.DataFrame) -> Any:
    """The staged rows; a label column without any label typed as ``import_result`` types
    a categorical without categories, so that both imports store the same types."""
    columns = [_ident(c) for c in template.columns]
    for i, name in enumerate(template.columns):
        if name in _LABELS and not cur.execute(
                f"SELECT count({columns[i]}) FROM {stage}").fetchall()[0][0]:
            columns[i] = f"(SELECT c FROM no_labels) AS {columns[i]}"
    cur.register("no_labels", pd.DataFrame({"c": pd.Categorical([])}))
    return cur.sql(f"SELECT {', '.join(columns)} FROM {stage}")


def _summary(cur: Any, table: str, template: pd.DataFrame, tally: _Tally, src: _Source,
             mapping: ColumnMapping, plan: _TimestampPlan) -> tuple[IngestReport, dict]:
    """The report and profile that ``prepare`` and ``ingest.profile`` give, from SQL."""
    rows, customers, first, last = cur.execute(
        f'SELECT count(*), count(DISTINCT customer_id), min("timestamp"), max("timestamp") '
        f"FROM {table}").fetchone()
    tied = int(cur.execute(
        f'SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {table} '
        f'GROUP BY customer_id, "timestamp" HAVING count(*) > 1)').fetchone()[0])
    first, last = (str(pd.Timestamp(first)), str(pd.Timestamp(last))) if rows else (None, None)
    profile: dict[str, Any] = {"rows": rows, "customers": customers,
                               **({"first": first, "last": last} if rows else {})}
    for name, key in zip(_LABELS, ("touchpoints", "channels", "stages"), strict=True):
        if name in template:  # in table order, so that ties are counted in the same order
            values = cur.execute(f"SELECT {_ident(name)} FROM {table}").df()[name]
            counts = values.astype("string").value_counts().head(500)
            profile[key] = {str(k): int(v) for k, v in counts.items()}
    profile["attributes"] = {c: sorted(v) for c, v in tally.values.items() if 1 < len(v) <= 50}
    note = ("No two events of a customer share a timestamp." if not tied else
            f"{tied:,} events ({tied / rows:.1%}) share their customer and timestamp with "
            "another event; they are ordered as they appear in the file.")  # as prepare says
    report = IngestReport(
        kind="events", rows_read=tally.raw_rows + len(tally.bad_lines), rows_imported=rows,
        rows_quarantined=tally.quarantined + len(tally.bad_lines),
        reasons={k: int(v) for k, v in tally.reasons.most_common()},
        examples=tally.examples, mapping=mapping.as_dict(), attributes=tally.attributes,
        timestamp_format=plan.method(), encoding=src.encoding, delimiter=src.delimiter,
        file_format=_FORMATS.get(src.delimiter, "csv"), customers=customers, first_timestamp=first,
        last_timestamp=last, tied_events=tied, notes=[note],
    )
    return report, profile


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'
