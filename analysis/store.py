"""The workspace: a directory of Parquet files and a SQLite catalog that processes share.

Layout::

    <workspace>/catalog.sqlite                    catalog, definitions, meta (SQLite, WAL)
    <workspace>/datasets/<id>/data.parquet        one dataset (events in journey order)
    <workspace>/datasets/<id>/quarantine.parquet  its rows set apart at import, with _reason
    <workspace>/tmp/<id>-<random>/                imports in progress

Each dataset is of one kind (events, feedback or customers) and named by an unguessable random
id; feedback and customer tables can be linked to an events dataset so that they travel with it.

Concurrency: the app, notebooks and the command line open the same workspace at once. Readers
never wait; writers queue on SQLite's write lock (30 s busy timeout) and, inside a process
(browser sessions are threads), on a lock of their own. Each ``Workspace`` queries Parquet
through its own in-memory DuckDB connection.

Atomicity: an import writes its Parquet files into ``tmp/``, fsyncs them, renames the folder
to ``datasets/<id>/`` and only then inserts its catalog and definitions rows in one SQLite
transaction; a dataset exists for readers once its catalog row does. A failed import removes
its folder; a killed one leaves it for the next writable open, which removes folders whose
import lock (``.lock``, held with ``flock`` while importing) is free, and folders without a
lock once they are an hour old.

External datasets (``register_parquet``, ``register_external``) are catalog rows with a
``location``, read by ``analysis.sources`` (nothing is copied). Queries run in UTC.

Migration: a workspace from before (one DuckDB file) is converted on the first writable open.
When ``path`` is such a file, the directory takes its place at the same path and the file is
kept beside it as ``<path>.migrated``; when the default directory does not exist yet but
``data/workspace.duckdb`` does, that file is converted into ``data/workspace``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import pandas as pd

from analysis import catalog, legacy, sources
from analysis import workspace_files as files
from analysis.catalog import DatasetInfo
from analysis.definitions import Definitions, guess_definitions, guess_from_data
from analysis.frames import utc_database
from analysis.ingest import IngestResult
from analysis.ingest import profile as table_profile
from analysis.naming import clean_name, unique_name
from analysis.precompute import PRECOMPUTED
from analysis.schema import AnalysisError, Kind, UnknownDatasetError

__all__ = ["DEFAULT_PATH", "WORKSPACE_ENV", "DatasetInfo", "Workspace", "WorkspaceError",
           "new_id", "validate_id"]

#: Environment variable that overrides the workspace location.
WORKSPACE_ENV = "JOURNEY_WORKSPACE"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "workspace"
#: The single-file workspace of earlier versions, converted when DEFAULT_PATH is opened.
LEGACY_DEFAULT = DEFAULT_PATH.with_name("workspace.duckdb")
DATA_FILE, QUARANTINE_FILE = files.DATA_FILE, files.QUARANTINE_FILE

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


class WorkspaceError(AnalysisError):
    """The workspace cannot be opened or written."""


def validate_id(dataset_id: Any) -> str:
    """The id itself if it has the shape of a dataset id, else :class:`UnknownDatasetError`."""
    if not isinstance(dataset_id, str) or not _ID_PATTERN.fullmatch(dataset_id):
        raise UnknownDatasetError("That is not a valid dataset id.", "Pick a dataset from "
                                  "the list; ids are 32 hexadecimal characters.")
    return dataset_id


def new_id() -> str:
    """A 128-bit random dataset id."""
    return secrets.token_hex(16)


class Workspace:
    """A workspace directory with its catalog.

    Parameters
    ----------
    path
        The workspace directory; default: ``$JOURNEY_WORKSPACE`` or ``data/workspace``.
    clock
        Returns the current time for the catalog's ``created`` column (injectable for tests).
    read_only
        Open an existing workspace for reading only (the command line): nothing is created,
        and it works while other processes write.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 clock: Callable[[], datetime] | None = None, read_only: bool = False) -> None:
        self.path = Path(path or os.environ.get(WORKSPACE_ENV) or DEFAULT_PATH).resolve()
        self.read_only = read_only
        self._clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))
        #: Test hook called inside the catalog transaction of an import, just before it commits.
        self._before_commit: Callable[[], None] | None = None
        self._catalog = self.path / catalog.CATALOG_FILE
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(str(self.path), threading.RLock())
        try:
            if read_only:
                self._check_readable()
            else:
                self._open_writable()
        except (OSError, duckdb.Error, sqlite3.Error) as exc:
            raise WorkspaceError(
                f"The workspace {self.path} cannot be opened ({exc}).",
                f"Check the path and its permissions, or set {WORKSPACE_ENV} to another.",
            ) from exc
        self._con = utc_database()

    def _check_readable(self) -> None:
        if legacy.is_legacy(self.path):
            raise WorkspaceError(
                f"{self.path} is a workspace file of an earlier version.",
                "Open it once with the app (or Workspace(path)) to convert it, then again.")
        if not self._catalog.is_file():
            raise WorkspaceError(f"There is no workspace at {self.path}.",
                                 f"Pass the directory the app uses, or set {WORKSPACE_ENV}.")

    def _open_writable(self) -> None:
        with self._lock:
            fallback = LEGACY_DEFAULT if self.path == DEFAULT_PATH.resolve() else None
            legacy.convert(self.path, fallback, lambda p: Workspace(p, clock=self._clock))
            for sub in ("datasets", "tmp"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            catalog.create(self._catalog)
            self._sweep()

    # ------------------------------------------------------------------ connections
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection for this thread (cursors of the workspace's in-memory one)."""
        return self._con.cursor()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ catalog
    def datasets(self, kind: Kind | None = None) -> list[DatasetInfo]:
        """All catalog entries (optionally of one kind), newest first."""
        with catalog.reading(self._catalog) as db:
            return catalog.select(db, "? IS NULL OR kind = ?", (kind, kind))

    def get(self, dataset_id: Any) -> DatasetInfo:
        """The catalog entry of an id; :class:`UnknownDatasetError` if malformed or unknown."""
        dataset_id = validate_id(dataset_id)
        with catalog.reading(self._catalog) as db:
            found = catalog.select(db, "id = ?", (dataset_id,))
        if not found:
            raise UnknownDatasetError(
                "There is no dataset with that id in this workspace.",
                "It may have been deleted; pick another dataset from the list.",
            )
        return found[0]

    def linked(self, dataset_id: str) -> list[DatasetInfo]:
        """Feedback and customer datasets linked to an events dataset (oldest first)."""
        validate_id(dataset_id)
        with catalog.reading(self._catalog) as db:
            return catalog.select(db, "linked_to = ?", (dataset_id,), order="created, name")

    def find_by_checksum(self, checksum: str, kind: Kind) -> DatasetInfo | None:
        with catalog.reading(self._catalog) as db:
            found = catalog.select(db, "source_checksum = ? AND kind = ?", (checksum, kind))
        return found[0] if found else None

    # ------------------------------------------------------------------ data
    def table(self, dataset_id: str, con: duckdb.DuckDBPyConnection | None = None, *,
              precomputed: bool = False) -> duckdb.DuckDBPyRelation:
        """The dataset as a lazy DuckDB relation (touchpoint, channel, stage: ENUMs of all
        its values) or a PySpark DataFrame (``spark:``), without ``PRECOMPUTED`` unless asked.
        Relations that are joined together must come from the same ``con``."""
        info = self.get(dataset_id)
        con = con or self.cursor()
        if info.location is not None:
            rel = sources.resolve(info, con)
        else:
            rel = con.read_parquet(str(self._folder(info.id) / DATA_FILE))
            rel = rel if precomputed else sources.drop_columns(rel, PRECOMPUTED)
        duck = isinstance(rel, duckdb.DuckDBPyRelation) and info.kind == "events"
        return files.with_enums(con, rel, info.id) if duck else rel

    def to_pandas(self, dataset_id: str) -> pd.DataFrame:
        return self.table(dataset_id).df()

    def quarantine(self, dataset_id: str) -> pd.DataFrame:
        """The rows set apart at import (or left out of an external source), with ``_reason``."""
        info = self.get(dataset_id)
        con = self.cursor()
        if info.location is not None:
            return sources.quarantine(info)
        return con.read_parquet(str(self._folder(info.id) / QUARANTINE_FILE)).df()

    def known_customers(self, dataset_id: str, customer_ids: list[str]) -> int:
        """How many of ``customer_ids`` (distinct) appear in a stored table's customer_id."""
        if not customer_ids or "customer_id" not in self.get(dataset_id).mapping:
            return 0
        wanted = sorted({str(c) for c in customer_ids})
        customer = nw.col("customer_id")
        found = nw.from_native(self.table(dataset_id)).filter(
            customer.cast(nw.String).is_in(wanted)).select(customer.n_unique())
        return int(found.collect().item() or 0)

    def _folder(self, dataset_id: str) -> Path:
        return self.path / "datasets" / validate_id(dataset_id)

    # ------------------------------------------------------------------ imports
    def import_result(
        self,
        result: IngestResult,
        *,
        name: str,
        source_checksum: str | None = None,
        source_name: str | None = None,
        linked_to: str | None = None,
        profile: dict[str, Any] | None = None,
    ) -> DatasetInfo:
        """Store a prepared table and its quarantine atomically; return its entry."""
        name = _clean_name(name)
        self._check_link(linked_to)
        report = result.report
        profile = dict(profile or table_profile(result.data, report.kind))
        guessed = (guess_from_data(result.data, profile) if report.kind == "events"
                   else Definitions())
        dataset_id, con = new_id(), self.cursor()
        with self._import_dir(dataset_id) as work:
            level = self._write_dataset(work, con.from_df(files.storable(result.data)),
                                        con.from_df(files.storable(result.quarantine)), report.kind)
            if report.kind == "events":
                profile["customer_level"] = level
            entry = DatasetInfo(
                dataset_id, name, report.kind, self._clock(), len(result.data),
                len(result.quarantine), report.mapping, source_checksum, source_name,
                linked_to, report.to_dict(), profile)
            return self._commit_import(work, entry, guessed.to_dict())

    def _import_dir(self, dataset_id: str) -> AbstractContextManager[Path]:
        """A new folder under ``tmp/`` for one import, its lock held until the block ends;
        removed after an error (``_commit_import`` moves it to ``datasets/``)."""
        return files.import_dir(self.path / "tmp", validate_id(dataset_id))

    def _write_dataset(self, work: Path, data: duckdb.DuckDBPyRelation,
                       quarantine: duckdb.DuckDBPyRelation, kind: Kind) -> list[str]:
        return files.write_dataset(work, data, quarantine, kind)

    def _commit_import(self, work: Path, entry: DatasetInfo,
                       definitions: dict[str, Any] | None) -> DatasetInfo:
        """Move an import's folder to ``datasets/<id>`` and add its catalog row; on any
        error the folder goes again. Returns the stored entry (its name made unique)."""
        final = self._folder(entry.id)
        files.publish(work, final)
        try:
            self._commit_entry(entry, definitions)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        (final / files.LOCK_FILE).unlink(missing_ok=True)
        return self.get(entry.id)

    def _commit_entry(self, entry: DatasetInfo, definitions: dict[str, Any] | None) -> None:
        with self._lock, catalog.writing(self._catalog) as db:
            entry = replace(entry, name=unique_name(entry.name, catalog.names(db)))
            catalog.insert(db, entry, definitions)  # a second "shop" is "shop (2)"
            if self._before_commit is not None:
                self._before_commit()

    def register_external(
        self, location: str, *, name: str, kind: Kind, mapping: dict[str, str],
        profile: dict[str, Any], report: dict[str, Any] | None = None,
        counts: tuple[int, int] = (0, 0), linked_to: str | None = None,
        source_checksum: str | None = None,
    ) -> DatasetInfo:
        """Add a catalog entry for data read from ``location`` when queried (nothing is
        copied; ``analysis.sources`` knows its scheme); returns the entry."""
        sources.check_scheme(location)
        self._check_link(linked_to)
        entry = DatasetInfo(new_id(), _clean_name(name), kind, self._clock(), int(counts[0]),
                            int(counts[1]), dict(mapping), source_checksum, None, linked_to,
                            report or {}, profile, location)
        guessed = guess_definitions(profile) if kind == "events" else Definitions()
        self._commit_entry(entry, guessed.to_dict())
        return self.get(entry.id)

    def register_parquet(self, path: str | os.PathLike[str], *, name: str,
                         kind: Kind = "events", mapping: dict[str, str] | None = None,
                         linked_to: str | None = None) -> DatasetInfo:
        """Register a Parquet file or folder on this server, read in place (off unless
        ``$JOURNEY_PARQUET_ROOTS`` is set; see ``analysis.sources``); ``mapping``:
        ``{canonical: source column}`` for names that differ."""
        found = sources.describe_parquet(path, kind, mapping or {}, self.cursor())
        return self.register_external(
            found.location, name=name, kind=kind, mapping=found.mapping,
            profile=found.profile, report=found.report, counts=found.counts,
            linked_to=linked_to)

    def _check_link(self, linked_to: str | None) -> None:
        if linked_to is not None and self.get(linked_to).kind != "events":
            raise AnalysisError(
                "Feedback and customer tables can only be linked to an events dataset.",
                "Pick an events dataset to link to, or none.",
            )

    # ------------------------------------------------------------------ edits
    def rename(self, dataset_id: str, name: str) -> DatasetInfo:
        self.get(dataset_id)
        with self._lock, catalog.writing(self._catalog) as db:
            new = unique_name(_clean_name(name), catalog.names(db, but=dataset_id))
            db.execute("UPDATE catalog SET name = ? WHERE id = ?", [new, dataset_id])
        return self.get(dataset_id)

    def delete(self, dataset_id: str) -> list[str]:
        """Delete a dataset and those linked to it; returns the deleted ids. Only the
        catalog entry of an external dataset goes: its files are left alone."""
        info = self.get(dataset_id)
        infos = [info, *self.linked(dataset_id)]
        with self._lock, catalog.writing(self._catalog) as db:
            for i in infos:
                db.execute("DELETE FROM catalog WHERE id = ?", [i.id])
                db.execute("DELETE FROM definitions WHERE id = ?", [i.id])
        for i in infos:
            if i.location is None:
                shutil.rmtree(self._folder(i.id), ignore_errors=True)
        return [i.id for i in infos]

    def definitions(self, dataset_id: str) -> Definitions:
        """The dataset's definitions (conversion, churn, stages…): as saved, or as guessed at
        import; guessed from the catalog profile for datasets imported before they existed."""
        info = self.get(dataset_id)
        with catalog.reading(self._catalog) as db:
            row = db.execute("SELECT value FROM definitions WHERE id = ?",
                             [dataset_id]).fetchone()
        if row is None:
            return guess_definitions(info.profile) if info.kind == "events" else Definitions()
        return Definitions.from_dict(json.loads(row[0])).restricted(info.profile)

    def set_definitions(self, dataset_id: str, definitions: Definitions) -> Definitions:
        """Save a dataset's definitions (names it does not have are dropped); returns them."""
        info = self.get(dataset_id)
        kept = definitions.restricted(info.profile)
        with self._lock, catalog.writing(self._catalog) as db:
            db.execute("INSERT OR REPLACE INTO definitions VALUES (?, ?)",
                       [dataset_id, json.dumps(kept.to_dict())])
        return kept

    def get_meta(self, key: str) -> str | None:
        with catalog.reading(self._catalog) as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, catalog.writing(self._catalog) as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    # ------------------------------------------------------------------ housekeeping
    def orphan_tables(self) -> list[str]:
        """Dataset folders without a catalog entry (must be empty once imports have ended;
        used by tests)."""
        with catalog.reading(self._catalog) as db:
            known = catalog.ids(db)
        folders = self.path / "datasets"
        return sorted(p.name for p in folders.iterdir() if p.name not in known)

    def _sweep(self) -> None:
        """Remove what killed imports left (see ``workspace_files.sweep``)."""
        files.sweep(self.path, self.orphan_tables)


def _clean_name(name: str) -> str:
    name = clean_name(name)
    if not name:
        raise AnalysisError("A dataset needs a name.", "Type a short name, e.g. 'Web events Q3'.")
    return name
