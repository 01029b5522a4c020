"""The flow measures of the journey map (:mod:`analysis.touchpoints.journey_map`): who enters
each stage through which touchpoint, who reaches the next stage, how long they stay.

Each customer's events are numbered once in journey order (``analysis.journeys``: timestamp,
then ``event_seq``), read from the columns precomputed at import when they number exactly the
mapped events. One grouped query then gives, per customer and stage, the entry (first event:
its place, time and touchpoint), the last place and the first and last time in the stage;
everything else is arithmetic on that row, so no per-event join or second sort is needed:

* a customer *moves on* from a stage at the first later event in a later stage. When no later
  stage was entered before this one, that is the earliest entry into a later stage; the few
  entries made after a later stage (a customer going back) are resolved against their events.
* the next stage is *reached* when its last event comes after the entry into this one.
"""

from __future__ import annotations

import narwhals as nw
import pandas as pd

from analysis.definitions import present_touchpoints
from analysis.frames import materialize, seconds_between, to_pandas
from analysis.journeys import MISSING_NODE, order_columns, ordered_window, uses_precomputed

_MEASURES = ("customers", "next_stage_share", "median_seconds_in_stage")


def stage_events(
    lf: nw.LazyFrame, order: list[str], max_steps: int | None, touchpoints: list[str],
    *, places: bool = False,
) -> nw.LazyFrame:
    """The mapped events: customer_id, ``_tc`` (the touchpoint's index in ``touchpoints``),
    _channel, timestamp, ``_pos`` (1-based place among the customer's mapped
    events) and ``_si`` (0-based stage index; without a stage column,
    ``min(_pos - 1, max_steps - 1)``). ``places``: the caller knows that every event with a
    touchpoint is mapped (so valid precomputed steps are the places; else counted here)."""
    names = lf.collect_schema().names()
    if isinstance(lf.collect_schema()["timestamp"], nw.Date):
        lf = lf.with_columns(nw.col("timestamp").cast(nw.Datetime("us")))
    # The channel keeps its stored type (an ENUM groups cheaply); missing ones are named in
    # the small result.
    channel = nw.col("channel") if "channel" in names else nw.lit(MISSING_NODE)
    ordering = order_columns(names)
    lf = _with_codes(lf, touchpoints)
    columns = ["customer_id", *dict.fromkeys([*ordering, "touchpoint"]), channel.alias("_channel"),
               "_tc"]
    mapped = ~nw.col("touchpoint").is_null() & ~nw.col("timestamp").is_null()
    if max_steps is None:
        lf = _with_stage_index(lf, order)
        mapped = mapped & ~nw.col("_si").is_null()
        columns.append("_si")
    precomputed = uses_precomputed(lf) if places else _steps_are_places(lf, mapped)
    if precomputed:  # a step has a touchpoint: tested on the stored step, with no ENUM cast
        mapped = ~nw.col("_step").is_null() & ~nw.col("timestamp").is_null() & (
            ~nw.col("_si").is_null() if max_steps is None else nw.lit(True))
        events = lf.filter(mapped).select(*columns, nw.col("_step").alias("_pos"))
    else:
        events = ordered_window(lf.filter(mapped).select(*columns), ordering, step="_pos")
    if max_steps is not None:
        events = events.with_columns(
            nw.min_horizontal(nw.col("_pos") - 1, nw.lit(max_steps - 1)).alias("_si"))
    out = events.select(
        "customer_id", nw.col("_tc").cast(nw.Int64), "_channel", "timestamp",
        nw.col("_pos").cast(nw.Int64), nw.col("_si").cast(nw.Int64))
    # Read by several queries: computed once (re-reading the stored columns costs more).
    return materialize(out)


