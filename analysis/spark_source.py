"""Spark tables and lake files as workspace datasets, so the app runs its pages on Spark.

The server names its Spark sources in a TOML file given by ``$JOURNEY_SPARK_CONFIG``::

    [spark]                       # optional: on a cluster the active session is used
    master = "local[4]"
    [spark.conf]
    "spark.sql.shuffle.partitions" = "16"

    [[source]]
    name = "Lake events"
    kind = "events"               # events | feedback | customers
    table = "analytics.events"    # a table the session can see (Databricks, Hive) ...
    # path = "s3a://lake/events/" # ... or files: format = "parquet" (default), "delta", "orc"
    [source.mapping]              # canonical = source column, where the names differ
    customer_id = "user_id"

    [[source]]
    name = "Lake feedback"
    kind = "feedback"
    path = "/lake/feedback"
    linked_to = "Lake events"     # travels with that events source, as an upload would

:func:`sync` registers each source once in the workspace catalog (an external entry whose
location is ``spark:`` + the source's settings), with a profile computed on Spark; changing a
source's settings registers it again. The location is resolved when a view asks for the data
(:func:`resolve`): the pages then get a PySpark DataFrame and every analysis runs on Spark.
Rows missing a required value are left out and counted as quarantined, as at an upload.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import narwhals as nw

from analysis.schema import CANONICAL, REQUIRED, AnalysisError, Kind

if TYPE_CHECKING:
    from analysis.store import DatasetInfo, Workspace

#: Environment variable naming the TOML file of Spark sources (unset: no Spark sources).
SPARK_CONFIG_ENV = "JOURNEY_SPARK_CONFIG"
SCHEME = "spark:"
FORMATS = ("parquet", "delta", "orc", "csv", "json")
_MAX_ATTRIBUTE_VALUES = 50


class SparkSourceError(AnalysisError):
    """The Spark configuration is wrong, or Spark cannot read a source."""


@dataclass(frozen=True)
class SparkSource:
    """One configured source: a table name or a path, with its column mapping."""

    name: str
    kind: Kind
    table: str | None = None
    path: str | None = None
    format: str = "parquet"
    mapping: dict[str, str] = field(default_factory=dict)
    linked_to: str | None = None

    def settings(self) -> dict[str, Any]:
        return {"table": self.table, "path": self.path, "format": self.format,
                "mapping": dict(sorted(self.mapping.items())), "kind": self.kind}

    @property
    def location(self) -> str:
        return SCHEME + json.dumps(self.settings(), sort_keys=True)

    @property
    def checksum(self) -> str:
        return "spark-" + hashlib.sha256(self.location.encode()).hexdigest()


@dataclass(frozen=True)
class SparkConfig:
    master: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    sources: tuple[SparkSource, ...] = ()


def configured(env: dict[str, str] | None = None) -> SparkConfig | None:
    """The configuration ``$JOURNEY_SPARK_CONFIG`` names, or None when it is unset."""
    path = (env if env is not None else os.environ).get(SPARK_CONFIG_ENV)
    return read_config(path) if path else None


def read_config(path: str | os.PathLike[str]) -> SparkConfig:
    """Parse and check a Spark sources file; :class:`SparkSourceError` says what to fix."""
    where = Path(path)
    try:
        raw = tomllib.loads(where.read_text(encoding="utf-8"))
    except OSError as error:
        raise SparkSourceError(f"The Spark configuration {where} cannot be read ({error}).",
                               f"Point {SPARK_CONFIG_ENV} at a readable TOML file.") from error
    except tomllib.TOMLDecodeError as error:
        raise SparkSourceError(f"The Spark configuration {where} is not valid TOML ({error}).",
                               "Fix the line it names; see the README for an example.") from error
    spark = raw.get("spark", {})
    sources = tuple(_source(entry, i, where) for i, entry in enumerate(raw.get("source", []), 1))
    names = [s.name for s in sources]
    for s in sources:
        if names.count(s.name) > 1:
            raise SparkSourceError(f"{where}: two sources are named {s.name!r}.",
                                   "Give every [[source]] its own name.")
        if s.linked_to is not None and s.linked_to not in names:
            raise SparkSourceError(f"{where}: source {s.name!r} links to {s.linked_to!r}, "
                                   "which is not a source.",
                                   f"Use one of: {', '.join(names)}.")
    return SparkConfig(master=spark.get("master"),
                       conf={str(k): str(v) for k, v in spark.get("conf", {}).items()},
                       sources=sources)


def _source(entry: dict[str, Any], number: int, where: Path) -> SparkSource:
    label = f"{where}, source {number}"
    name, kind = str(entry.get("name", "")).strip(), entry.get("kind", "events")
    if not name:
        raise SparkSourceError(f"{label} has no name.", 'Add name = "…" to it.')
    if kind not in CANONICAL:
        raise SparkSourceError(f"{label} ({name}) has kind {kind!r}.",
                               f"Use one of: {', '.join(CANONICAL)}.")
    table, path = entry.get("table"), entry.get("path")
    if bool(table) == bool(path):
        raise SparkSourceError(f"{label} ({name}) needs exactly one of table and path.",
                               'Give table = "db.events" or path = "/lake/events".')
    fmt = entry.get("format", "parquet")
    if fmt not in FORMATS:
        raise SparkSourceError(f"{label} ({name}) has format {fmt!r}.",
                               f"Use one of: {', '.join(FORMATS)}.")
    mapping = {str(k): str(v) for k, v in entry.get("mapping", {}).items()}
    unknown = sorted(set(mapping) - set(CANONICAL[kind]))
    if unknown:
        raise SparkSourceError(f"{label} ({name}) maps {', '.join(unknown)}, which are not "
                               f"{kind} columns.",
                               f"Map only: {', '.join(CANONICAL[kind])}.")
    return SparkSource(name=name, kind=kind, table=table, path=path, format=fmt,
                       mapping=mapping, linked_to=entry.get("linked_to"))


# ---------------------------------------------------------------------------- session


def session(config: SparkConfig | None = None) -> Any:
    """The active Spark session (a cluster, a notebook, a test), else one built from the
    configuration's master and settings."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkSourceError("Spark sources need PySpark, which is not installed here.",
                               "Install it (pip install pyspark) or unset "
                               f"{SPARK_CONFIG_ENV}.") from error
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    config = config or configured() or SparkConfig()
    builder = SparkSession.builder.appName("journey-analytics")
    if config.master:
        builder = builder.master(config.master)
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _settings(location: str) -> SparkSource:
    if not location.startswith(SCHEME):
        raise SparkSourceError("That dataset is not a Spark source.", "Pick another dataset.")
    raw = json.loads(location[len(SCHEME):])
    return SparkSource(name="", kind=raw["kind"], table=raw["table"], path=raw["path"],
                       format=raw["format"], mapping=raw["mapping"])


