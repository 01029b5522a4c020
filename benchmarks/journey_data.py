"""A realistic events log at any size, shaped like the demo, generated inside DuckDB.

Customers (about one per 10 events) with a segment, persona, region and A/B variant walk the
demo's journey: a first touch in their acquisition channel (awareness), 1–4 consideration
touches, then 65% add to cart and check out, 18% of those hit ``Payment failed``, and about a
third buy (``Purchase``, with revenue). Buyers then use the service (app logins, order
tracking, support calls, loyalty emails), renew monthly (revenue) and, when their exponential
lifetime (median by segment, 2.5× hazard after a payment failure) ends before the data does,
``Cancel subscription``. So conversion and churn are guessed from names as for the demo, and
every view has something to show. Written as CSV in journey order, so an import records the
file order as ``event_seq``. Linked feedback (about one row per 150 events: CES after
checkout or a failed payment, NPS two weeks after a purchase, CSAT after support calls and app
reviews, three in four with a comment from the demo's) gives the pain-point views their input.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from analysis import demo_comments as comments

DATA_DIR = Path(__file__).resolve().parent / ".data"
#: Bumped whenever the generated data changes, so stale cached files are not reused.
VERSION = 1
#: Customers per event, tuned so that ``n_events`` asks for roughly that many events.
CUSTOMERS_PER_EVENT = 1 / 10.6

_COMMENTS = {
    "payment": comments.PAYMENT_COMPLAINTS, "checkout": comments.CHECKOUT_PRAISE,
    "purchase_praise": comments.PURCHASE_PRAISE,
    "purchase_complaints": comments.PURCHASE_COMPLAINTS,
    "support_praise": comments.SUPPORT_PRAISE, "support_complaints": comments.SUPPORT_COMPLAINTS,
    "app": comments.APP_COMPLAINTS,
}

_CUSTOMERS = """
CREATE TEMP TABLE customers AS
WITH r AS (
    SELECT range AS i, random() AS r_seg, random() AS r_acq, random() AS r_reach,
           random() AS r_fail, random() AS r_conv, random() AS r_life, random() AS r_news,
           random() AS r_dev, random() AS r_cancel,
           CAST(floor(random() * 4) AS INTEGER) AS region_i,
           CAST(floor(random() * 2) AS INTEGER) AS variant_i,
           CAST(floor(random() * 4) AS INTEGER) AS persona_i,
           1 + CAST(floor(random() * 4) AS INTEGER) AS n_cons,
           TIMESTAMP '2025-01-01' + to_seconds(CAST(floor(random() * 350 * 86400) AS BIGINT))
               AS first_seen
    FROM range({customers})
), s AS (
    SELECT *,
        CASE WHEN r_seg < 0.4 THEN 'Budget' WHEN r_seg < 0.8 THEN 'Mainstream'
             ELSE 'Premium' END AS segment,
        CASE WHEN r_acq < 0.25 THEN 'social' WHEN r_acq < 0.55 THEN 'web'
             WHEN r_acq < 0.70 THEN 'email' WHEN r_acq < 0.85 THEN 'store'
             ELSE 'app' END AS acquisition
    FROM r
)
SELECT 'C' || lpad(i::VARCHAR, 8, '0') AS customer_id, segment, acquisition,
       ['North', 'South', 'East', 'West'][region_i + 1] AS region,
       ['A', 'B'][variant_i + 1] AS variant,
       ['Deal hunter', 'Loyalist', 'Researcher', 'Convenience seeker'][persona_i + 1] AS persona,
       first_seen, n_cons,
       first_seen + to_seconds(CAST(n_cons * 108000 + 3600 AS BIGINT)) AS cart_at,
       r_reach < 0.65 AS reached,
       r_reach < 0.65 AND r_fail < 0.18 AS failed,
       r_reach < 0.65 AND r_conv * 0.65 < (
           CASE segment WHEN 'Budget' THEN 0.25 WHEN 'Mainstream' THEN 0.32 ELSE 0.40 END
           + CASE WHEN variant_i = 1 THEN 0.05 ELSE 0 END
           + CASE WHEN region_i = 0 AND first_seen >= TIMESTAMP '2025-07-01' THEN 0.10
                  ELSE 0 END) AS converted,
       r_news < 0.3 AS newsletter,
       CASE WHEN r_dev < 0.4 THEN 'app' ELSE 'web' END AS device,
       CASE WHEN r_cancel < 0.6 THEN 'call center' ELSE 'web' END AS cancel_channel,
       -ln(1 - r_life) / (ln(2) / CASE segment WHEN 'Budget' THEN 120 WHEN 'Mainstream' THEN 150
                                  ELSE 420 END * CASE WHEN r_reach < 0.65 AND r_fail < 0.18
                                                      THEN 2.5 ELSE 1 END) AS lifetime_days,
       CASE segment WHEN 'Budget' THEN 40.0 WHEN 'Mainstream' THEN 80.0 ELSE 200.0 END
           AS mean_revenue,
       CASE segment WHEN 'Budget' THEN 9.0 WHEN 'Mainstream' THEN 19.0 ELSE 49.0 END AS fee
