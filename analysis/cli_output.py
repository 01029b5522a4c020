"""What the command line writes: result tables (Parquet or formula-safe CSV), figures as
standalone HTML pages that open offline, and ``manifest.json`` describing the run."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa

from analysis import exports
from analysis.review_pack import review_pack

Format = Literal["parquet", "csv"]

#: Distributions whose versions the manifest records (pyspark only when it was used).
VERSIONED = ("pandas", "numpy", "pyarrow", "duckdb", "narwhals", "plotly", "lifelines",
             "statsmodels", "scikit-learn", "scipy", "pyspark")


@dataclass(frozen=True)
class Output:
    """What one command produced: named tables, titled figures, scalar results and notes
    (statuses and messages of degenerate results, warnings)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, tuple[str, go.Figure]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy Parquet can hold: text column names, a plain index, and object columns that
    mix types (or hold containers) written as text."""
    out = df.reset_index(drop=True) if not isinstance(df.index, pd.RangeIndex) else df.copy()
    out.columns = [str(c) for c in out.columns]
    for column in out.columns:
        values = out[column]
        if values.dtype != object:
            continue
        try:
            pa.array(values, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            out[column] = values.map(lambda v: v if v is None or (isinstance(v, float)
                                                                   and math.isnan(v))
                                     else str(v))
    return out


def write_table(df: pd.DataFrame, directory: Path, name: str, fmt: Format) -> Path:
    """``name`` as ``name.parquet`` or formula-safe ``name.csv`` in ``directory``."""
    path = directory / f"{name}.{fmt}"
    if fmt == "csv":
        path.write_bytes(exports.safe_csv(df.reset_index(drop=True)
                                          if not isinstance(df.index, pd.RangeIndex) else df))
    else:
        arrow_safe(df).to_parquet(path, index=False)
    return path


def write_figure(fig: go.Figure, directory: Path, name: str, title: str,
                 settings: list[tuple[str, str]]) -> Path:
    """A figure as a self-contained HTML page (plotly.js inlined, nothing fetched), with
    the settings that reproduce it."""
    path = directory / f"{name}.html"
    path.write_text(review_pack(title, settings=settings, figures=[(title, fig)]),
                    encoding="utf-8")
    return path


def versions() -> dict[str, str]:
    """Python, this project and the libraries that shape the results."""
    out = {"python": platform.python_version()}
    for name in ("journey-analytics", *VERSIONED):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def jsonable(value: Any) -> Any:
    """Options and results as JSON values (dates as ISO text, NaN as null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, date | datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return jsonable(value.item())
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def write_all(output: Output, directory: Path, fmt: Format,
              settings: list[tuple[str, str]], quarantine: dict[str, pd.DataFrame]
              ) -> list[dict[str, Any]]:
    """Every table, quarantine and figure of a run; returns the manifest's file entries."""
    directory.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    for name, table in output.tables.items():
        path = write_table(table, directory, name, fmt)
        files.append({"file": path.name, "kind": "table", "rows": len(table),
                      "columns": [str(c) for c in table.columns]})
    for kind, rows in quarantine.items():
        path = write_table(rows, directory, f"quarantine_{kind}", fmt)
        files.append({"file": path.name, "kind": "quarantine", "rows": len(rows),
                      "columns": [str(c) for c in rows.columns]})
    for name, (title, fig) in output.figures.items():
        path = write_figure(fig, directory, name, title, settings)
        files.append({"file": path.name, "kind": "figure", "title": title})
    return files


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """``manifest.json``: the command, options, source, files, results and versions."""
    path = directory / "manifest.json"
    path.write_text(json.dumps(jsonable(manifest), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def summary_lines(command: str, directory: Path, files: list[dict[str, Any]],
                  source: dict[str, Any], notes: list[str]) -> list[str]:
    """What was written where, with row counts and quarantined rows, for stdout."""
    lines = [f"{command}: wrote {len(files) + 1} files to {directory}"]
    width = max((len(f["file"]) for f in files), default=10)
    for f in files:
        what = f"{f['rows']:,} rows" if "rows" in f else "figure (HTML, opens offline)"
        if f["kind"] == "quarantine":
            what += " quarantined, with their reason in _reason"
        lines.append(f"  {f['file']:<{width}}  {what}")
    lines.append(f"  {'manifest.json':<{width}}  what was run, on what, with which versions")
    lines.append("source: " + source_text(source))
    lines += [f"note: {n}" for n in notes]
    return lines


def source_text(source: dict[str, Any]) -> str:
    """The source in one line: what was read, rows used and quarantined."""
    if source["type"] == "file":
        text = (f"{source['path']}: {source['rows_read']:,} rows read, "
                f"{source['rows_imported']:,} used, {source['rows_quarantined']:,} quarantined")
    elif source["type"] == "workspace":
        text = (f"dataset {source['name']!r} ({source['dataset']}) in {source['workspace']}: "
                f"{source['rows']:,} rows, {source['rows_quarantined']:,} quarantined at import")
    else:
        text = f"Spark table {source['table']}"
    feedback = source.get("feedback")
    if feedback:
        if "rows_read" in feedback:
            text += (f"; feedback {feedback['path']}: {feedback['rows_read']:,} rows read, "
                     f"{feedback['rows_quarantined']:,} quarantined")
        elif "name" in feedback:
            text += f"; linked feedback {feedback['name']!r} ({feedback['rows']:,} rows)"
        else:
            text += f"; feedback table {feedback['table']}"
    return text
