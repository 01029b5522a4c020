"""Seeded synthetic demo data for an omnichannel subscription retailer, with planted effects.

``python -m analysis.demo data/demo`` writes ``events.parquet``, ``feedback.parquet``,
``customers.parquet`` and ``ground_truth.json``. The planted effects (documented in the
ground truth, asserted by the analyses' tests):

* **Payment failure.** 18% of customers who reach checkout hit the ``Payment failed``
  touchpoint. Their subscription lifetime hazard is 2.5× that of others, and their feedback
  complains about declined cards and failed payments: the true top pain point.
* **A change on 2025-07-01.** For customers whose journey starts on or after that date,
  conversion (reaching ``Purchase``) rises by 10 points in region ``North`` (treated) and not
  elsewhere (control): a difference-in-differences of +0.10.
* **An A/B test.** Column ``variant``: ``B`` converts 5 points better than ``A``.
* **Segments.** Median subscription lifetime (exponential): Budget 120 days, Mainstream
  150 days, Premium 420 days.

CES is on the CES 2.0 scale (1–7, higher means easier).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from analysis.store import Workspace

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_NAME = "Demo: omnichannel retail"

START = datetime(2025, 1, 1)
AS_OF = datetime(2026, 1, 1)
CHANGE_DATE = datetime(2025, 7, 1)
SEGMENTS = {"Budget": 0.4, "Mainstream": 0.4, "Premium": 0.2}
BASE_CONVERSION = {"Budget": 0.25, "Mainstream": 0.32, "Premium": 0.40}
MEDIAN_LIFETIME_DAYS = {"Budget": 120.0, "Mainstream": 150.0, "Premium": 420.0}
REGIONS = ("North", "South", "East", "West")
TREATED_REGION = "North"
DID_EFFECT = 0.10
AB_LIFT = 0.05
REACH_CHECKOUT = 0.65
PAYMENT_FAILURE_RATE = 0.18
PAYMENT_FAILURE_HR = 2.5
PERSONAS = ("Deal hunter", "Loyalist", "Researcher", "Convenience seeker")
ACQUISITION = {"social": 0.25, "web": 0.30, "email": 0.15, "store": 0.15, "app": 0.15}
FIRST_TOUCH = {
    "social": "Social ad view",
    "web": "Search landing",
    "email": "Newsletter open",
    "store": "Store walk-in",
    "app": "App install",
}
CONSIDERATION = (
    ("Product page", "web"),
    ("Product page", "app"),
    ("Compare plans", "web"),
    ("Store visit", "store"),
    ("Chat with advisor", "chat"),
)
MEAN_REVENUE = {"Budget": 40.0, "Mainstream": 80.0, "Premium": 200.0}
MONTHLY_FEE = {"Budget": 9.0, "Mainstream": 19.0, "Premium": 49.0}

from analysis.demo_comments import (  # noqa: E402
    APP_COMPLAINTS,
    CHECKOUT_PRAISE,
    PAYMENT_COMPLAINTS,
    PURCHASE_COMPLAINTS,
    PURCHASE_PRAISE,
    SUPPORT_COMPLAINTS,
    SUPPORT_PRAISE,
)


@dataclass(frozen=True)
class DemoData:
    events: pd.DataFrame
    feedback: pd.DataFrame
    customers: pd.DataFrame
    ground_truth: dict


class _Journey:
    """Collects one customer's events."""

    def __init__(self, attrs: dict) -> None:
        self.attrs = attrs
        self.rows: list[tuple] = []

    def add(self, when: datetime, touchpoint: str, channel: str, stage: str, revenue=None):
        if when < AS_OF:
            self.rows.append((when, touchpoint, channel, stage, revenue))