def _raw(source: SparkSource, spark: Any) -> Any:
    try:
        if source.table:
            return spark.table(source.table)
        reader = spark.read.format(source.format)
        if source.format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        return reader.load(source.path)
    except Exception as error:  # pyspark's AnalysisException; pyspark is imported lazily
        text = str(error).strip().splitlines()
        what = source.table or source.path
        raise SparkSourceError(f"Spark cannot read {what!r} ({text[0] if text else error}).",
                               "Check the name or path in the Spark configuration and that "
                               "the cluster can see it.") from error


def _canonical(source: SparkSource, spark: Any) -> Any:
    """The source with canonical column names and a timestamp type (all rows)."""
    from pyspark.sql import functions as F

    df = _raw(source, spark)
    renamed = {src: canon for canon, src in source.mapping.items()}
    missing = sorted(set(renamed) - set(df.columns))
    if missing:
        raise SparkSourceError(f"The Spark source has no column {', '.join(missing)}.",
                               f"Its columns are: {', '.join(df.columns)}; fix the mapping.")
    taken = set(renamed.values())
    columns = [F.col(c).alias(renamed.get(c, c)) for c in df.columns
               if c in renamed or c not in taken]
    df = df.select(*columns)
    if "timestamp" in df.columns:
        df = df.withColumn("timestamp", F.col("timestamp").cast("timestamp"))
    absent = [c for c in REQUIRED[source.kind] if c not in df.columns]
    if absent:
        raise SparkSourceError(f"The Spark source has no {', '.join(absent)} column.",
                               f"Map it: [source.mapping] {absent[0]} = \"<its column>\".")
    return df


def _usable(source: SparkSource) -> Any:
    from pyspark.sql import functions as F

    condition = F.lit(True)
    for column in REQUIRED[source.kind]:
        condition = condition & F.col(column).isNotNull()
    return condition


def resolve(info: DatasetInfo, con: Any = None) -> Any:
    """The PySpark DataFrame of a registered Spark source (rows with every required value)."""
    source = _settings(info.location or "")
    return _canonical(source, session()).where(_usable(source))


def quarantine(info: DatasetInfo) -> Any:
    """The source's rows missing a required value, with ``_reason`` (a pandas frame)."""
    from pyspark.sql import functions as F

    source = _settings(info.location or "")
    rows = _canonical(source, session()).where(~_usable(source)).limit(100_000)
    reason = F.lit("a required value (" + ", ".join(REQUIRED[source.kind]) + ") is missing")
    return rows.withColumn("_reason", reason).toPandas()


