"""Per-customer covariates built from the journey, for the Cox model of churn.

Everything is Narwhals over the lazy events frame (DuckDB by default), in the engine that
holds the events; only the result, one row per customer, is collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import canonical, require_columns
from analysis.journeys import order_columns, with_order_key
from analysis.precompute import PRECOMPUTED
from analysis.schema import CANONICAL, EVENT_SEQ, ParameterError

TOUCHED_PREFIX = "touched: "
_KEY = "_order_key"
#: Engines whose grouped ``first(order_by=...)`` Narwhals supports.
_ORDERED_FIRST = (nw.Implementation.DUCKDB, nw.Implementation.POLARS)
#: Up to this many touchpoints get a flag each in the per-customer pass, their reach counted
#: from the flags (one pass over the events instead of three).
MAX_FLAGGED = 64


def journey_covariates(
    events: Any, *, top_touchpoints: int = 10, feedback: Any = None,
    exclude: Sequence[str] = (),
) -> pd.DataFrame:
    """One row of journey features per customer, ready to join with their lifetimes.

    Parameters
    ----------
    events : pandas, Polars, DuckDB or PySpark frame
        Events in canonical columns; extra text columns (segment, persona, region…) become
        attributes.
    top_touchpoints : int
        How many of the touchpoints reached by the most customers get a "touched: X" flag
        (ties go to the first name in alphabetical order; touchpoints every customer had
        get no flag).
    feedback : frame, optional
        Canonical feedback with customer_id and score; adds each customer's mean score.
    exclude : sequence of str
        Touchpoints that get no flag, such as the churn touchpoints themselves (a flag for
        "Cancel subscription" would predict churn perfectly and say nothing).

    Returns
    -------
    pandas.DataFrame
        customer_id; first_touchpoint (of the customer's first event, in journey order:
        timestamp, then file order); first_channel and n_channels (distinct non-missing
        channels) when the events have a channel; one column per attribute (the customer's
        first non-missing value, in journey order); ``touched: X`` (1 when the customer had
        touchpoint X at least once, else 0); mean_score (mean of the customer's feedback
        scores, whatever their scale; missing without feedback) when ``feedback`` is given.
        Every customer with an event has one row.
    """
    if isinstance(top_touchpoints, bool) or not isinstance(top_touchpoints, int) or (
            top_touchpoints < 0):
        raise ParameterError(f"top_touchpoints={top_touchpoints!r} is not a count.",
                             "Use 0 or a positive whole number such as 10.")
    lf = canonical(events, "events")
    names = lf.collect_schema().names()
    keyed = with_order_key(lf, order_columns(names), _KEY)
    lf = keyed.with_columns(nw.col("touchpoint").cast(nw.String))
    attributes = _attribute_columns(lf)
    firsts = {"touchpoint": "first_touchpoint"}
    leading = ["customer_id", "first_touchpoint"]
    aggregates: dict[str, nw.Expr] = {}
    if "channel" in names:
        firsts["channel"] = "first_channel"
        aggregates["n_channels"] = _channel_count()
        leading += ["first_channel", "n_channels"]
    firsts |= {column: column for column in attributes}
    out, touchpoints = _flagged(keyed, lf, firsts, aggregates, top_touchpoints,
                                set(map(str, exclude)))
    flags = [TOUCHED_PREFIX + name for name in touchpoints]
    out = out[[*leading, *attributes, *flags]]
    for name in touchpoints:
        column = TOUCHED_PREFIX + name
        out[column] = out[column].fillna(0).astype("int64")
    if feedback is not None:  # a left join on customer_id, without copying the table
        means = _mean_scores(feedback)
        known, wanted = means["customer_id"], out["customer_id"]
        if known.dtype != wanted.dtype:  # ids typed apart (numbers, text) match as text
            known, wanted = known.astype(str), wanted.astype(str)
        found = pd.Index(known).get_indexer(wanted)
        out["mean_score"] = np.append(means["mean_score"].to_numpy(dtype=float), np.nan)[found]
    out = out.sort_values("customer_id", kind="stable")  # a copy: reset_index copies again
    out.index = pd.RangeIndex(len(out))
    return out


def _flagged(keyed: nw.LazyFrame, lf: nw.LazyFrame, firsts: dict[str, str],
             aggregates: dict[str, nw.Expr], top: int,
             exclude: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """The per-customer table with a flag per touchpoint (at least the top ones) and the
    top touchpoints. ``keyed``: the events with their order key; ``lf``: the same with the
    touchpoint as text."""
    candidates = _candidates(keyed, top)
    if candidates is None:  # too many touchpoints to flag them all in one pass
        touchpoints = _top_touchpoints(lf, top, exclude)
        return _per_customer(lf, firsts, aggregates | _touched_flags(touchpoints)), touchpoints
    # Every touchpoint flagged in the one pass; their reach counted from the flags.
    out = _duckdb_per_customer(keyed, firsts, "n_channels" in aggregates, candidates)
    if out is None:
        out = _per_customer(lf, firsts, aggregates | _touched_flags(candidates))
    return out, _most_reached(out, candidates, top, exclude)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duckdb_per_customer(keyed: nw.LazyFrame, firsts: dict[str, str], channels: bool,
                         candidates: list[str], stepped: bool = True) -> pd.DataFrame | None:
    """:func:`_per_customer` with every touchpoint's flag, as DuckDB aggregates that need no
    sort (``arg_min`` on the order key; touchpoints and channels as bits of one integer);
    None unless the events are in DuckDB with ENUM touchpoints (and channels) of at most 64
    values. The import's step numbers, when the events carry them (with ``event_seq``, so
    the same order), are a cheaper key than ours, unless some events have no touchpoint
    (no step)."""
    if keyed.implementation is not nw.Implementation.DUCKDB:
        return None
    schema = keyed.collect_schema()
    codes = {c: list(map(str, getattr(schema.get(c), "categories", None) or ()))
             for c in ("touchpoint", "channel")}
    if not 0 < len(codes["touchpoint"]) <= 64 or (
            channels and not 0 < len(codes["channel"]) <= 64):
        return None
    stepped = stepped and "_step" in schema and EVENT_SEQ in schema
    key = _quoted("_step" if stepped else _KEY)
    exprs = [f"arg_min(CAST({_quoted(c)} AS VARCHAR), {key}) FILTER (WHERE {_quoted(c)} IS "
             f"NOT NULL AND {key} IS NOT NULL) AS {_quoted(alias)}"
             for c, alias in firsts.items()]
    exprs.append("bit_or(1::UBIGINT << enum_code(touchpoint)) AS _touched")
    if channels:  # distinct non-missing channels
        exprs.append("bit_count(bit_or(1::UBIGINT << enum_code(channel))) AS n_channels")
    if stepped:
        exprs.append('bool_or("_step" IS NULL) AS _unstepped')
    out = keyed.to_native().aggregate("customer_id, " + ", ".join(exprs), "customer_id").df()
    if stepped and out.pop("_unstepped").any():
        return _duckdb_per_customer(keyed, firsts, channels, candidates, stepped=False)
    touched = out.pop("_touched")
    bits = touched.fillna(0).to_numpy().astype(np.uint64)
    for name in candidates:
        flag = ((bits >> np.uint64(codes["touchpoint"].index(name))) & np.uint64(1))
        out[TOUCHED_PREFIX + name] = np.where(touched.isna(), np.nan, flag.astype(float))
    if channels:
        out["n_channels"] = out["n_channels"].fillna(0).astype("int64")
    return out


def _per_customer(lf: nw.LazyFrame, firsts: dict[str, str], aggregates: dict[str, nw.Expr],
                  ) -> pd.DataFrame:
    """One row per customer: the first non-missing value of each column of ``firsts`` (named
    by its value) in journey order, then ``aggregates`` (named by their key), in one grouped
    pass (a window and a join per column took most of the time at a million customers)."""
    named = [expr.alias(name) for name, expr in aggregates.items()]
    if lf.implementation in _ORDERED_FIRST:
        missing = {column: f"_missing{i}" for i, column in enumerate(firsts)}
        # Events with a value and an order come first; a customer with none gets no value.
        lf = lf.with_columns(*[(nw.col(column).is_null() | nw.col(_KEY).is_null()).alias(flag)
                               for column, flag in missing.items()])
        table = lf.group_by("customer_id").agg(
            *[nw.when(~nw.col(flag)).then(nw.col(column).cast(nw.String))
              .first(order_by=[flag, _KEY]).alias(firsts[column])
              for column, flag in missing.items()], *named)
    else:  # no ordered first (PySpark): a window and a join per column
        table = lf.select("customer_id").unique()
        for column, alias in firsts.items():
            table = table.join(_first_value(lf, column, alias), on="customer_id", how="left")
        if named:
            table = table.join(lf.group_by("customer_id").agg(*named), on="customer_id",
                               how="left")
    out = table.collect().to_pandas()
    if "n_channels" in out:
        out["n_channels"] = out["n_channels"].fillna(0).astype("int64")
    return out


def _first_value(lf: nw.LazyFrame, column: str, alias: str) -> nw.LazyFrame:
    """customer_id and the value of ``column`` at the customer's first event that has one."""
    present = lf.filter(~nw.col(column).is_null())
    first = nw.col(_KEY).min().over("customer_id")
    return (present.with_columns(first.alias("_first"))
            .filter(nw.col(_KEY) == nw.col("_first"))
            .select("customer_id", nw.col(column).cast(nw.String).alias(alias)))


