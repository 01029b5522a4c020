"""The workspace: one DuckDB database file holding the dataset catalog and the datasets.

Each dataset is one table of one kind (events, feedback or customers) named after an
unguessable random id; feedback and customer tables can be linked to an events dataset so that
they travel with it. Imports are single transactions: a failure or a killed process leaves no
half dataset behind. Writes from several threads (browser sessions) are serialised.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from analysis.definitions import Definitions, guess_definitions, guess_from_data
from analysis.ingest import IngestReport, IngestResult
from analysis.ingest import profile as table_profile
from analysis.naming import unique_name
from analysis.schema import AnalysisError, Kind, UnknownDatasetError

#: Environment variable that overrides the workspace file location.
WORKSPACE_ENV = "JOURNEY_WORKSPACE"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "workspace.duckdb"

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    rows BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    mapping VARCHAR NOT NULL,
    source_checksum VARCHAR,
    source_name VARCHAR,
    linked_to VARCHAR,
    report VARCHAR NOT NULL,
    profile VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS definitions (id VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
"""


class WorkspaceError(AnalysisError):
    """The workspace file cannot be opened or written."""


@dataclass(frozen=True)
class DatasetInfo:
    """One catalog entry."""

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

    @property
    def label(self) -> str:
        return f"{self.name} ({self.kind}, {self.rows:,} rows)"


def validate_id(dataset_id: Any) -> str:
    """The id itself if it has the shape of a dataset id, else :class:`UnknownDatasetError`."""
    if not isinstance(dataset_id, str) or not _ID_PATTERN.fullmatch(dataset_id):
        raise UnknownDatasetError(
            "That is not a valid dataset id.",
            "Pick a dataset from the list; ids are 32 hexadecimal characters.",
        )
    return dataset_id


def new_id() -> str:
    """A 128-bit random dataset id."""
    return secrets.token_hex(16)


def _table(dataset_id: str) -> str:
    return f"ds_{validate_id(dataset_id)}"


def _quarantine_table(dataset_id: str) -> str:
    return f"q_{validate_id(dataset_id)}"