def generate(n_customers: int = 5000, *, random_state: int = 7) -> DemoData:
    """Generate the demo dataset; the same ``random_state`` gives the same data."""
    rng = np.random.default_rng(random_state)
    events: list[dict] = []
    feedback: list[dict] = []
    customers: list[dict] = []
    for i in range(n_customers):
        journey, fb, cust = _customer(rng, f"C{i + 1:05d}")
        customers.append(cust)
        base = {k: cust[k] for k in ("segment", "persona", "region", "variant")}
        events.extend(
            {"customer_id": cust["customer_id"], "timestamp": w, "touchpoint": t,
             "channel": c, "stage": s, "revenue": r, **base}
            for w, t, c, s, r in journey.rows
        )
        feedback.extend(fb)
    ev = pd.DataFrame(events).sort_values(["customer_id", "timestamp"], kind="stable")
    ev["timestamp"] = ev["timestamp"].astype("datetime64[us]")
    fbk = pd.DataFrame(feedback).sort_values(["timestamp", "customer_id"], kind="stable")
    fbk["timestamp"] = fbk["timestamp"].astype("datetime64[us]")
    fbk.insert(0, "feedback_id", [f"F{i + 1:06d}" for i in range(len(fbk))])
    cust_df = pd.DataFrame(customers)
    cust_df["first_seen"] = cust_df["first_seen"].astype("datetime64[us]")
    truth = _ground_truth(cust_df, n_customers, random_state)
    cust_df = cust_df.drop(columns=["_converted", "_failed", "_post"])
    return DemoData(ev.reset_index(drop=True), fbk.reset_index(drop=True), cust_df, truth)


def _pick(rng: np.random.Generator, options: dict[str, float]) -> str:
    keys = list(options)
    return str(keys[rng.choice(len(keys), p=np.array(list(options.values())))])


def _customer(rng: np.random.Generator, cid: str) -> tuple[_Journey, list[dict], dict]:
    segment = _pick(rng, SEGMENTS)
    region = REGIONS[rng.integers(len(REGIONS))]
    variant = "AB"[rng.integers(2)]
    persona = PERSONAS[rng.integers(len(PERSONAS))]
    acquisition = _pick(rng, ACQUISITION)
    first = START + timedelta(seconds=int(rng.integers(0, 350 * 86400)))
    post = first >= CHANGE_DATE
    attrs = {"customer_id": cid, "segment": segment, "persona": persona, "region": region,
             "variant": variant, "acquisition_channel": acquisition, "first_seen": first}
    j = _Journey(attrs)
    fb: list[dict] = []

    t = first
    j.add(t, FIRST_TOUCH[acquisition], acquisition, "awareness")
    for _ in range(int(rng.integers(1, 5))):
        t += timedelta(hours=float(rng.exponential(30)))
        touch, channel = CONSIDERATION[rng.integers(len(CONSIDERATION))]
        j.add(t, touch, channel, "consideration")

    p_convert = BASE_CONVERSION[segment] + AB_LIFT * (variant == "B")
    p_convert += DID_EFFECT * (post and region == TREATED_REGION)
    converted = failed = False
    if rng.random() < REACH_CHECKOUT:
        device = "app" if rng.random() < 0.4 else "web"
        t += timedelta(minutes=float(rng.exponential(20)) + 1)
        j.add(t, "Add to cart", device, "conversion")
        t += timedelta(minutes=float(rng.exponential(10)) + 1)
        j.add(t, "Checkout", device, "conversion")
        failed = rng.random() < PAYMENT_FAILURE_RATE
        if failed:
            t += timedelta(minutes=float(rng.exponential(3)) + 0.5)
            j.add(t, "Payment failed", device, "conversion")
        converted = rng.random() < p_convert / REACH_CHECKOUT
        if converted:
            t += timedelta(minutes=float(rng.exponential(5)) + 0.5)
            revenue = round(float(rng.lognormal(np.log(MEAN_REVENUE[segment]), 0.4)), 2)
            j.add(t, "Purchase", device, "conversion", revenue)
        if rng.random() < 0.4:
            fb.append(_ces(rng, cid, t, device, failed))
    if converted:
        fb.extend(_subscription(rng, j, cid, t, segment, failed))
    elif rng.random() < 0.3:
        j.add(t + timedelta(days=float(rng.exponential(20))), "Newsletter open", "email",
              "awareness")
    attrs.update({"_converted": converted, "_failed": failed, "_post": post})
    return j, fb, attrs


