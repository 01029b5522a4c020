"""Benchmark jobs: each analysis next to a hand-written DuckDB SQL query of the same job.

Every job takes a DuckDB connection with an ``events`` table (canonical columns, touchpoint and
channel as ENUMs) and returns a small pandas result, so the two sides can be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import duckdb
import pandas as pd

from analysis import funnel, paths, survival
from analysis.experiments.kpis import customer_kpis
from analysis.touchpoints import attribution, markov_removal_credit

# Journey order (DESIGN.md, Order of events): timestamp, then the file order recorded at ingest.
ORDER = "PARTITION BY customer_id ORDER BY timestamp, event_seq"


def ours_sankey(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return paths.sankey_links(con.table("events"), max_steps=5, top_nodes=None)


def sql_sankey(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    con.execute("SELECT count(DISTINCT customer_id), count(*) FROM events").fetchall()
    return con.execute(
        f"""
        WITH s AS (
            SELECT touchpoint::VARCHAR AS source,
                   row_number() OVER ({ORDER}) AS step,
                   lead(touchpoint::VARCHAR) OVER ({ORDER}) AS target
            FROM events
        )
        SELECT step, source, coalesce(target, '(end)') AS target, count(*) AS customers
        FROM s WHERE step < 5 GROUP BY ALL
        ORDER BY step, customers DESC, source, target
        """
    ).df()


def ours_transitions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return paths.transition_matrix(con.table("events"))


def sql_transitions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    con.execute("SELECT count(DISTINCT customer_id), count(*) FROM events").fetchall()
    con.execute(
        "SELECT count(*), sum(n) FROM (SELECT customer_id, count(*) AS n FROM events "
        "GROUP BY customer_id HAVING count(*) > 1)"
    ).fetchall()
    return con.execute(
        f"""
        WITH s AS (
            SELECT customer_id, touchpoint::VARCHAR AS source,
                   lead(touchpoint::VARCHAR) OVER ({ORDER}) AS target,
                   epoch_ms(lead(timestamp) OVER ({ORDER})) - epoch_ms(timestamp) AS gap_ms
            FROM events
        )
        SELECT source, target, count(*) AS transitions,
               count(DISTINCT customer_id) AS customers,
               median(gap_ms / 1000.0) AS median_seconds
        FROM s WHERE target IS NOT NULL GROUP BY ALL
        ORDER BY source, transitions DESC, target
        """
    ).df()


FUNNEL_STEPS = ["tp00", "tp01", "tp02", "tp03"]


def ours_funnel(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return funnel.funnel(con.table("events"), FUNNEL_STEPS, window=timedelta(days=7))


def sql_funnel(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    # Each step's event is the customer's first matching one after the previous step's event
    # in journey order (pos: the rank among the steps' events), within 7 days of step 1.
    return con.execute(
        f"""
        WITH e AS (SELECT customer_id, timestamp, touchpoint::VARCHAR AS tp,
                          row_number() OVER ({ORDER}) AS pos
                   FROM events WHERE touchpoint IN ('tp00', 'tp01', 'tp02', 'tp03')),
        s1 AS (SELECT customer_id, min(pos) AS p1, min(timestamp) AS t1 FROM e
               WHERE tp = 'tp00' GROUP BY customer_id),
        s2 AS (SELECT s1.customer_id, s1.t1, min(e.pos) AS p2, min(e.timestamp) AS t2
               FROM s1 JOIN e ON e.customer_id = s1.customer_id AND e.tp = 'tp01'
               AND e.pos > s1.p1 AND e.timestamp <= s1.t1 + INTERVAL 7 DAY GROUP BY ALL),
        s3 AS (SELECT s2.customer_id, s2.t1, s2.t2, min(e.pos) AS p3, min(e.timestamp) AS t3
               FROM s2 JOIN e ON e.customer_id = s2.customer_id AND e.tp = 'tp02'
               AND e.pos > s2.p2 AND e.timestamp <= s2.t1 + INTERVAL 7 DAY GROUP BY ALL),
        s4 AS (SELECT s3.customer_id, s3.t3, min(e.timestamp) AS t4
               FROM s3 JOIN e ON e.customer_id = s3.customer_id AND e.tp = 'tp03'
               AND e.pos > s3.p3 AND e.timestamp <= s3.t1 + INTERVAL 7 DAY GROUP BY ALL)
        SELECT 1 AS step_index, count(*) AS customers, NULL AS median_seconds FROM s1
        UNION ALL SELECT 2, count(*), median(epoch(t2 - t1)) FROM s2
        UNION ALL SELECT 3, count(*), median(epoch(t3 - t2)) FROM s3
        UNION ALL SELECT 4, count(*), median(epoch(t4 - t3)) FROM s4
        ORDER BY step_index
        """
    ).df()


#: The rarest touchpoints (about 3% and 4% of events) mean the customer left.
CHURN_TOUCHPOINTS = ["tp18", "tp19"]
INACTIVITY_DAYS = 30


def ours_lifetimes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return survival.customer_lifetimes(con.table("events"), churn_touchpoints=CHURN_TOUCHPOINTS,
                                       inactivity_days=INACTIVITY_DAYS)


def sql_lifetimes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    # as_of is the last event; a churn touchpoint ends the lifetime at its first occurrence,
    # else a last event more than 30 days before as_of, else censored at as_of.
    churn = ", ".join(f"'{t}'" for t in CHURN_TOUCHPOINTS)
    return con.execute(
        f"""
        WITH per AS (
            SELECT customer_id, min(timestamp) AS start, max(timestamp) AS last,
                   min(timestamp) FILTER (WHERE touchpoint IN ({churn})) AS churn_at
            FROM events GROUP BY customer_id
        ),
        ends AS (
            SELECT per.*, churn_at IS NOT NULL AS by_touchpoint,
                   last < as_of - INTERVAL {INACTIVITY_DAYS} DAY AS quiet, as_of
            FROM per, (SELECT max(timestamp) AS as_of FROM events)
        ),
        out AS (
            SELECT customer_id, start,
                   CASE WHEN by_touchpoint THEN churn_at WHEN quiet THEN last ELSE as_of END
                       AS "end",
                   by_touchpoint OR quiet AS churned
            FROM ends
        )
        SELECT customer_id, start, "end", epoch_us("end" - start) / 1e6 / 86400.0
                   AS duration_days, churned
        FROM out ORDER BY customer_id
        """
    ).df()


KPI_CONVERSION, KPI_CHURN, KPI_TOUCHPOINT, KPI_CHURN_DAYS = "tp05", "tp19", "tp03", 7


def ours_kpis(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return customer_kpis(con.table("events"), conversion=[KPI_CONVERSION], churn=[KPI_CHURN],
                         churn_days=KPI_CHURN_DAYS, touchpoint=KPI_TOUCHPOINT)


def sql_kpis(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    # Churned: 1 when the first churn event is within 7 days of the first event, else 0 when
    # the customer was seen for 7 days before the data ends (the last event), else unknown.
    window_us = KPI_CHURN_DAYS * 86_400 * 1_000_000
    return con.execute(
        f"""
        WITH per AS (
            SELECT customer_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen,
                   min(timestamp) FILTER (WHERE touchpoint = '{KPI_CONVERSION}') AS conv_at,
                   min(timestamp) FILTER (WHERE touchpoint = '{KPI_CHURN}') AS churn_at,
                   bool_or(touchpoint = '{KPI_TOUCHPOINT}') AS touched
            FROM events GROUP BY customer_id
        )
        SELECT customer_id, first_seen, last_seen,
               date_trunc('month', first_seen)::TIMESTAMP AS period,
               (conv_at IS NOT NULL)::BIGINT AS converted,
               epoch_us(conv_at - first_seen) / 1e6 / 86400.0 AS days_to_convert,
               CASE WHEN epoch_us(churn_at) - epoch_us(first_seen) <= {window_us} THEN 1.0
                    WHEN epoch_us(data_end) - epoch_us(first_seen) >= {window_us} THEN 0.0
               END AS churned,
               touched::BIGINT AS touched
        FROM per, (SELECT max(last_seen) AS data_end FROM per)
        ORDER BY customer_id
        """
    ).df()


#: The KPI job's conversion touchpoint (about 5% of events; 40% of customers reach it).
MARKOV_CONVERSION = KPI_CONVERSION


def ours_markov(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return attribution(con.table("events"), conversion=[MARKOV_CONVERSION], model="markov")


def sql_markov(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    # Touches are the events before the customer's first conversion (none seen up to and
    # including the row); the event after a touch is the next touch, the conversion (True) or
    # nothing (False). Start -> first touch comes from the touches at step 1.
    rows = con.execute(
        """
        WITH s AS (
            SELECT touchpoint::VARCHAR AS tp,
                   row_number() OVER w AS step,
                   lead(touchpoint::VARCHAR) OVER w AS next_tp,
                   count(*) FILTER (WHERE touchpoint::VARCHAR = $1)
                       OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seen
            FROM events WHERE touchpoint IS NOT NULL
            WINDOW w AS (PARTITION BY customer_id ORDER BY timestamp, event_seq)
        ),
        g AS MATERIALIZED (
            SELECT tp, next_tp, step = 1 AS first, count(*) AS n FROM s WHERE seen = 0
            GROUP BY ALL
        )
        SELECT NULL AS source, tp AS target, NULL::BOOLEAN AS converted, sum(n) AS count
        FROM g WHERE first GROUP BY tp
        UNION ALL
        SELECT tp, CASE WHEN next_tp <> $1 THEN next_tp END, coalesce(next_tp = $1, false),
               sum(n)
        FROM g GROUP BY ALL
        """,
        [MARKOV_CONVERSION],
    ).fetchall()
    transitions = pd.DataFrame(
        [(source, converted if target is None else target, count)
         for source, target, converted, count in rows],
        columns=["source", "target", "count"],
    )
    credit = markov_removal_credit(transitions)
    return (credit.rename_axis("touchpoint").reset_index(name="conversions")
            .sort_values(["conversions", "touchpoint"], ascending=[False, True],
                         ignore_index=True))


JOBS: dict[str, tuple[Callable, Callable]] = {
    "sankey_links": (ours_sankey, sql_sankey),
    "transition_matrix": (ours_transitions, sql_transitions),
    "funnel_4_steps_7d": (ours_funnel, sql_funnel),
    "customer_lifetimes": (ours_lifetimes, sql_lifetimes),
    "customer_kpis": (ours_kpis, sql_kpis),
    "markov_attribution": (ours_markov, sql_markov),
}