class Workspace:
    """A DuckDB workspace file with its catalog.

    Parameters
    ----------
    path
        The database file; default: ``$JOURNEY_WORKSPACE`` or ``data/workspace.duckdb``.
    clock
        Returns the current time for the catalog's ``created`` column (injectable for tests).
    read_only
        Open an existing workspace for reading only (the command line): nothing is created.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 clock: Callable[[], datetime] | None = None, read_only: bool = False) -> None:
        self.path = Path(path or os.environ.get(WORKSPACE_ENV) or DEFAULT_PATH).resolve()
        self._clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))
        #: Test hook called inside an import transaction, just before it commits.
        self._before_commit: Callable[[], None] | None = None
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(str(self.path), threading.RLock())
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except (duckdb.Error, OSError) as exc:
            raise WorkspaceError(
                f"The workspace {self.path} cannot be opened ({exc}).",
                f"Close other programs using it, or point {WORKSPACE_ENV} at another file.",
            ) from exc
        with self._lock:
            if not read_only:
                self._con.execute(_SCHEMA)

    # ------------------------------------------------------------------ connections
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection to the workspace for this thread (DuckDB cursors are thread-local)."""
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
        query = "SELECT * FROM catalog WHERE ? IS NULL OR kind = ? ORDER BY created DESC, name"
        rows = self.cursor().execute(query, [kind, kind]).fetchdf()
        return [_info(r) for r in rows.to_dict("records")]

    def get(self, dataset_id: Any) -> DatasetInfo:
        """The catalog entry of an id; :class:`UnknownDatasetError` if malformed or unknown."""
        dataset_id = validate_id(dataset_id)
        rows = self.cursor().execute("SELECT * FROM catalog WHERE id = ?", [dataset_id]).fetchdf()
        if rows.empty:
            raise UnknownDatasetError(
                "There is no dataset with that id in this workspace.",
                "It may have been deleted; pick another dataset from the list.",
            )
        return _info(rows.to_dict("records")[0])

    def linked(self, dataset_id: str) -> list[DatasetInfo]:
        """Feedback and customer datasets linked to an events dataset."""
        validate_id(dataset_id)
        rows = self.cursor().execute(
            "SELECT * FROM catalog WHERE linked_to = ? ORDER BY created", [dataset_id]
        ).fetchdf()
        return [_info(r) for r in rows.to_dict("records")]

    def find_by_checksum(self, checksum: str, kind: Kind) -> DatasetInfo | None:
        rows = self.cursor().execute(
            "SELECT * FROM catalog WHERE source_checksum = ? AND kind = ? LIMIT 1",
            [checksum, kind],
        ).fetchdf()
        return None if rows.empty else _info(rows.to_dict("records")[0])

    # ------------------------------------------------------------------ data
    def table(
        self, dataset_id: str, con: duckdb.DuckDBPyConnection | None = None
    ) -> duckdb.DuckDBPyRelation:
        """The stored dataset as a lazy DuckDB relation.

        Relations that are joined together must come from the same ``con``.
        """
        self.get(dataset_id)
        return (con or self.cursor()).table(_table(dataset_id))

    def to_pandas(self, dataset_id: str) -> pd.DataFrame:
        return self.table(dataset_id).df()

    def quarantine(self, dataset_id: str) -> pd.DataFrame:
        """The rows quarantined at import, with ``_row`` and ``_reason``."""
        self.get(dataset_id)
        return self.cursor().table(_quarantine_table(dataset_id)).df()

    def known_customers(self, dataset_id: str, customer_ids: list[str]) -> int:
        """How many of ``customer_ids`` (distinct) appear in a stored table's customer_id."""
        if not customer_ids or "customer_id" not in self.get(dataset_id).mapping:
            return 0
        wanted = sorted({str(c) for c in customer_ids})
        row = self.cursor().execute(
            f'SELECT count(DISTINCT customer_id) FROM "{_table(dataset_id)}" '
            "WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
            [wanted],
        ).fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ writes
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
        """Store a prepared table and its quarantine in one transaction; return its entry."""
        name = _clean_name(name)
        self._check_link(linked_to)
        dataset_id = new_id()
        report = result.report
        profile = profile or table_profile(result.data, report.kind)
        guessed = (guess_from_data(result.data, profile) if report.kind == "events"
                   else Definitions())
        data = _storable(result.data)
        quarantine = _storable(result.quarantine)
        with self._transaction() as cur:
            cur.register("incoming_data", data)
            cur.register("incoming_quarantine", quarantine)
            cur.execute(f'CREATE TABLE "{_table(dataset_id)}" AS SELECT * FROM incoming_data')
            cur.execute(
                f'CREATE TABLE "{_quarantine_table(dataset_id)}" AS '
                "SELECT * FROM incoming_quarantine"
            )
            self._register(cur, dataset_id, name, report, profile, guessed,
                           (len(result.data), len(result.quarantine)),
                           (source_checksum, source_name, linked_to))
        return self.get(dataset_id)

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor in a new transaction, under the write lock; the body commits, any error
        (or a killed process) rolls it back."""
        with self._lock:
            cur = self.cursor()
            try:
                cur.begin()
                yield cur
            except BaseException:
                cur.rollback()
                raise
            finally:
                cur.close()

    def _check_link(self, linked_to: str | None) -> None:
        if linked_to is not None and self.get(linked_to).kind != "events":
            raise AnalysisError(
                "Feedback and customer tables can only be linked to an events dataset.",
                "Pick an events dataset to link to, or none.",
            )

    def _register(self, cur: duckdb.DuckDBPyConnection, dataset_id: str, name: str,
                  report: IngestReport, profile: dict[str, Any], guessed: Definitions,
                  counts: tuple[int, int], sources: tuple[str | None, ...]) -> None:
        """Catalog entry and definitions of an import whose tables ``cur`` has written in its
        open transaction, then commit (also used by ``ingest.streaming``)."""
        taken = [n for (n,) in cur.execute("SELECT name FROM catalog").fetchall()]
        row = [dataset_id, unique_name(name, taken), report.kind, self._clock(), *counts,
               json.dumps(report.mapping), *sources, json.dumps(report.to_dict(), default=str),
               json.dumps(profile, default=str)]  # a second "shop" is "shop (2)"
        cur.execute("INSERT INTO catalog VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
        cur.execute("INSERT INTO definitions VALUES (?, ?)",
                    [dataset_id, json.dumps(guessed.to_dict())])
        if self._before_commit is not None:
            self._before_commit()
        cur.commit()

    def rename(self, dataset_id: str, name: str) -> DatasetInfo:
        self.get(dataset_id)
        with self._lock:
            cur = self.cursor()
            taken = cur.execute("SELECT name FROM catalog WHERE id <> ?", [dataset_id]).fetchall()
            new = unique_name(_clean_name(name), [n for (n,) in taken])
            cur.execute("UPDATE catalog SET name = ? WHERE id = ?", [new, dataset_id])
        return self.get(dataset_id)

    def delete(self, dataset_id: str) -> list[str]:
        """Delete a dataset and the tables linked to it; returns the deleted ids."""
        self.get(dataset_id)
        ids = [dataset_id] + [d.id for d in self.linked(dataset_id)]
        with self._transaction() as cur:
            for i in ids:
                cur.execute(f'DROP TABLE IF EXISTS "{_table(i)}"')
                cur.execute(f'DROP TABLE IF EXISTS "{_quarantine_table(i)}"')
                cur.execute("DELETE FROM catalog WHERE id = ?", [i])
                cur.execute("DELETE FROM definitions WHERE id = ?", [i])
            cur.commit()
        return ids

    def definitions(self, dataset_id: str) -> Definitions:
        """The dataset's definitions (conversion, churn, stages…): as saved, or as guessed at
        import; guessed from the catalog profile for datasets imported before they existed."""
        info = self.get(dataset_id)
        row = self.cursor().execute(
            "SELECT value FROM definitions WHERE id = ?", [dataset_id]
        ).fetchone()
        if row is None:
            return guess_definitions(info.profile) if info.kind == "events" else Definitions()
        return Definitions.from_dict(json.loads(row[0])).restricted(info.profile)

    def set_definitions(self, dataset_id: str, definitions: Definitions) -> Definitions:
        """Save a dataset's definitions (names it does not have are dropped); returns them."""
        info = self.get(dataset_id)
        kept = definitions.restricted(info.profile)
        with self._lock:
            self.cursor().execute(
                "INSERT OR REPLACE INTO definitions VALUES (?, ?)",
                [dataset_id, json.dumps(kept.to_dict())],
            )
        return kept

    def get_meta(self, key: str) -> str | None:
        row = self.cursor().execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self.cursor().execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value]
            )

    def orphan_tables(self) -> list[str]:
        """Data tables without a catalog entry (must always be empty; used by tests)."""
        tables = self.cursor().execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_name LIKE 'ds_%' OR table_name LIKE 'q_%'"
        ).fetchall()
        known = {i for (i,) in self.cursor().execute("SELECT id FROM catalog").fetchall()}
        return [t for (t,) in tables if t.split("_", 1)[1] not in known]


def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())[:120]
    if not name:
        raise AnalysisError("A dataset needs a name.", "Type a short name, e.g. 'Web events Q3'.")
    return name


def _storable(df: pd.DataFrame) -> pd.DataFrame:
    """Types DuckDB stores well: categoricals become ENUMs, timestamps microseconds."""
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


def _info(row: dict[str, Any]) -> DatasetInfo:
    created = row["created"]
    return DatasetInfo(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        created=created.to_pydatetime() if hasattr(created, "to_pydatetime") else created,
        rows=int(row["rows"]),
        quarantined=int(row["quarantined"]),
        mapping=json.loads(row["mapping"]),
        source_checksum=row["source_checksum"] if isinstance(row["source_checksum"], str) else None,
        source_name=row["source_name"] if isinstance(row["source_name"], str) else None,
        linked_to=row["linked_to"] if isinstance(row["linked_to"], str) else None,
        report=json.loads(row["report"]),
        profile=json.loads(row["profile"]),
    )