def _subscription(rng, j: _Journey, cid: str, bought: datetime, segment: str, failed: bool):
    rate = np.log(2) / MEDIAN_LIFETIME_DAYS[segment] * (PAYMENT_FAILURE_HR if failed else 1.0)
    lifetime = float(rng.exponential(1 / rate))
    end = bought + timedelta(days=lifetime)
    fb: list[dict] = []
    if rng.random() < 0.35 and bought + timedelta(days=14) < min(end, AS_OF):
        fb.append(_nps(rng, cid, bought + timedelta(days=14), failed))
    day = 0.0
    while True:
        day += float(rng.exponential(10))
        when = bought + timedelta(days=day)
        if when >= end or when >= AS_OF:
            break
        r = rng.random()
        if r < 0.55:
            j.add(when, "App login", "app", "usage")
        elif r < 0.8:
            j.add(when, "Order tracking", "web" if rng.random() < 0.5 else "app", "usage")
        elif r < 0.9:
            j.add(when, "Support call", "call center", "usage")
            if rng.random() < 0.5:
                fb.append(_csat(rng, cid, when + timedelta(hours=2)))
        else:
            j.add(when, "Loyalty email click", "email", "retention")
        if rng.random() < 0.01:
            fb.append(_app_review(rng, cid, when))
    for month in range(1, 40):
        when = bought + timedelta(days=30 * month)
        if when >= end or when >= AS_OF:
            break
        j.add(when, "Renewal", "web", "retention", MONTHLY_FEE[segment])
        if month == 3 and rng.random() < 0.3:
            touch, channel = ("Referral sent", "social") if rng.random() < 0.5 else (
                "Review posted", "web")
            j.add(when + timedelta(hours=3), touch, channel, "advocacy")
    if end < AS_OF:
        j.add(end, "Cancel subscription", "call center" if rng.random() < 0.6 else "web",
              "retention")
    return fb


def _row(cid, when, touchpoint, channel, scale, score, text):
    return {"customer_id": cid, "timestamp": when, "touchpoint": touchpoint, "channel": channel,
            "scale": scale, "score": float(score), "text": text}


def _comment(rng, options: tuple[str, ...], p: float = 0.75) -> str | None:
    return str(options[rng.integers(len(options))]) if rng.random() < p else None


def _ces(rng, cid, when, device, failed):
    when = when + timedelta(minutes=30)
    if failed:
        score = int(np.clip(round(rng.normal(2.2, 1.0)), 1, 7))
        return _row(cid, when, "Payment failed", device, "ces", score,
                    _comment(rng, PAYMENT_COMPLAINTS, 0.85))
    score = int(np.clip(round(rng.normal(5.8, 1.0)), 1, 7))
    return _row(cid, when, "Checkout", device, "ces", score, _comment(rng, CHECKOUT_PRAISE, 0.5))


def _nps(rng, cid, when, failed):
    score = int(np.clip(round(rng.normal(4.5 if failed else 8.0, 2.0)), 0, 10))
    if failed and rng.random() < 0.6:
        text = _comment(rng, PAYMENT_COMPLAINTS, 1.0)
    elif score >= 7:
        text = _comment(rng, PURCHASE_PRAISE, 0.6)
    else:
        text = _comment(rng, PURCHASE_COMPLAINTS, 0.8)
    return _row(cid, when, "Purchase", "email", "nps", score, text)


def _csat(rng, cid, when):
    score = int(np.clip(round(rng.normal(3.8, 1.1)), 1, 5))
    options = SUPPORT_PRAISE if score >= 4 else SUPPORT_COMPLAINTS
    return _row(cid, when, "Support call", "call center", "csat", score, _comment(rng, options))


def _app_review(rng, cid, when):
    score = int(rng.integers(1, 3))
    return _row(cid, when, "App login", "app", "csat", score, _comment(rng, APP_COMPLAINTS, 1.0))