def _channel_count() -> nw.Expr:
    """Distinct non-missing channels (``n_unique`` counts a missing value as one)."""
    channel = nw.col("channel").cast(nw.String)
    return channel.n_unique() - channel.is_null().cast(nw.Int64).max()


def _attribute_columns(lf: nw.LazyFrame) -> list[str]:
    """Extra text columns of the events: customer attributes such as segment or region."""
    known = {*CANONICAL["events"], EVENT_SEQ, _KEY, *PRECOMPUTED}
    schema = lf.collect_schema()
    text = (nw.String, nw.Categorical, nw.Enum)
    return [name for name, dtype in schema.items()
            if name not in known and isinstance(dtype, text)]


def _top_touchpoints(lf: nw.LazyFrame, top: int, exclude: set[str]) -> list[str]:
    """The ``top`` touchpoints reached by the most customers, leaving out ``exclude`` and
    those every customer reached (their flag would be the same for everyone)."""
    if top == 0:
        return []
    reach = (lf.filter(~nw.col("touchpoint").is_null())
             .group_by("touchpoint")
             .agg(nw.col("customer_id").n_unique().alias("customers"))
             .collect().to_pandas())
    everyone = lf.select(nw.col("customer_id").n_unique()).collect().item()
    reach = reach[~reach["touchpoint"].astype(str).isin(exclude)
                  & (reach["customers"] < everyone)]
    reach = reach.sort_values(["customers", "touchpoint"], ascending=[False, True])
    return [str(name) for name in reach["touchpoint"].head(top)]