def _with_codes(lf: nw.LazyFrame, touchpoints: list[str]) -> nw.LazyFrame:
    """``lf`` with ``_tc``: each event's touchpoint as its index in ``touchpoints``.

    A DuckDB ENUM whose categories are ``touchpoints`` already holds that index
    (``enum_code``, read per row for free); elsewhere one comparison per touchpoint.
    """
    dtype = lf.collect_schema()["touchpoint"]
    categories = list(map(str, getattr(dtype, "categories", None) or []))
    if (lf.implementation is nw.Implementation.DUCKDB and isinstance(dtype, nw.Enum)
            and categories and categories == touchpoints):
        import duckdb

        code = duckdb.SQLExpression('enum_code("touchpoint")::BIGINT').alias("_tc")
        return nw.from_native(lf.to_native().select(duckdb.StarExpression(), code))
    code = nw.sum_horizontal(*[(nw.col("touchpoint") == t).cast(nw.Int64) * i
                               for i, t in enumerate(touchpoints)] or [nw.lit(0)])
    return lf.with_columns(code.alias("_tc"))


def _with_stage_index(lf: nw.LazyFrame, order: list[str]) -> nw.LazyFrame:
    """``lf`` with ``_si``: the event's stage as its index in ``order`` (null outside it).

    Computed once per row here, since every stage's aggregates test it. A DuckDB ENUM is
    mapped by its codes (numbers); elsewhere one text comparison per stage.
    """
    dtype = lf.collect_schema()["stage"]
    categories = list(map(str, getattr(dtype, "categories", None) or []))
    if lf.implementation is nw.Implementation.DUCKDB and isinstance(dtype, nw.Enum) and (
            categories):
        import duckdb

        # One lookup in a list of numbers (category code -> stage index, NULL off the map):
        # a CASE would cast the stored stage again for each of its branches.
        where = {categories.index(s): i for i, s in enumerate(order) if s in categories}
        values = ", ".join(str(int(where[c])) if c in where else "NULL"
                           for c in range(len(categories)))
        sql = f'list_extract([{values}], enum_code("stage") + 1)' if where else "NULL"
        index = duckdb.SQLExpression(f"({sql})::BIGINT").alias("_si")
        return nw.from_native(lf.to_native().select(duckdb.StarExpression(), index))
    stage = nw.col("stage").cast(nw.String)
    index = nw.sum_horizontal(*[(stage == s).cast(nw.Int64) * i for i, s in enumerate(order)]
                              or [nw.lit(0)])
    return lf.with_columns(nw.when(stage.is_in(order or [""])).then(index).alias("_si"))


def _steps_are_places(lf: nw.LazyFrame, mapped: nw.Expr) -> bool:
    """Whether the precomputed step numbers of ``lf`` number exactly the ``mapped`` events:
    they are present and valid, and no event with a touchpoint is left off the map."""
    if not uses_precomputed(lf):
        return False
    steps, kept = lf.select(nw.col("_step").count(),
                            mapped.cast(nw.Int64).sum().alias("_kept")).collect().row(0)
    return steps == kept


def touchpoint_names(lf: nw.LazyFrame) -> list[str]:
    """The touchpoints of ``lf``: a stored ENUM's categories in their order (free), else the
    distinct ones."""
    categories = getattr(lf.collect_schema()["touchpoint"], "categories", None)
    return list(map(str, categories)) if categories else present_touchpoints(lf)