def _ground_truth(customers: pd.DataFrame, n: int, random_state: int) -> dict:
    c = customers
    treated = c["region"] == TREATED_REGION
    did_cells = {
        f"{'treated' if t else 'control'}_{'post' if p else 'pre'}": round(
            float(c.loc[(treated == t) & (c["_post"] == p), "_converted"].mean()), 4
        )
        for t in (True, False)
        for p in (True, False)
    }
    realized_did = (did_cells["treated_post"] - did_cells["treated_pre"]) - (
        did_cells["control_post"] - did_cells["control_pre"]
    )
    ab = c.groupby("variant")["_converted"].mean()
    return {
        "generator": {"function": "analysis.demo.generate", "n_customers": n,
                      "random_state": random_state},
        "period": {"start": START.date().isoformat(), "as_of": AS_OF.date().isoformat()},
        "touchpoints": {"conversion": "Purchase", "churn": "Cancel subscription",
                        "checkout": "Checkout", "payment_failure": "Payment failed"},
        "conversion": {
            "definition": "share of customers with a Purchase event",
            "base_by_segment": BASE_CONVERSION,
            "realized_overall": round(float(c["_converted"].mean()), 4),
        },
        "diff_in_diff": {
            "change_date": CHANGE_DATE.date().isoformat(),
            "treated": {"column": "region", "value": TREATED_REGION},
            "control": {"column": "region", "values": [r for r in REGIONS if r != TREATED_REGION]},
            "post_definition": "customer's first event on or after change_date",
            "outcome": "converted (reached Purchase)",
            "effect": DID_EFFECT,
            "realized_cells": did_cells,
            "realized_effect": round(realized_did, 4),
        },
        "ab_test": {
            "column": "variant", "control": "A", "treatment": "B",
            "outcome": "converted (reached Purchase)", "lift_absolute": AB_LIFT,
            "realized": {k: round(float(v), 4) for k, v in ab.items()},
        },
        "payment_failure": {
            "touchpoint": "Payment failed",
            "rate_among_checkouts": PAYMENT_FAILURE_RATE,
            "churn_hazard_ratio": PAYMENT_FAILURE_HR,
            "lifetime_starts_at": "Purchase",
            "churn_touchpoint": "Cancel subscription",
            "customers": int(c["_failed"].sum()),
            "top_pain_point": {"touchpoint": "Payment failed",
                               "keywords": ["card", "declined", "payment", "failed"]},
        },
        "survival_by_segment": {
            "median_lifetime_days": MEDIAN_LIFETIME_DAYS,
            "distribution": "exponential, from Purchase; censored at as_of",
            "longest": "Premium",
        },
        "feedback": {"ces_scale": "CES 2.0, 1-7, higher = easier",
                     "nps_survey": "14 days after Purchase, touchpoint Purchase",
                     "csat_survey": "after Support call"},
    }


def write(directory: str | Path = DEMO_DIR, data: DemoData | None = None) -> Path:
    """Write the demo parquet files and ground truth to ``directory``."""
    data = data or generate()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    data.events.to_parquet(out / "events.parquet", index=False)
    data.feedback.to_parquet(out / "feedback.parquet", index=False)
    data.customers.to_parquet(out / "customers.parquet", index=False)
    (out / "ground_truth.json").write_text(json.dumps(data.ground_truth, indent=2) + "\n")
    return out


def load(directory: str | Path = DEMO_DIR) -> DemoData:
    """The committed demo data (no regeneration)."""
    d = Path(directory)
    return DemoData(
        events=pd.read_parquet(d / "events.parquet"),
        feedback=pd.read_parquet(d / "feedback.parquet"),
        customers=pd.read_parquet(d / "customers.parquet"),
        ground_truth=json.loads((d / "ground_truth.json").read_text()),
    )


def ensure_demo(workspace: Workspace, directory: str | Path = DEMO_DIR) -> str | None:
    """Import the demo into a workspace once; returns the events dataset id.

    Returns the existing id if it is there, and None if the user deleted it (it is not
    re-imported behind their back).
    """
    from analysis import ingest

    seeded = workspace.get_meta("demo_events_id")
    if seeded:
        return seeded if any(d.id == seeded for d in workspace.datasets("events")) else None
    demo = load(directory)
    ids = {}
    for kind, frame, name in (
        ("events", demo.events, DEMO_NAME),
        ("feedback", demo.feedback, f"{DEMO_NAME}: feedback"),
        ("customers", demo.customers, f"{DEMO_NAME}: customers"),
    ):
        result = ingest.prepare(frame, ingest.guess_mapping(frame, kind), kind)
        info = workspace.import_result(
            result, name=name, source_name=f"{kind}.parquet", linked_to=ids.get("events")
        )
        ids[kind] = info.id
    workspace.set_meta("demo_events_id", ids["events"])
    return ids["events"]


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else DEMO_DIR))
