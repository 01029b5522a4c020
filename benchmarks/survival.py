"""Survival statistics at a million customers: Kaplan–Meier by group and Cox regression.

    python -m benchmarks.survival                    # 1M customers
    python -m benchmarks.survival --customers 200000 # quicker

The input is what :func:`analysis.survival.customer_lifetimes` returns (one row per customer:
customer_id, start, end, duration_days to the microsecond, churned), plus a 5-level segment
and 10 covariates (8 continuous, 2 binary), as a pandas frame. Durations come from a Cox model
with planted hazard ratios, an exponential baseline and random censoring, so nearly every
duration is distinct: the hardest case for counting per (group, time).

Each case runs in a fresh process: Kaplan–Meier is the best of ``--repeat`` runs after one
warm-up; each Cox fit runs once (a fit is seconds to minutes, and lifelines has no state to
warm), the full fit with a time limit. Peak memory is the process's ru_maxrss (about 250 MB
of Python and libraries before any data). Results go to ``benchmarks/survival.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "survival.json"
SEGMENTS = ["Budget", "Family", "Premium", "Student", "Business"]
COVARIATES = [f"x{i}" for i in range(8)] + ["mobile", "promo"]
#: Planted log hazard ratios of the covariates, in the order of COVARIATES.
COEFS = np.array([0.3, -0.2, 0.1, 0.0, 0.05, -0.1, 0.2, 0.0, 0.4, -0.3])
SAMPLE_ROWS = 50_000  # what the Churn page fits on (analysis.survival.at_risk.MAX_FIT_ROWS)
FULL_COX_LIMIT_S = 180


def lifetimes(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` customers' lifetimes with a segment and the covariates, seeded."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    binary = (rng.random((n, 2)) < [0.4, 0.25]).astype(np.int8)
    segment = rng.integers(0, len(SEGMENTS), n)
    risk = np.c_[x, binary] @ COEFS + 0.15 * segment
    churn_days = rng.exponential(180.0, n) * np.exp(-risk)
    censor_days = rng.uniform(0, 365.0, n)
    micros = (np.minimum(churn_days, censor_days) * 86_400e6).astype(np.int64)
    start = np.datetime64("2025-01-01", "us") + rng.integers(0, 86_400 * 10**6 * 30, n)
    frame = pd.DataFrame({
        "customer_id": [f"c{i:07d}" for i in range(n)],
        "start": start,
        "end": start + micros.astype("timedelta64[us]"),
        "duration_days": micros / 1_000_000 / 86_400.0,
        "churned": churn_days <= censor_days,
        "segment": np.array(SEGMENTS, dtype=object)[segment],
    })
    frame[COVARIATES[:8]] = x
    frame[COVARIATES[8:]] = binary
    return frame


def measure(case: str, n: int, repeat: int) -> dict:
    """Run one case in this process and report its time and peak memory."""
    from analysis import survival

    data = lifetimes(n)
    out: dict = {"case": case, "customers": n}
    if case == "kaplan_meier_by_segment":
        survival.kaplan_meier(data, by="segment")  # warm-up: imports, first allocations
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            result = survival.kaplan_meier(data, by="segment")
            times.append(time.perf_counter() - start)
        out |= {"seconds": min(times), "groups": len(result.summary),
                "curve_rows": len(result.curves), "logrank_p": result.logrank_p}
    else:
        max_rows = SAMPLE_ROWS if case == "cox_sampled" else None
        start = time.perf_counter()
        result = survival.cox_hazards(data, covariates=COVARIATES, max_rows=max_rows)
        out |= {"seconds": time.perf_counter() - start, "rows_fitted": result.n,
                "sampled": result.sampled, "status": result.status,
                "concordance": result.concordance,
                "hazard_ratios": dict(zip(result.table["covariate"],
                                          result.table["hazard_ratio"].round(4), strict=True))}
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def run_isolated(case: str, n: int, repeat: int, timeout: float | None) -> dict:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.survival", "--one", case, "--customers", str(n),
             "--repeat", str(repeat)],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"case": case, "customers": n, "seconds": None,
                "note": f"did not finish within {timeout:.0f} s"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", metavar="CASE")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.customers, args.repeat)))
        return
    cases = [("kaplan_meier_by_segment", None), ("cox_sampled", None),
             ("cox_full", FULL_COX_LIMIT_S)]
    rows = []
    print(f"{'case':<26}{'customers':>11}{'seconds':>9}{'peak MB':>9}  detail")
    for case, timeout in cases:
        row = run_isolated(case, args.customers, args.repeat, timeout)
        rows.append(row)
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.2f}"
        detail = row.get("note") or (
            f"{row['groups']} groups, {row['curve_rows']:,} curve rows"
            if case.startswith("kaplan") else
            f"{row['rows_fitted']:,} rows fitted, concordance {row['concordance']:.3f}")
        print(f"{case:<26}{args.customers:>11,}{seconds:>9}{row.get('peak_mb', 0):>9,}  "
              f"{detail}", flush=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
