"""The workspace catalog: one SQLite file (``catalog.sqlite``) that every process shares.

SQLite in WAL mode lets any number of readers run beside one writer at a time; writers wait
for each other (``busy_timeout``) instead of failing. Connections are opened per call: sqlite3
connections belong to the thread that made them, and Streamlit serves sessions from many.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from analysis.schema import Kind

CATALOG_FILE = "catalog.sqlite"
#: How long a writer waits for another process's write to finish, in milliseconds.
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    rows INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    mapping TEXT NOT NULL,
    source_checksum TEXT,
    source_name TEXT,
    linked_to TEXT,
    report TEXT NOT NULL,
    profile TEXT NOT NULL,
    location TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS definitions (id TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = ("id", "name", "kind", "created", "rows", "quarantined", "mapping",
            "source_checksum", "source_name", "linked_to", "report", "profile", "location")


@dataclass(frozen=True)
class DatasetInfo:
    """One catalog entry. ``location``: None for a dataset stored in the workspace, else
    where an external one is read from (``"parquet:/abs/path"``)."""

    id: str
    name: str
    kind: Kind
    created: datetime
    rows: int
    quarantined: int
    mapping: dict[str, str]
    source_checksum: str | None
    source_name: str | None
    linked_to: str | None
    report: dict[str, Any] = field(repr=False)
    profile: dict[str, Any] = field(repr=False)
    location: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.kind}, {self.rows:,} rows)"


def create(path: Path) -> None:
    """The catalog file with its tables (idempotent), in WAL mode (a persistent setting)."""
    with closing(_connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return db


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for queries (each statement sees the last committed state)."""
    with closing(_connect(path)) as db:
        yield db


@contextmanager
def writing(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in a write transaction (taken at once, so that a name chosen as unique
    stays unique): committed when the body ends, rolled back on any error or a kill."""
    with closing(_connect(path)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def select(db: sqlite3.Connection, where: str = "1", params: tuple = (), *,
           order: str = "created DESC, name") -> list[DatasetInfo]:
    """Catalog entries matching ``where`` (a fixed SQL condition with ``?`` parameters)."""
    rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM catalog WHERE {where} "
                      f"ORDER BY {order}", params).fetchall()
    return [_info(dict(zip(_COLUMNS, r, strict=True))) for r in rows]


def insert(db: sqlite3.Connection, info: DatasetInfo,
           definitions: dict[str, Any] | None) -> None:
    """A catalog row and its definitions, if any (inside the caller's transaction)."""
    row = [info.id, info.name, info.kind, info.created.isoformat(sep=" ", timespec="microseconds"),
           info.rows, info.quarantined, json.dumps(info.mapping), info.source_checksum,
           info.source_name, info.linked_to, json.dumps(info.report, default=str),
           json.dumps(info.profile, default=str), info.location]
    db.execute(f"INSERT INTO catalog ({', '.join(_COLUMNS)}) VALUES "
               f"({', '.join('?' * len(_COLUMNS))})", row)
    if definitions is not None:
        db.execute("INSERT OR REPLACE INTO definitions VALUES (?, ?)",
                   [info.id, json.dumps(definitions)])


def ids(db: sqlite3.Connection) -> set[str]:
    return {i for (i,) in db.execute("SELECT id FROM catalog")}


def names(db: sqlite3.Connection, but: str | None = None) -> list[str]:
    return [n for (n,) in db.execute("SELECT name FROM catalog WHERE id IS NOT ?", [but])]


def _info(row: dict[str, Any]) -> DatasetInfo:
    return DatasetInfo(
        id=row["id"], name=row["name"], kind=row["kind"],
        created=datetime.fromisoformat(row["created"]),
        rows=int(row["rows"]), quarantined=int(row["quarantined"]),
        mapping=json.loads(row["mapping"]), source_checksum=row["source_checksum"],
        source_name=row["source_name"], linked_to=row["linked_to"],
        report=json.loads(row["report"]), profile=json.loads(row["profile"]),
        location=row["location"],
    )