def flow(
    ev: nw.LazyFrame, n_stages: int, touchpoints: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells (_si, touchpoint, customers, touched, channel, next_stage_share,
    median_seconds_in_stage) and stages (_si and the measures) of :func:`stage_events` (with
    the same ``touchpoints``)."""
    per = _per_customer(ev, n_stages, touchpoints)
    entries = materialize(_entries(per, ev, n_stages))
    measures = [nw.len().alias("customers"), nw.col("_next").mean().alias("next_stage_share"),
                nw.col("_seconds").median().alias("median_seconds_in_stage")]
    cells = to_pandas(entries.group_by("_si", "_tc").agg(*measures))
    cells["touchpoint"] = [touchpoints[int(c)] for c in cells.pop("_tc")]
    stage_rows = to_pandas(entries.group_by("_si").agg(*measures))
    touched = _touched(ev, per, n_stages, touchpoints)
    touched["touchpoint"] = [touchpoints[int(c)] for c in touched.pop("_tc")]
    cells = touched.merge(cells[["_si", "touchpoint", *_MEASURES]], on=["_si", "touchpoint"],
                          how="left").merge(_main_channels(ev, touchpoints),
                                            on=["_si", "touchpoint"], how="left")
    cells["customers"] = cells["customers"].fillna(0)
    return cells, stage_rows


def _main_channels(ev: nw.LazyFrame, touchpoints: list[str]) -> pd.DataFrame:
    """_si, touchpoint and channel: the most frequent channel of the touchpoint's events in the
    stage (ties: first by name; missing: "(none)")."""
    counts = to_pandas(ev.group_by("_si", "_tc", "_channel").agg(nw.len().alias("_n")))
    counts["touchpoint"] = [touchpoints[int(c)] for c in counts.pop("_tc")]
    counts["channel"] = counts.pop("_channel").astype(object).where(
        lambda c: c.notna(), MISSING_NODE).astype(str)
    counts = counts.groupby(["_si", "touchpoint", "channel"], as_index=False)["_n"].sum()
    return (counts.sort_values(["_n", "channel"], ascending=[False, True])
            .drop_duplicates(["_si", "touchpoint"])[["_si", "touchpoint", "channel"]])


def _per_customer(ev: nw.LazyFrame, n_stages: int, touchpoints: list[str]) -> nw.LazyFrame:
    """One row per customer; per stage s: ``_v{s}`` (entry place * n_touchpoints + the entry
    touchpoint's code, so the minimum carries both), ``_l{s}`` (last place), ``_a{s}`` /
    ``_z{s}`` (first / last time: times never decrease along a journey); on DuckDB with at
    most 64 touchpoints also ``_m{s}``, a bit per touchpoint with an event in the stage."""
    n_touchpoints = max(len(touchpoints), 1)
    if ev.implementation is nw.Implementation.DUCKDB and len(touchpoints) <= _MASK_BITS:
        per = _per_customer_sql(ev, n_stages, n_touchpoints)
    else:
        key = nw.col("_pos") * n_touchpoints + nw.col("_tc")
        aggs = []
        for s in range(n_stages):
            inside = nw.col("_si") == s
            aggs += [nw.when(inside).then(key).min().alias(f"_v{s}"),
                     nw.when(inside).then(nw.col("_pos")).max().alias(f"_l{s}"),
                     nw.when(inside).then(nw.col("timestamp")).min().alias(f"_a{s}"),
                     nw.when(inside).then(nw.col("timestamp")).max().alias(f"_z{s}")]
        per = ev.group_by("customer_id").agg(*aggs)
    return materialize(per.with_columns(
        *[(nw.col(f"_v{s}") // n_touchpoints).alias(f"_e{s}") for s in range(n_stages)],
        *[(nw.col(f"_v{s}") % n_touchpoints).alias(f"_tc{s}") for s in range(n_stages)]))


#: Touchpoints a per-customer bit mask can hold (one UBIGINT).
_MASK_BITS = 64


def _per_customer_sql(ev: nw.LazyFrame, n_stages: int, n_touchpoints: int) -> nw.LazyFrame:
    """:func:`_per_customer`'s aggregates in DuckDB, with the touch masks ``_m{s}`` (only
    numbers computed here enter the SQL text)."""
    parts = []
    for s in range(n_stages):
        inside = f"_si = {int(s)}"
        parts += [f"min(CASE WHEN {inside} THEN _pos * {int(n_touchpoints)} + _tc END) AS _v{s}",
                  f"max(CASE WHEN {inside} THEN _pos END) AS _l{s}",
                  f'min(CASE WHEN {inside} THEN "timestamp" END) AS _a{s}',
                  f'max(CASE WHEN {inside} THEN "timestamp" END) AS _z{s}',
                  f"bit_or(CASE WHEN {inside} THEN CAST(1 AS UBIGINT) << _tc END) AS _m{s}"]
    return nw.from_native(ev.to_native().aggregate(", ".join(["customer_id", *parts]),
                                                   "customer_id"))


def _touched(ev: nw.LazyFrame, per: nw.LazyFrame, n_stages: int, touchpoints: list[str]
             ) -> pd.DataFrame:
    """_si, _tc and touched (distinct customers with an event of the touchpoint in the
    stage): summed from the per-customer masks when there are any, else counted."""
    if "_m0" not in per.collect_schema().names():
        return to_pandas(ev.group_by("_si", "_tc")
                         .agg(nw.col("customer_id").n_unique().alias("touched")))
    pairs = [(s, t) for s in range(n_stages) for t in range(len(touchpoints))]
    sums = ", ".join(f"sum(CAST((_m{s} >> {t}) & 1 AS BIGINT)) AS n{i}"
                     for i, (s, t) in enumerate(pairs))
    counts = per.to_native().aggregate(sums).fetchall()[0] if pairs else ()
    found = [(s, t, int(n)) for (s, t), n in zip(pairs, counts or (), strict=True) if n]
    return pd.DataFrame(found, columns=["_si", "_tc", "touched"]).astype("int64")


def _stage_entries(per: nw.LazyFrame, s: int, n_stages: int) -> nw.LazyFrame:
    """The entries into stage ``s``: customer_id, _si, _tc, _entry_pos, _entry_ts, _last_ts,
    _moved_ts (null until resolved for re-entries), _next and ``_ahead`` (a later stage was
    entered first)."""
    entry, later = nw.col(f"_e{s}"), range(s + 1, n_stages)
    if later:
        first_later = _least([nw.col(f"_e{t}") for t in later])
        ahead = ~first_later.is_null() & (first_later < entry)
        moved = _least([nw.col(f"_a{t}") for t in later])
        after = nw.col(f"_l{s + 1}")
        reached = (~after.is_null() & (after > entry)).cast(nw.Float64)
    else:
        ahead, moved, reached = nw.lit(False), nw.col(f"_a{s}"), nw.lit(None, nw.Float64)
    return per.filter(~entry.is_null()).select(
        "customer_id", nw.lit(s).cast(nw.Int64).alias("_si"),
        nw.col(f"_tc{s}").cast(nw.Int64).alias("_tc"), entry.cast(nw.Int64).alias("_entry_pos"),
        nw.col(f"_a{s}").alias("_entry_ts"), nw.col(f"_z{s}").alias("_last_ts"),
        nw.when(~ahead & nw.lit(bool(later))).then(moved).alias("_moved_ts"),
        reached.alias("_next"), ahead.alias("_ahead"))


def _least(columns: list[nw.Expr]) -> nw.Expr:
    """The smallest non-null value (Spark's ``least`` wants at least two columns)."""
    return columns[0] if len(columns) == 1 else nw.min_horizontal(*columns)


def _entries(per: nw.LazyFrame, ev: nw.LazyFrame, n_stages: int) -> nw.LazyFrame:
    """One row per customer and stage entered: _si, _tc, _next and _seconds."""
    rows = nw.concat([_stage_entries(per, s, n_stages) for s in range(n_stages)],
                     how="vertical")
    # Entries made after a later stage: the first later event in a later stage, from their
    # customers' events (few customers go back).
    back = materialize(rows.filter(nw.col("_ahead")))
    moved = (back.select("customer_id", nw.col("_si").alias("_from"), "_entry_pos")
             .join(ev.select("customer_id", "_si", "_pos", "timestamp"), on="customer_id")
             .filter(nw.col("_si") > nw.col("_from"), nw.col("_pos") > nw.col("_entry_pos"))
             .group_by("customer_id", "_from").agg(nw.col("timestamp").min().alias("_back_ts"))
             .rename({"_from": "_si"}))
    back = back.join(moved, on=["customer_id", "_si"], how="left").with_columns(
        nw.col("_back_ts").alias("_moved_ts")).drop("_back_ts")
    rows = nw.concat([rows.filter(~nw.col("_ahead")), back], how="vertical")
    rows = rows.with_columns(
        nw.coalesce(nw.col("_moved_ts"), nw.col("_last_ts")).alias("_end"))
    return rows.select("_si", "_tc", nw.col("_next"),
                       seconds_between(rows, "_end", "_entry_ts").cast(nw.Float64)
                       .alias("_seconds"))