def _candidates(lf: nw.LazyFrame, top: int) -> list[str] | None:
    """Every touchpoint, when a flag each costs less than counting their reach apart: the
    column is an ENUM (its categories are free) with at most MAX_FLAGGED values."""
    if top == 0:
        return []
    categories = getattr(lf.collect_schema()["touchpoint"], "categories", None)
    if lf.implementation not in _ORDERED_FIRST or not categories:
        return None
    names = sorted(dict.fromkeys(map(str, categories)))
    return names if len(names) <= MAX_FLAGGED else None


def _most_reached(table: pd.DataFrame, candidates: list[str], top: int,
                  exclude: set[str]) -> list[str]:
    """:func:`_top_touchpoints` from the per-customer flags: a flag of 1 is a customer
    reached, and every row of ``table`` a distinct customer."""
    reach = pd.DataFrame({
        "touchpoint": candidates,
        "customers": [int((table[TOUCHED_PREFIX + name] == 1).sum()) for name in candidates],
    })
    reach = reach[(reach["customers"] > 0) & ~reach["touchpoint"].isin(exclude)
                  & (reach["customers"] < len(table))]
    reach = reach.sort_values(["customers", "touchpoint"], ascending=[False, True])
    return [str(name) for name in reach["touchpoint"].head(top)]


def _touched_flags(touchpoints: list[str]) -> dict[str, nw.Expr]:
    """1 when the customer had the touchpoint; missing when they had no touchpoint at all."""
    return {TOUCHED_PREFIX + name: (nw.col("touchpoint") == name).cast(nw.Int64).max()
            for name in touchpoints}


def _mean_scores(feedback: Any) -> pd.DataFrame:
    """customer_id and mean_score, aggregated in the feedback's own engine."""
    fb = canonical(feedback, "feedback")
    require_columns(fb, ["customer_id", "score"], "Linking feedback to customers")
    means = (fb.filter(~nw.col("score").is_null() & ~nw.col("customer_id").is_null())
             .group_by("customer_id")
             .agg(nw.col("score").cast(nw.Float64).mean().alias("mean_score"))
             .collect().to_pandas())
    return means