# ---------------------------------------------------------------------------- registration


def profile(lf: nw.LazyFrame, kind: Kind) -> dict[str, Any]:
    """The catalog profile ``ingest.profile`` gives a pandas table, computed on the engine."""
    names = lf.collect_schema().names()
    aggregates = [nw.len().alias("rows")]
    if "customer_id" in names:
        aggregates.append(nw.col("customer_id").n_unique().alias("customers"))
    if "timestamp" in names:
        aggregates += [nw.col("timestamp").min().alias("first"),
                       nw.col("timestamp").max().alias("last")]
    row = lf.select(*aggregates).collect().to_pandas().iloc[0]
    out: dict[str, Any] = {"rows": int(row["rows"])}
    if "customers" in row:
        out["customers"] = int(row["customers"])
    if "first" in row and out["rows"]:
        out["first"], out["last"] = str(row["first"]), str(row["last"])
    for name, key in (("touchpoint", "touchpoints"), ("channel", "channels"), ("stage", "stages")):
        if name in names:
            out[key] = _counts(lf, name, 500)
    if kind == "feedback":
        out["has_text"] = "text" in names and bool(
            lf.select(nw.col("text").count() > 0).collect().item())
        if "scale" in names:
            out["scales"] = _counts(lf, "scale", 10)
    out["attributes"] = _attributes(lf, kind)
    out["customer_level"] = []  # no precomputed columns on Spark, so nothing relies on it
    return out


def _counts(lf: nw.LazyFrame, column: str, top: int) -> dict[str, int]:
    counts = (lf.filter(~nw.col(column).is_null())
              .group_by(nw.col(column).cast(nw.String).alias("v")).agg(nw.len().alias("n"))
              .sort(["n", "v"], descending=[True, False]).head(top).collect().to_pandas())
    return {str(v): int(n) for v, n in zip(counts["v"], counts["n"], strict=True)}


def _attributes(lf: nw.LazyFrame, kind: Kind) -> dict[str, list[str]]:
    schema = lf.collect_schema()
    text = [c for c, t in schema.items() if c not in CANONICAL[kind]
            and c not in {"text", "score"} and isinstance(t, nw.String | nw.Categorical)]
    if not text:
        return {}
    distinct = lf.select(nw.col(c).n_unique() for c in text).collect().to_pandas().iloc[0]
    # n_unique counts a null as a value on some engines: one more than the limit still fits.
    few = [c for c in text if int(distinct[c]) <= _MAX_ATTRIBUTE_VALUES + 1]
    out: dict[str, list[str]] = {}
    for column in few:
        values = lf.select(nw.col(column)).unique().collect().to_pandas()[column]
        values = sorted(values.dropna().astype(str).unique().tolist())
        if 1 < len(values) <= _MAX_ATTRIBUTE_VALUES:
            out[column] = values
    return out


def sync(workspace: Workspace, config: SparkConfig) -> list[DatasetInfo]:
    """Register every configured source not yet in the catalog (found by its settings'
    checksum); returns the entries of all configured sources, in configuration order."""
    entries: dict[str, DatasetInfo] = {}
    pending = list(config.sources)
    while pending:  # a linked source after the one it links to
        source = next(s for s in pending if s.linked_to is None or s.linked_to in entries)
        pending.remove(source)
        known = workspace.find_by_checksum(source.checksum, source.kind)
        entries[source.name] = known or _register(workspace, source, entries)
    return [entries[s.name] for s in config.sources]


def _register(workspace: Workspace, source: SparkSource,
              entries: dict[str, DatasetInfo]) -> DatasetInfo:
    spark = session()
    whole = _canonical(source, spark)
    usable = nw.from_native(whole.where(_usable(source)))
    prof = profile(usable, source.kind)
    total = int(whole.count())
    link = entries[source.linked_to].id if source.linked_to else None
    mapping = {c: source.mapping.get(c, c) for c in CANONICAL[source.kind] if c in whole.columns}
    report = {"kind": source.kind, "rows_read": total, "rows_imported": prof["rows"],
              "rows_quarantined": total - prof["rows"],
              "reasons": ({"a required value is missing": total - prof["rows"]}
                          if total > prof["rows"] else {}),
              "examples": {}, "mapping": mapping,
              "attributes": sorted(prof["attributes"]), "file_format": "spark",
              "notes": [f"Read on Spark from {source.table or source.path} when a view needs "
                        "it; nothing was copied."]}
    return workspace.register_external(
        source.location, name=source.name, kind=source.kind, mapping=mapping,
        profile=prof, report=report, counts=(prof["rows"], total - prof["rows"]),
        linked_to=link, source_checksum=source.checksum)
