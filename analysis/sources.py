"""Datasets read where they live: the ``location`` of an external catalog entry.

A location is ``"<scheme>:<rest>"``; :data:`SCHEMES` maps each scheme to how it is read:
``resolve(info, con)`` gives the usable rows in canonical columns (what ``Workspace.table``
returns: a DuckDB relation, or for ``spark:`` a PySpark DataFrame), ``quarantine(info)`` the
rows left out for a missing required value, with ``_reason``, as pandas. Another scheme is
added with :func:`register`.

``parquet:<absolute path>`` is a Parquet file or a folder (every ``**/*.parquet`` under it) on
this server, read in place. It is off unless ``$JOURNEY_PARQUET_ROOTS`` lists the directories
(separated by ``os.pathsep``) that may be read; the roots are checked again at every query, on
the real path (symlinks resolved), so taking a directory out of the setting takes its datasets
offline. Column names and values never enter SQL text: renames and casts are DuckDB expressions.
``spark:<settings>`` is a Spark table or lake path (``analysis.spark_source``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd

from analysis import spark_source
from analysis.catalog import DatasetInfo
from analysis.frames import utc_database
from analysis.precompute import customer_level_columns
from analysis.schema import CANONICAL, REQUIRED, AnalysisError, Kind, MappingError

PARQUET_ROOTS_ENV = "JOURNEY_PARQUET_ROOTS"
_T = duckdb.sqltypes
_TYPES = {"customer_id": _T.VARCHAR, "touchpoint": _T.VARCHAR, "channel": _T.VARCHAR,
          "stage": _T.VARCHAR, "revenue": _T.DOUBLE, "text": _T.VARCHAR, "score": _T.DOUBLE,
          "category": _T.VARCHAR, "scale": _T.VARCHAR}
_MAX_ATTRIBUTE_VALUES = 50



class Scheme(NamedTuple):
    """How one kind of location is read (see the module docstring)."""

    resolve: Callable[[DatasetInfo, Any], Any]
    quarantine: Callable[[DatasetInfo], pd.DataFrame]


class ExternalSourceError(AnalysisError):
    """An external dataset cannot be registered or read (off, outside the roots, gone)."""


@dataclass(frozen=True)
class Described:
    """What ``Workspace.register_external`` needs to know of a source."""

    location: str
    mapping: dict[str, str]
    profile: dict[str, Any]
    report: dict[str, Any]
    counts: tuple[int, int]


def drop_columns(rel: duckdb.DuckDBPyRelation, names: tuple[str, ...]
                 ) -> duckdb.DuckDBPyRelation:
    """``rel`` without the columns ``names`` (itself when it has none of them)."""
    kept = [c for c in rel.columns if c not in names]
    if len(kept) == len(rel.columns):
        return rel
    return rel.select(*[duckdb.ColumnExpression(c) for c in kept])


def check_scheme(location: str) -> Scheme:
    """The scheme of a location; :class:`ExternalSourceError` for one not known here."""
    scheme = location.split(":", 1)[0]
    if scheme not in SCHEMES:
        raise ExternalSourceError(f"Unknown kind of location {scheme!r}.",
                                  "Use one of: " + ", ".join(sorted(SCHEMES)) + ".")
    return SCHEMES[scheme]


def register(scheme: str, how: Scheme) -> None:
    """Read locations ``"<scheme>:…"`` as ``how`` says."""
    SCHEMES[scheme] = how


def resolve(info: DatasetInfo, con: duckdb.DuckDBPyConnection) -> Any:
    """The usable rows of an external dataset, in canonical columns."""
    return check_scheme(info.location or "").resolve(info, con)


def quarantine(info: DatasetInfo) -> pd.DataFrame:
    """The rows of an external dataset that :func:`resolve` leaves out, with ``_reason``."""
    return check_scheme(info.location or "").quarantine(info)


def _required(rel: duckdb.DuckDBPyRelation, kind: Kind) -> list[str]:
    return [c for c in REQUIRED[kind] if c in rel.columns]


def _complete(rel: duckdb.DuckDBPyRelation, kind: Kind) -> duckdb.Expression:
    condition = duckdb.ConstantExpression(True)
    for column in _required(rel, kind):
        condition = condition & duckdb.ColumnExpression(column).isnotnull()
    return condition


def _reason(rel: duckdb.DuckDBPyRelation, kind: Kind) -> duckdb.Expression:
    required = _required(rel, kind)
    if not required:
        return duckdb.ConstantExpression(None).cast(_T.VARCHAR).alias("_reason")
    first, *rest = required
    case = duckdb.CaseExpression(duckdb.ColumnExpression(first).isnull(),
                                 duckdb.ConstantExpression(f"missing {first}"))
    for column in rest:
        case = case.when(duckdb.ColumnExpression(column).isnull(),
                         duckdb.ConstantExpression(f"missing {column}"))
    return case.alias("_reason")


# ---------------------------------------------------------------------------- parquet


def parquet_roots() -> list[Path]:
    """The directories Parquet may be registered from, from ``$JOURNEY_PARQUET_ROOTS``."""
    value = os.environ.get(PARQUET_ROOTS_ENV, "")
    return [Path(p).resolve() for p in value.split(os.pathsep) if p.strip()]


def parquet_files(path: str | os.PathLike[str]) -> tuple[Path, list[str]]:
    """The real path and its Parquet files, once checked against the roots."""
    roots = parquet_roots()
    if not roots:
        raise ExternalSourceError(
            "Reading Parquet files in place on the server is off.",
            f"Set {PARQUET_ROOTS_ENV} to the directories it may read (separated by "
            f"{os.pathsep!r}), e.g. {PARQUET_ROOTS_ENV}=/data/lake, and restart.")
    try:
        real = Path(path).resolve(strict=True)
    except OSError as error:
        raise ExternalSourceError(f"There is no file or folder at {path}.",
                                  "Check the path; it may have been moved or deleted."
                                  ) from error
    inside = [r for r in roots if real.is_relative_to(r)]
    candidates = [real] if real.is_file() else sorted(real.rglob("*.parquet"))
    files = [str(p) for p in candidates
             if p.is_file() and any(p.resolve().is_relative_to(r) for r in roots)]
    if not inside:
        raise ExternalSourceError(
            f"{real} is outside the directories Parquet may be read from.",
            f"Move it under one of {', '.join(map(str, roots))}, or add its directory to "
            f"{PARQUET_ROOTS_ENV}.")
    if not files:
        raise ExternalSourceError(f"There is no Parquet file in {real}.",
                                  "Point at a .parquet file or a folder that holds some.")
    return real, files


def _parquet_rows(info: DatasetInfo, con: duckdb.DuckDBPyConnection
                  ) -> duckdb.DuckDBPyRelation:
    """Every row of a registered Parquet source, in canonical columns."""
    _, files = parquet_files((info.location or "").split(":", 1)[1])
    return canonical(con.read_parquet(files, union_by_name=True), info.mapping)


def _parquet_usable(info: DatasetInfo, con: duckdb.DuckDBPyConnection
                    ) -> duckdb.DuckDBPyRelation:
    rel = _parquet_rows(info, con)
    return rel.filter(_complete(rel, info.kind))


def _parquet_left_out(info: DatasetInfo, con: duckdb.DuckDBPyConnection
                      ) -> duckdb.DuckDBPyRelation:
    rel = _parquet_rows(info, con)
    return rel.filter(_complete(rel, info.kind).__invert__()).select(
        *[duckdb.ColumnExpression(c) for c in rel.columns], _reason(rel, info.kind))


def _parquet_quarantine(info: DatasetInfo) -> pd.DataFrame:
    con = utc_database()
    try:
        return _parquet_left_out(info, con).df()
    finally:
        con.close()


def canonical(rel: duckdb.DuckDBPyRelation, mapping: dict[str, str]
              ) -> duckdb.DuckDBPyRelation:
    """``rel`` with source columns renamed to the canonical names of ``mapping``
    (``{canonical: source}``) and cast to their types; other columns kept as they are."""
    missing = {k: v for k, v in mapping.items() if v not in rel.columns}
    if missing:
        raise ExternalSourceError(
            "The source has no column " + ", ".join(f"{v!r} (for {k})"
                                                    for k, v in missing.items()) + ".",
            "Its columns are: " + ", ".join(rel.columns) + ". Register it again with a "
            "mapping that names them.")
    sources = {v: k for k, v in mapping.items()}
    types = dict(zip(rel.columns, rel.types, strict=True))
    out = []
    for column in rel.columns:
        name = sources.get(column, column)
        if column not in sources and name in mapping:
            continue  # a column named like a canonical one that another column stands for
        out.append(_typed(duckdb.ColumnExpression(column), name, str(types[column])).alias(name))
    return rel.select(*out)


def _typed(expr: duckdb.Expression, name: str, source_type: str) -> duckdb.Expression:
    if name == "timestamp":
        if "TIME ZONE" in source_type:
            return duckdb.FunctionExpression("timezone", duckdb.ConstantExpression("UTC"), expr)
        return expr.try_cast(_T.TIMESTAMP)
    return expr.cast(_TYPES[name]) if name in _TYPES else expr


def full_mapping(columns: list[str], kind: Kind, mapping: dict[str, str]) -> dict[str, str]:
    """``mapping`` with canonical columns the source has under their own name added."""
    unknown = [k for k in mapping if k not in CANONICAL[kind]]
    if unknown:
        raise MappingError(f"{', '.join(unknown)} is not a {kind} column.",
                           "Map onto: " + ", ".join(CANONICAL[kind]) + ".")
    out = {c: c for c in CANONICAL[kind] if c in columns and c not in mapping.values()}
    out.update(mapping)
    lacking = [c for c in REQUIRED[kind] if c not in out]
    if lacking:
        raise MappingError(
            f"The source has no {', '.join(lacking)} column.",
            "Pass mapping={canonical: source column}, e.g. "
            f"mapping={{'{lacking[0]}': 'your_column'}}; its columns are: "
            + ", ".join(columns) + ".")
    return out


def describe_parquet(path: str | os.PathLike[str], kind: Kind, mapping: dict[str, str],
                     con: duckdb.DuckDBPyConnection) -> Described:
    """Check and profile a Parquet file or folder for ``Workspace.register_parquet``."""
    real, files = parquet_files(path)
    raw = con.read_parquet(files, union_by_name=True)
    mapping = full_mapping(list(raw.columns), kind, mapping)
    info = DatasetInfo("", "", kind, None, 0, 0, mapping, None, None, None, {}, {},  # type: ignore[arg-type]
                       f"parquet:{real}")
    rows = _parquet_usable(info, con)
    dropped = _parquet_left_out(info, con)
    reasons = dict(dropped.aggregate("_reason, count(*)", "_reason").fetchall())
    profile = profile_of(rows, kind)
    counts = (int(profile["rows"]), sum(int(v) for v in reasons.values()))
    report = {"kind": kind, "rows_read": sum(counts), "rows_imported": counts[0],
              "rows_quarantined": counts[1], "reasons": reasons, "mapping": mapping,
              "files": len(files), "file_format": "parquet", "notes": [
                  "Read in place at every query; nothing was copied into the workspace."]}
    return Described(info.location or "", mapping, profile, report, counts)


def _scalar(rel: duckdb.DuckDBPyRelation, column: str, aggregate: str) -> Any:
    """One aggregate (fixed text over the column renamed ``v``) of a user-named column."""
    return rel.select(duckdb.ColumnExpression(column).alias("v")).aggregate(
        aggregate).fetchall()[0][0]


def profile_of(rel: duckdb.DuckDBPyRelation, kind: Kind) -> dict[str, Any]:
    """The keys ``ingest.profile`` gives (rows, customers, first, last, touchpoints,
    channels, stages, attributes; ``customer_level`` for events), from DuckDB aggregates."""
    rows = int(rel.count("*").fetchall()[0][0])
    out: dict[str, Any] = {"rows": rows}
    if "customer_id" in rel.columns:
        out["customers"] = int(_scalar(rel, "customer_id", "count(DISTINCT v)"))
    if "timestamp" in rel.columns and rows:
        out["first"] = str(_scalar(rel, "timestamp", "min(v)"))
        out["last"] = str(_scalar(rel, "timestamp", "max(v)"))
    for name, key in (("touchpoint", "touchpoints"), ("channel", "channels"),
                      ("stage", "stages")):
        if name in rel.columns:
            counts = rel.select(duckdb.ColumnExpression(name).alias("v")).filter(
                "v IS NOT NULL").aggregate("v, count(*) AS n", "v").order("n DESC, v").limit(500)
            out[key] = {str(v): int(n) for v, n in counts.fetchall()}
    if kind == "feedback":
        out["has_text"] = "text" in rel.columns and bool(_scalar(rel, "text", "count(v)"))
    out["attributes"] = _attributes(rel, kind)
    if kind == "events":
        out["customer_level"] = customer_level_columns(rel)
    return out


def _attributes(rel: duckdb.DuckDBPyRelation, kind: Kind) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for column, kind_of in zip(rel.columns, rel.types, strict=True):
        if column in CANONICAL[kind] or column in {"text", "score"} or str(kind_of) != "VARCHAR":
            continue
        values = rel.select(duckdb.ColumnExpression(column).alias("v")).filter(
            "v IS NOT NULL").distinct().limit(_MAX_ATTRIBUTE_VALUES + 1).fetchall()
        if 1 < len(values) <= _MAX_ATTRIBUTE_VALUES:
            found[column] = sorted(str(v) for (v,) in values)
    return found


SCHEMES: dict[str, Scheme] = {
    "parquet": Scheme(_parquet_usable, _parquet_quarantine),
    "spark": Scheme(spark_source.resolve, spark_source.quarantine),
}


def parquet_head(path: str | os.PathLike[str], rows: int = 1000) -> pd.DataFrame:
    """The first ``rows`` rows of a Parquet file or folder, once checked against the roots
    (the preview before :meth:`Workspace.register_parquet`)."""
    _, files = parquet_files(path)
    con = utc_database()
    try:
        return con.read_parquet(files, union_by_name=True).limit(rows).df()
    finally:
        con.close()
