"""Per-customer covariates built from the journey, for the Cox model of churn.

Everything is Narwhals over the lazy events frame (DuckDB by default), in the engine that
holds the events; only the result, one row per customer, is collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import pandas as pd

from analysis.frames import canonical, require_columns
from analysis.journeys import order_columns, with_order_key
from analysis.precompute import PRECOMPUTED
from analysis.schema import CANONICAL, EVENT_SEQ, ParameterError

TOUCHED_PREFIX = "touched: "
_KEY = "_order_key"
#: Engines whose grouped ``first(order_by=...)`` Narwhals supports.
_ORDERED_FIRST = (nw.Implementation.DUCKDB, nw.Implementation.POLARS)


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
    lf = with_order_key(lf, order_columns(names), _KEY)
    lf = lf.with_columns(nw.col("touchpoint").cast(nw.String))
    attributes = _attribute_columns(lf)
    firsts = {"touchpoint": "first_touchpoint"}
    leading = ["customer_id", "first_touchpoint"]
    aggregates: dict[str, nw.Expr] = {}
    if "channel" in names:
        firsts["channel"] = "first_channel"
        aggregates["n_channels"] = _channel_count()
        leading += ["first_channel", "n_channels"]
    firsts |= {column: column for column in attributes}
    touchpoints = _top_touchpoints(lf, top_touchpoints, set(map(str, exclude)))
    flags = _touched_flags(touchpoints)
    out = _per_customer(lf, firsts, aggregates | flags)[[*leading, *attributes, *flags]]
    for name in touchpoints:
        column = TOUCHED_PREFIX + name
        out[column] = out[column].fillna(0).astype("int64")
    if feedback is not None:
        out = out.merge(_mean_scores(feedback), on="customer_id", how="left")
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


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
