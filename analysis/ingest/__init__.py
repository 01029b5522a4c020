"""Ingestion: read any export, guess the column mapping, coerce, quarantine bad rows.

>>> df = read_table("export.csv")                       # doctest: +SKIP
>>> mapping = guess_mapping(df, "events")               # doctest: +SKIP
>>> result = prepare(df, mapping, "events")             # doctest: +SKIP
>>> result.data, result.quarantine, result.report       # doctest: +SKIP

Nothing is dropped silently: every row read ends up either in ``result.data`` or in
``result.quarantine`` with the reason, and ``report.rows_read == rows_imported +
rows_quarantined``.
"""

from analysis.ingest.mapping import FRAGMENTS, SYNONYMS, guess_mapping
from analysis.ingest.prepare import prepare
from analysis.ingest.reading import read_table
from analysis.ingest.report import IngestReport, IngestResult, profile

__all__ = [
    "FRAGMENTS",
    "SYNONYMS",
    "IngestReport",
    "IngestResult",
    "Progress",
    "guess_mapping",
    "import_csv_stream",
    "prepare",
    "profile",
    "read_head",
    "read_table",
]
_STREAMING = {"Progress", "import_csv_stream", "read_head"}


def __getattr__(name: str):
    # The streaming import writes to the store, which imports this package: load it on use.
    if name in _STREAMING:
        from analysis.ingest import streaming

        return getattr(streaming, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
