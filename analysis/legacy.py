"""Converting a workspace of earlier versions (one DuckDB file) into the directory layout.

The conversion is built beside the old file (``<path>.migrating``), then the old file is
renamed ``<path>.migrated`` (kept, never deleted) and the new directory takes the workspace's
path. A conversion interrupted before the first rename starts again; one interrupted between
the two renames is finished by :func:`resume`. Ids, names, creation times, definitions and meta
are kept; events get the columns computed at import (``analysis.precompute``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from analysis.catalog import DatasetInfo

MIGRATED_SUFFIX, STAGING_SUFFIX = ".migrated", ".migrating"


def convert(path: Path, fallback: Path | None, open_workspace: Callable[[Path], Any]) -> None:
    """Convert the old file for ``path`` (see :func:`find`) with ``open_workspace`` (a new
    writable workspace at a path), if there is one; finish an interrupted conversion."""
    old = find(path, fallback)
    if old is not None:
        staged = staging(path)
        shutil.rmtree(staged, ignore_errors=True)  # from a conversion interrupted early
        with open_workspace(staged) as fresh:
            copy_into(old, fresh)
        finish(old, staged, path)
    resume(path)


def is_legacy(path: Path) -> bool:
    """Whether ``path`` is a DuckDB database file (its magic bytes say "DUCK")."""
    try:
        with path.open("rb") as handle:
            return path.is_file() and handle.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


def find(path: Path, fallback: Path | None) -> Path | None:
    """The old workspace file to convert into ``path``: ``path`` itself, or ``fallback``
    (the old default) when ``path`` holds no workspace yet."""
    if is_legacy(path):
        return path
    fresh = not (path / "catalog.sqlite").exists()
    if fallback is not None and fresh and is_legacy(fallback):
        return fallback
    return None


def staging(path: Path) -> Path:
    return path.with_name(path.name + STAGING_SUFFIX)


def finish(old: Path, staged: Path, path: Path) -> None:
    """Keep the old file as ``.migrated`` and put the converted directory at ``path``."""
    os.rename(old, old.with_name(old.name + MIGRATED_SUFFIX))
    resume(path)


def resume(path: Path) -> None:
    """Finish a conversion whose old file was set aside but whose directory was not moved."""
    staged = staging(path)
    if staged.is_dir() and not path.exists():
        os.rename(staged, path)
    elif staged.is_dir() and path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        os.rename(staged, path)


def copy_into(old: Path, workspace: Any) -> int:
    """Copy every dataset, definition and meta value of the file ``old`` into the (new,
    empty) ``workspace``; returns the number of datasets."""
    con = duckdb.connect(str(old), read_only=True)
    try:
        rows = con.execute("SELECT * FROM catalog ORDER BY created").fetchdf()
        saved = dict(con.execute("SELECT id, value FROM definitions").fetchall())
        for row in rows.to_dict("records"):
            _copy_dataset(con, row, saved.get(row["id"]), workspace)
        for key, value in con.execute("SELECT key, value FROM meta").fetchall():
            workspace.set_meta(key, value)
    finally:
        con.close()
    return len(rows)


def _copy_dataset(con: duckdb.DuckDBPyConnection, row: dict[str, Any],
                  definitions: str | None, workspace: Any) -> None:
    dataset_id = row["id"]
    profile = json.loads(row["profile"])
    with workspace._import_dir(dataset_id) as work:
        level = workspace._write_dataset(work, con.table(f"ds_{dataset_id}"),
                                         con.table(f"q_{dataset_id}"), row["kind"])
        if row["kind"] == "events":
            profile["customer_level"] = level
        entry = DatasetInfo(
            dataset_id, row["name"], row["kind"], pd.Timestamp(row["created"]).to_pydatetime(),
            int(row["rows"]), int(row["quarantined"]), json.loads(row["mapping"]),
            _text(row["source_checksum"]), _text(row["source_name"]), _text(row["linked_to"]),
            json.loads(row["report"]), profile)
        workspace._commit_import(work, entry, json.loads(definitions) if definitions else None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
