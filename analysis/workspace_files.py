"""The workspace's folders on disk: import folders, their locks, fsync, sweeping leftovers.

An import works in ``tmp/<id>-<random>/`` holding ``.lock`` with ``flock`` (released by the
operating system when its process dies, however it dies); :func:`publish` moves the folder to
``datasets/<id>`` once its files are on disk. :func:`sweep` removes folders whose lock is free
(and, where ``flock`` does not exist or a folder has no lock, those over an hour old).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import duckdb
import pandas as pd

from analysis.precompute import add_journey_columns, customer_level_columns, quoted
from analysis.schema import EVENT_SEQ

try:
    import fcntl
except ImportError:  # Windows: folders left by a killed import go after an hour
    fcntl = None  # type: ignore[assignment]

LOCK_FILE, DATA_FILE, QUARANTINE_FILE = ".lock", "data.parquet", "quarantine.parquet"
#: Age after which a folder without a catalog row and without a lock file is abandoned.
ABANDONED_SECONDS = 3600


@contextmanager
def import_dir(tmp: Path, dataset_id: str) -> Iterator[Path]:
    """A new folder in ``tmp`` for one import, locked until the block ends, then removed
    (it is gone already when :func:`publish` moved it)."""
    work = tmp / f"{dataset_id}-{secrets.token_hex(4)}"
    work.mkdir(parents=True)
    lock = hold(work / LOCK_FILE)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        lock.close()


def write_dataset(work: Path, data: duckdb.DuckDBPyRelation,
                  quarantine: duckdb.DuckDBPyRelation, kind: str) -> list[str]:
    """Write a dataset's Parquet files into ``work``: events in journey order with the
    precomputed columns. Returns the customer-level columns (events; else [])."""
    level: list[str] = []
    if kind == "events":
        order = ["customer_id", "timestamp", *([EVENT_SEQ] if EVENT_SEQ in data.columns
                                               else [])]
        level = customer_level_columns(data)
        data = add_journey_columns(data).sort(*[duckdb.ColumnExpression(c) for c in order])
    data.write_parquet(str(work / DATA_FILE), compression="zstd")
    quarantine.write_parquet(str(work / QUARANTINE_FILE), compression="zstd")
    return level


def publish(work: Path, final: Path) -> None:
    """Flush ``work``'s files to disk, then rename it to ``final`` (atomic on one volume)."""
    for path in work.iterdir():
        if path.is_file():
            fsync(path)
    fsync(work)
    os.rename(work, final)
    fsync(final.parent)

def hold(path: Path) -> IO[str]:
    """An import's lock file, locked until the returned handle is closed."""
    handle = path.open("w")
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def abandoned(path: Path, now: float) -> bool:
    """Whether the import that made ``path`` has ended without finishing."""
    lock = path / LOCK_FILE
    if fcntl is not None and lock.is_file():
        try:
            with lock.open("r") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its process is alive and importing
            return False
        return True
    try:
        return now - path.stat().st_mtime > ABANDONED_SECONDS
    except FileNotFoundError:
        return False


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep(root: Path, orphans: Callable[[], list[str]]) -> None:
    """Remove what killed imports left: folders in ``tmp/``, and folders in ``datasets/``
    that ``orphans()`` names (no catalog row), once abandoned (asked again before removing,
    as an import may have committed meanwhile)."""
    now = time.time()
    for entry in (root / "tmp").iterdir():
        if abandoned(entry, now):
            remove(entry)
    for folder in orphans():
        path = root / "datasets" / folder
        if abandoned(path, now) and folder in orphans():
            remove(path)


def storable(df: pd.DataFrame) -> pd.DataFrame:
    """Types DuckDB writes well: categoricals as dictionary strings, timestamps microseconds."""
    out = df.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            # DuckDB turns a categorical with object categories into an ENUM.
            out[col] = pd.Categorical(out[col].astype(object))
        elif pd.api.types.is_datetime64_any_dtype(dtype) and not isinstance(
            dtype, pd.DatetimeTZDtype
        ):
            out[col] = out[col].astype("datetime64[us]")
    return out


#: Columns read back as ENUMs over the whole dataset's values (as the workspace stored them
#: before Parquet): checks of touchpoint names then hold for the dataset, not for what a
#: filter left, and sort order stays alphabetical.
ENUM_COLUMNS = ("touchpoint", "channel", "stage")


def with_enums(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, key: str
               ) -> duckdb.DuckDBPyRelation:
    """``rel`` with its :data:`ENUM_COLUMNS` cast to ENUM types named after ``key`` (a
    validated dataset id), created once per database from the data (values never enter SQL
    text: the type is filled from a registered relation)."""
    present = [c for c in ENUM_COLUMNS if c in rel.columns
               and str(rel.types[rel.columns.index(c)]) == "VARCHAR"]
    if not present:
        return rel
    exprs = []
    for column in rel.columns:
        name = f"enum_{column}_{key}"
        enum = _enum_type(con, rel, column, name) if column in present else None
        expr = duckdb.ColumnExpression(column) if enum is None else _as_enum(column, name, enum)
        exprs.append(expr.alias(column))
    return rel.select(*exprs)


#: Up to this many values, an ENUM is read through a lookup in its list of values.
LOOKUP_VALUES = 32


def _as_enum(column: str, name: str, enum: duckdb.DuckDBPyType) -> duckdb.Expression:
    """``column`` cast to the ENUM ``name``: the same values, type and errors as a cast.

    A cast hashes every row's text (a sixth of a CPU-second per 10M events, in every query
    that reads the column). A list lookup is a function DuckDB evaluates once per value of a
    Parquet column's dictionary instead, about 4x faster there (and slower on plain text with
    many values, hence :data:`LOOKUP_VALUES`); a value missing from the list (none for
    data whose ENUM was made from it) falls through to the cast and its error. Only the
    fixed column and the validated type name enter the SQL text.
    """
    values = dict(enum.children).get("values", [])
    quoted_column, quoted_type = quoted(column), quoted(name)
    if not 0 < len(values) <= LOOKUP_VALUES:
        return duckdb.SQLExpression(f"CAST({quoted_column} AS {quoted_type})")
    values_sql = f"enum_range(NULL::{quoted_type})"
    return duckdb.SQLExpression(
        f"coalesce(list_extract(CAST({values_sql} AS {quoted_type}[]), "
        f"list_position({values_sql}, {quoted_column})), CAST({quoted_column} AS {quoted_type}))")


def _enum_type(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, column: str,
               name: str) -> duckdb.DuckDBPyType | None:
    """The ENUM type of the column's values; None when it has none (an ENUM needs one)."""
    try:
        return con.type(name)
    except duckdb.CatalogException:
        pass
    values = rel.select(duckdb.ColumnExpression(column).alias("v")).filter(
        duckdb.ColumnExpression("v").isnotnull()).distinct().order("v")
    if not values.limit(1).fetchall():
        return None
    view = f"{name}_values"
    try:
        con.register(view, values)
        con.execute(f'CREATE TYPE IF NOT EXISTS "{name}" AS ENUM (SELECT v FROM "{view}")')
    except duckdb.CatalogException:
        pass  # created by another thread meanwhile
    finally:
        con.unregister(view)
    return con.type(name)