FROM s
"""

_EVENTS = """
CREATE TEMP TABLE events AS
WITH c AS (
    SELECT *, cart_at + INTERVAL 35 MINUTE AS bought_at,
           cart_at + INTERVAL 35 MINUTE + to_seconds(CAST(lifetime_days * 86400 AS BIGINT))
               AS end_at
    FROM customers
), parts AS (
    SELECT customer_id, first_seen AS ts,
           CASE acquisition WHEN 'social' THEN 'Social ad view' WHEN 'web' THEN 'Search landing'
                WHEN 'email' THEN 'Newsletter open' WHEN 'store' THEN 'Store walk-in'
                ELSE 'App install' END AS touchpoint,
           acquisition AS channel, 'awareness' AS stage, NULL::DOUBLE AS revenue
    FROM c
    UNION ALL
    SELECT customer_id, first_seen + to_seconds(CAST(k * 108000 + random() * 3000 AS BIGINT)),
           t[1], t[2], 'consideration', NULL
    FROM (SELECT customer_id, first_seen, unnest(range(1, n_cons + 1)) AS k,
                 [['Product page', 'web'], ['Product page', 'app'], ['Compare plans', 'web'],
                  ['Store visit', 'store'], ['Chat with advisor', 'chat']]
                     [1 + CAST(floor(random() * 5) AS INTEGER)] AS t
          FROM c)
    UNION ALL
    SELECT customer_id, cart_at, 'Add to cart', device, 'conversion', NULL FROM c WHERE reached
    UNION ALL
    SELECT customer_id, cart_at + INTERVAL 20 MINUTE, 'Checkout', device, 'conversion', NULL
    FROM c WHERE reached
    UNION ALL
    SELECT customer_id, cart_at + INTERVAL 25 MINUTE, 'Payment failed', device, 'conversion',
           NULL
    FROM c WHERE failed
    UNION ALL
    SELECT customer_id, bought_at, 'Purchase', device, 'conversion',
           round(mean_revenue * exp(0.4 * (random() + random() + random() - 1.5) * 2), 2)
    FROM c WHERE converted
    UNION ALL
    SELECT customer_id, cart_at + to_seconds(CAST(86400 * 20 * random() AS BIGINT)),
           'Newsletter open', 'email', 'awareness', NULL
    FROM c WHERE newsletter AND NOT converted
    UNION ALL
    SELECT customer_id, ts, u[1], u[2], u[3], NULL FROM (
        SELECT customer_id, end_at,
               bought_at + to_seconds(CAST(86400 * (10 * k + 10 * random()) AS BIGINT)) AS ts,
               [['App login', 'app', 'usage'], ['App login', 'app', 'usage'],
                ['Order tracking', 'web', 'usage'], ['Order tracking', 'app', 'usage'],
                ['Support call', 'call center', 'usage'],
                ['Loyalty email click', 'email', 'retention']]
                   [1 + CAST(floor(random() * 6) AS INTEGER)] AS u
        FROM (SELECT customer_id, bought_at, end_at,
                     unnest(range(CAST(least(lifetime_days, 400) / 10 AS INTEGER) + 1)) AS k
              FROM c WHERE converted))
    WHERE ts < end_at AND ts < TIMESTAMP '2026-01-01'
    UNION ALL
    SELECT customer_id, ts, 'Renewal', 'web', 'retention', fee FROM (
        SELECT customer_id, fee, end_at,
               bought_at + to_days(CAST(30 * m AS INTEGER)) AS ts
        FROM (SELECT customer_id, fee, bought_at, end_at,
                     unnest(range(1, CAST(least(lifetime_days, 400) / 30 AS INTEGER) + 2)) AS m
              FROM c WHERE converted))
    WHERE ts < end_at AND ts < TIMESTAMP '2026-01-01'
    UNION ALL
    SELECT customer_id, end_at, 'Cancel subscription', cancel_channel, 'retention', NULL
    FROM c WHERE converted AND end_at < TIMESTAMP '2026-01-01'
)
SELECT p.customer_id, date_trunc('second', p.ts) AS "timestamp", p.touchpoint, p.channel,
       p.stage, p.revenue, c.segment, c.persona, c.region, c.variant
