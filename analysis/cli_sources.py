"""Where the command line reads its data: a file, a workspace dataset or a Spark table.

A file is read like an upload (``ingest.read_table`` → ``guess_mapping`` → ``prepare``), its
quarantined rows kept for the output folder; a workspace dataset is opened read-only, so the
command runs beside the app (and beside imports) on the same workspace; a Spark table is read
through ``SparkSession.builder.getOrCreate()``, so spark-submit and Databricks settings apply.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import narwhals as nw
import pandas as pd

from analysis import definitions, frames, ingest
from analysis.definitions import Definitions
from analysis.frames import Filters
from analysis.schema import CANONICAL, AnalysisError, MappingError
from analysis.store import DEFAULT_PATH, WORKSPACE_ENV, DatasetInfo, Workspace, WorkspaceError


class CliError(AnalysisError):
    """Unreadable input or unusable data (exit code 3)."""

    exit_code = 3


class UsageError(CliError):
    """Options that do not fit together (exit code 2, like argparse's own errors)."""

    exit_code = 2


class WorkspaceUnavailable(CliError):
    """The workspace is missing or cannot be read (exit code 4)."""

    exit_code = 4


@dataclass(frozen=True)
class Source:
    """The data a command runs on, filtered by ``--from``/``--to``.

    ``description``: what was read, for the manifest. ``quarantine``: rows that could not be
    used, by table ("events", "feedback"), with their reason in ``_reason``.
    """

    events: nw.LazyFrame
    feedback: nw.LazyFrame | None
    definitions: Definitions
    description: dict[str, Any]
    quarantine: dict[str, pd.DataFrame] = field(default_factory=dict)


# ---------------------------------------------------------------------------- files


def _column_overrides(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, column = pair.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise UsageError(f"--column takes CANONICAL=COLUMN, got {pair!r}.",
                             "Write e.g. --column customer_id=user_id.")
        out[name.strip()] = column.strip()
    return out


def read_file(path: str, kind: str, columns: dict[str, str] | None = None
              ) -> ingest.IngestResult:
    """A file read and prepared as the Data page imports it; ``columns`` overrides the
    guessed mapping (``{canonical: source column}``)."""
    raw = ingest.read_table(path)
    mapping = ingest.guess_mapping(raw, kind)
    option = "--column" if kind == "events" else "--feedback-column"
    try:
        if columns:
            mapping = mapping.replace(**columns)
        result = ingest.prepare(raw, mapping, kind)
    except MappingError as error:
        raise CliError(f"{Path(path).name}: {error.problem}",
                       f"{error.hint} On the command line: {option} "
                       f"{kind_example(kind)}=COLUMN.") from error
    if result.data.empty:
        reasons = "; ".join(f"{n:,} × {r}" for r, n in result.report.reasons.items())
        raise CliError(f"None of the {result.report.rows_read:,} rows of {Path(path).name} "
                       f"can be used ({reasons}).",
                       "Fix the file, or map other columns with " + option + ".")
    return result


def kind_example(kind: str) -> str:
    """The canonical column a mapping error most often names, for the hint."""
    return "customer_id" if kind == "events" else "text"


def _from_file(args: Any, filters: Filters) -> Source:
    result = read_file(args.source, "events", _column_overrides(args.column))
    report = result.report
    profile = ingest.profile(result.data, "events")
    description: dict[str, Any] = {
        "type": "file", "path": str(Path(args.source).resolve()), "format": report.file_format,
        "rows_read": report.rows_read, "rows_imported": report.rows_imported,
        "rows_quarantined": report.rows_quarantined, "reasons": report.reasons,
        "mapping": report.mapping,
    }
    quarantine = {"events": result.quarantine} if len(result.quarantine) else {}
    return Source(
        events=frames.canonical(result.data, "events", filters),
        feedback=None,
        definitions=definitions.guess_from_data(result.data, profile),
        description=description,
        quarantine=quarantine,
    )


def _feedback_file(args: Any, source: Source, filters: Filters) -> Source:
    """``source`` with the feedback of ``--feedback`` (date filter only, as in the app)."""
    result = read_file(args.feedback, "feedback", _column_overrides(args.feedback_column))
    report = result.report
    described = {**source.description, "feedback": {
        "type": "file", "path": str(Path(args.feedback).resolve()),
        "rows_read": report.rows_read, "rows_imported": report.rows_imported,
        "rows_quarantined": report.rows_quarantined, "reasons": report.reasons}}
    quarantine = dict(source.quarantine)
    if len(result.quarantine):
        quarantine["feedback"] = result.quarantine
    feedback = frames.canonical(result.data, "feedback",
                                Filters(start=filters.start, end=filters.end))
    return Source(source.events, feedback, source.definitions, described, quarantine)


# ---------------------------------------------------------------------------- workspace


def open_workspace(path: str | None) -> Workspace:
    """The workspace, opened read-only (it works while the app or an import writes to it);
    :class:`WorkspaceUnavailable` when it is missing or cannot be read."""
    where = Path(path or os.environ.get(WORKSPACE_ENV) or DEFAULT_PATH).resolve()
    if not where.exists():
        raise WorkspaceUnavailable(
            f"There is no workspace at {where}.",
            f"Pass --workspace with the directory the app uses (default {DEFAULT_PATH}), or "
            f"set {WORKSPACE_ENV}.")
    try:
        return Workspace(where, read_only=True)
    except WorkspaceError as error:
        raise WorkspaceUnavailable(f"The workspace {where} cannot be opened: {error.problem}",
                                   error.hint or "Check the path, or point --workspace at "
                                   "another directory.") from error


def find_dataset(ws: Workspace, wanted: str) -> DatasetInfo:
    """The events dataset whose id or name is ``wanted``."""
    datasets = ws.datasets()
    info = next((d for d in datasets if wanted in (d.id, d.name)), None)
    events = [f"{d.name!r} ({d.id})" for d in datasets if d.kind == "events"]
    if info is None:
        raise CliError(f"There is no dataset {wanted!r} in {ws.path}.",
                       "Pass --dataset with an id or name: " + (", ".join(events) or
                                                               "the workspace is empty") + ".")
    if info.kind != "events":
        raise CliError(f"{info.name!r} is a {info.kind} dataset; the analyses run on events.",
                       "Pass the events dataset it belongs to: " + ", ".join(events) + ".")
    return info


def _from_workspace(ws: Workspace, args: Any, filters: Filters) -> Source:
    if not args.dataset:
        names = [f"{d.name!r} ({d.id})" for d in ws.datasets("events")]
        raise UsageError("--workspace needs --dataset: which dataset to analyse.",
                         "Pass --dataset with an id or name: " + (", ".join(names) or
                                                                 "the workspace is empty") + ".")
    info = find_dataset(ws, args.dataset)
    linked = next((d for d in ws.linked(info.id) if d.kind == "feedback"), None)
    events, feedback = frames.load_with_feedback(ws, info.id, linked.id if linked else None,
                                                 filters)
    quarantine = {"events": ws.quarantine(info.id)}
    if linked is not None:
        quarantine["feedback"] = ws.quarantine(linked.id)
    description: dict[str, Any] = {
        "type": "workspace", "workspace": str(ws.path), "dataset": info.id, "name": info.name,
        "rows": info.rows, "rows_quarantined": info.quarantined,
        "feedback": {"dataset": linked.id, "name": linked.name, "rows": linked.rows}
        if linked else None,
    }
    return Source(events, feedback, ws.definitions(info.id), description,
                  {k: v for k, v in quarantine.items() if len(v)})


# ---------------------------------------------------------------------------- spark


def spark_session() -> Any:
    """The active Spark session (spark-submit, Databricks), or a new local one."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise CliError("--spark-table needs PySpark, which is not installed here.",
                       "Install it (pip install pyspark) or run the command with "
                       "spark-submit or on a Databricks cluster, where it is provided."
                       ) from error
    return SparkSession.builder.getOrCreate()


def spark_table(spark: Any, name: str, kind: str) -> nw.LazyFrame:
    """A Spark table (or temporary view) as a canonical lazy frame."""
    try:
        df = spark.table(name)
    except Exception as error:  # pyspark's AnalysisException; pyspark is imported lazily
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise CliError(f"Spark cannot read the table {name!r} ({first}).",
                       "Check the name (database.table) and that the cluster can see it."
                       ) from error
    return frames.canonical(df, kind)


def _names_profile(lf: nw.LazyFrame) -> dict[str, Any]:
    """The touchpoint, channel and attribute names ``definitions.guess_definitions`` reads,
    from a lazy frame (no stages: see :func:`_from_spark`)."""
    names = lf.collect_schema().names()
    profile: dict[str, Any] = {"touchpoints": dict.fromkeys(
        definitions.present_touchpoints(lf), 0)}
    if "channel" in names:
        values = lf.select(nw.col("channel").cast(nw.String)).unique().collect().to_pandas()
        profile["channels"] = dict.fromkeys(values["channel"].dropna().astype(str), 0)
    profile["attributes"] = {c: [] for c in names if c not in CANONICAL["events"]}
    return profile


def _from_spark(args: Any, filters: Filters) -> Source:
    spark = spark_session()
    events = spark_table(spark, args.spark_table, "events")
    # No stage order: on Spark its pairwise self-join is the slowest job of a run, and the
    # views that need it (the journey map) order the stages themselves when given none.
    guessed = definitions.guess_definitions(_names_profile(events))
    feedback = None
    if args.spark_feedback_table:
        feedback = frames.apply_filters(spark_table(spark, args.spark_feedback_table,
                                                    "feedback"),
                                        Filters(start=filters.start, end=filters.end))
    description = {"type": "spark", "table": args.spark_table,
                   "feedback": {"table": args.spark_feedback_table}
                   if args.spark_feedback_table else None}
    return Source(frames.apply_filters(events, filters), feedback, guessed, description)


# ---------------------------------------------------------------------------- any


def _check_choice(args: Any) -> None:
    given = [n for n, v in (("a file", args.source), ("--dataset", args.dataset),
                            ("--spark-table", args.spark_table)) if v]
    if len(given) > 1:
        raise UsageError(f"Give one source, not {' and '.join(given)}.",
                         "Pass a file, or --dataset (with --workspace), or --spark-table.")
    if not given and not args.workspace:
        raise UsageError("No data to analyse.",
                         "Pass a file (CSV, TSV, Parquet, Excel, JSON), --workspace PATH "
                         "--dataset ID, or --spark-table NAME.")
    if args.spark_feedback_table and not args.spark_table:
        raise UsageError("--spark-feedback-table goes with --spark-table.",
                         "Pass --feedback PATH for feedback in a file.")
    if args.start and args.end and args.start > args.end:
        raise UsageError(f"--from {args.start} is after --to {args.end}.",
                         "Swap the dates.")


def _require_rows(source: Source, start: date | None, end: date | None) -> None:
    rows = source.events.select(nw.len().alias("n")).collect().item()
    if not rows:
        window = f" between {start or 'the start'} and {end or 'the end'}" if start or end \
            else ""
        raise CliError(f"There are no events{window}.",
                       "Widen --from/--to, or leave them out." if window
                       else "Pass a table that holds events.")


@contextmanager
def open_source(args: Any) -> Iterator[Source]:
    """The source the options name (one of a file, a workspace dataset, a Spark table),
    with ``--feedback`` added when given; a workspace stays open until the block ends."""
    _check_choice(args)
    filters = Filters(start=args.start, end=args.end)
    ws: Workspace | None = None
    try:
        if args.source:
            source = _from_file(args, filters)
        elif args.spark_table:
            source = _from_spark(args, filters)
        else:
            ws = open_workspace(args.workspace)
            source = _from_workspace(ws, args, filters)
        if args.feedback:
            source = _feedback_file(args, source, filters)
        _require_rows(source, args.start, args.end)
        yield source
    finally:
        if ws is not None:
            ws.close()
