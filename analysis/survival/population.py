"""Whose lifetime is measured, and from when: the clock can start at a customer's first event
or at their first conversion (a subscription starts at the purchase, not at the first ad)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw

from analysis.frames import canonical
from analysis.journeys import check_touchpoints, order_columns, with_order_key
from analysis.precompute import without_precomputed

_KEY = "_start_key"
#: The journey-order key column of :func:`start_keys`' events.
START_KEY = _KEY


def from_first(events: Any, touchpoints: Sequence[str]) -> nw.LazyFrame:
    """Each customer's events from their first of ``touchpoints`` on, in journey order.

    Customers who never had one of them are left out; events before it (and events at the
    same time that came earlier in the file) are dropped, so a lifetime computed on the result
    starts at that touchpoint.

    Raises
    ------
    UnknownValueError
        A touchpoint the data does not have.
    """
    keyed, starts, columns = start_keys(events, touchpoints)
    return population(keyed, starts, columns)


def start_keys(events: Any, touchpoints: Sequence[str],
               ) -> tuple[nw.LazyFrame, nw.LazyFrame, list[str]]:
    """The events with their journey-order key, each starting customer's first key of
    ``touchpoints`` (``_start``) and its time (``_lifetime_start``, the first event of their
    lifetime) — with the time of their last event (``_last``) when the events carry the
    import's precomputed columns —, and the events' columns; :func:`population` joins
    them."""
    names = [touchpoints] if isinstance(touchpoints, str) else [str(t) for t in touchpoints]
    lf = canonical(events, "events")
    check_touchpoints(lf, names)
    # Dropping a customer's first events renumbers their journey: precomputed columns go
    # (from the population; the customer's last event time stays true: ``_last``).
    last = "_last_timestamp" in lf.collect_schema().names()
    columns = without_precomputed(lf).collect_schema().names()
    keyed = with_order_key(lf if last else without_precomputed(lf), order_columns(columns),
                           _KEY)
    # The key orders by time first, so the first start's time is the earliest start time.
    starts = (keyed.filter(nw.col("touchpoint").cast(nw.String).is_in(names))
              .group_by("customer_id").agg(
                  nw.col(_KEY).min().alias("_start"),
                  nw.col("timestamp").min().alias("_lifetime_start"),
                  *([nw.col("_last_timestamp").max().alias("_last")] if last else [])))
    return keyed, starts, columns


def population(keyed: nw.LazyFrame, starts: nw.LazyFrame, columns: list[str]) -> nw.LazyFrame:
    """The events of :func:`start_keys` from each customer's start on (see
    :func:`from_first`)."""
    return (keyed.join(starts.select("customer_id", "_start"), on="customer_id", how="inner")
            .filter(nw.col(_KEY) >= nw.col("_start"))
            .select(columns))