FROM parts p JOIN customers c USING (customer_id)
WHERE p.ts < TIMESTAMP '2026-01-01'
ORDER BY p.customer_id, "timestamp"
"""


_FEEDBACK = """
CREATE TEMP TABLE feedback AS
WITH picked AS (
    SELECT customer_id, "timestamp", touchpoint, channel, random() AS r_score, random() AS r_text
    FROM events
    WHERE (touchpoint IN ('Payment failed', 'Checkout') AND random() < 0.04)
       OR (touchpoint = 'Purchase' AND random() < 0.035)
       OR (touchpoint = 'Support call' AND random() < 0.05)
       OR (touchpoint = 'App login' AND random() < 0.001)
), scored AS (
    SELECT *,
        CASE touchpoint WHEN 'Purchase' THEN 'nps'
             WHEN 'Support call' THEN 'csat' WHEN 'App login' THEN 'csat' ELSE 'ces' END AS scale,
        CASE touchpoint
             WHEN 'Payment failed' THEN 1 + floor(r_score * 3)
             WHEN 'Checkout' THEN 5 + floor(r_score * 3)
             WHEN 'Purchase' THEN floor(r_score * 11)
             WHEN 'Support call' THEN 1 + floor(r_score * 5)
             ELSE 1 + floor(r_score * 2) END AS score
    FROM picked
), worded AS (
    SELECT *, CASE
            WHEN touchpoint = 'Payment failed' THEN $payment
            WHEN touchpoint = 'Checkout' THEN $checkout
            WHEN touchpoint = 'Purchase' AND score >= 7 THEN $purchase_praise
            WHEN touchpoint = 'Purchase' THEN $purchase_complaints
            WHEN touchpoint = 'Support call' AND score >= 4 THEN $support_praise
            WHEN touchpoint = 'Support call' THEN $support_complaints
            ELSE $app END AS options
    FROM scored
)
SELECT customer_id,
       "timestamp" + CASE touchpoint WHEN 'Purchase' THEN INTERVAL 14 DAY
                                     ELSE INTERVAL 30 MINUTE END AS "timestamp",
       touchpoint, channel, scale, score,
       CASE WHEN r_text >= 0.25 THEN
           options[1 + CAST(floor((r_text - 0.25) / 0.75 * len(options)) AS INTEGER)]
       END AS text
FROM worded
WHERE "timestamp" < TIMESTAMP '2025-12-15'  -- so an NPS 14 days on is still in the data
ORDER BY "timestamp", customer_id
"""


def generate(directory: Path, n_events: int, *, seed: float = 0.42) -> Path:
    """Write ``events.csv`` (roughly ``n_events`` rows) and ``feedback.csv`` (about one
    comment or score per 150 events, tied to its touchpoint) into ``directory``."""
    partial = directory.with_name(directory.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SELECT setseed(?)", [seed])
    con.execute(_CUSTOMERS.format(customers=max(int(n_events * CUSTOMERS_PER_EVENT), 1)))
    con.execute(_EVENTS)
    con.execute(_FEEDBACK, {name: list(texts) for name, texts in _COMMENTS.items()})
    for table in ("events", "feedback"):
        con.execute(f"COPY {table} TO '{partial / table}.csv' (HEADER, DELIMITER ',')")
    con.close()
    partial.replace(directory)
    return directory


def dataset(n_events: int) -> Path:
    """The directory of CSVs for a size, generated once (older versions are removed)."""
    path = DATA_DIR / f"journeys_v{VERSION}_{n_events}"
    if DATA_DIR.exists():
        for stale in DATA_DIR.glob("journeys_*"):
            if not stale.name.startswith(f"journeys_v{VERSION}_"):
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    if not path.exists():
        generate(path, n_events)
    return path
