"""The Experiments page: the planted effects in words, every setting in the URL, the checks
(SRM, not causal without a control, pre-trends) and caching of the per-customer KPIs."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from analysis import demo
from analysis.experiments import compare
from tests.app.conftest import count_calls, open_page, qp

PAGE = "pages/4_Experiments.py"
DID = {"mode": "did", "grp": "region", "trt": demo.TREATED_REGION,
       "chg": demo.CHANGE_DATE.date().isoformat()}


def _errors(at) -> list:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def _sentences(at) -> list[str]:
    # Markdown arrives escaped (user text is never Markdown); drop the backslashes to read it.
    return [m.value[2:].replace("\\", "") for m in at.markdown
            if m.value.startswith("- ") and not m.value.startswith("- **")]


def _interval(sentence: str) -> tuple[float, float]:
    low, high = re.search(r"95% CI (−?[\d.]+) to (−?[\d.]+)", sentence).groups()
    return tuple(float(v.replace("−", "-")) for v in (low, high))


def test_ab_by_default_recovers_the_planted_lift(workspace_path):
    at = open_page(PAGE)
    assert not _errors(at)
    assert at.radio(key="x_mode").value == "ab"
    assert at.selectbox(key="x_var").value == "variant"
    conversion = next(s for s in _sentences(at) if s.startswith("Conversion"))
    assert "rose" in conversion and "for B relative to A" in conversion
    low, high = _interval(conversion)
    assert low <= demo.AB_LIFT * 100 <= high
    assert any("Sample-ratio check" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 2  # the forest chart and the trend
    assert qp(at, "mode") == ["ab"] and qp(at, "var") == ["variant"]
    assert "converted" in qp(at, "kpi")


def test_did_link_restores_view_with_event_study(workspace_path):
    at = open_page(PAGE, **DID, kpi=["converted", "nps"], trend="converted")
    assert not _errors(at)
    assert at.radio(key="x_mode").value == "did"
    assert at.multiselect(key="x_trt").value == [demo.TREATED_REGION]
    conversion = next(s for s in _sentences(at) if s.startswith("Conversion"))
    assert "for the treated group relative to control" in conversion
    low, high = _interval(conversion)
    assert low <= demo.DID_EFFECT * 100 <= high
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == 3
    assert "relative to the change" in json.dumps(specs[2]["layout"]["xaxis"])
    for key, value in DID.items():
        assert qp(at, key) == [value]
    assert qp(at, "kpi") == ["converted", "nps"]


def test_before_after_says_it_is_not_causal(workspace_path):
    at = open_page(PAGE, mode="before_after", chg="2025-07-01", kpi="converted")
    assert not _errors(at)
    assert any("not a causal effect" in w.value for w in at.warning)
    assert _sentences(at)[0].endswith(".") and "after the change" in _sentences(at)[0]


def test_incomplete_design_says_what_to_pick_and_keeps_the_link(workspace_path):
    at = open_page(PAGE, mode="did", grp="region", chg="2025-07-01")
    assert not _errors(at)
    assert any("Pick which values" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    assert qp(at, "mode") == ["did"] and qp(at, "grp") == ["region"]


def test_cuped_from_the_link_reports_the_reduction(workspace_path):
    at = open_page(PAGE, mode="ab", chg="2025-07-01", cuped="1", kpi=["revenue"])
    assert not _errors(at)
    assert at.toggle(key="x_cuped").value is True
    assert any("CUPED reduced the variance of Revenue per customer" in c.value.replace("\\", "")
               for c in at.caption)
    assert qp(at, "cuped") == ["1"]


def test_srm_banner_is_shown_prominently(workspace_path, monkeypatch):
    from ui import experiments

    table = pd.DataFrame([{
        "kpi": "converted", "label": "Conversion", "segment": compare.ALL,
        "comparison": "B vs A", "value_a": 30.0, "value_b": 31.0, "units_a": 550,
        "units_b": 450, "difference": 1.0, "ci_low": -1.0, "ci_high": 3.0,
        "relative_lift": 0.03, "lift_ci_low": -0.03, "lift_ci_high": 0.1, "p_value": 0.3,
        "p_adjusted": 0.3, "test": "two-proportion z-test", "mde": 2.0, "note": "",
        "unit": " pp", "higher_is_better": True}])
    broken = compare.Effects(table, "ab", 0.0016, True, warnings=(
        "Sample-ratio mismatch: the split is off.",))
    monkeypatch.setattr(experiments, "effects", lambda *a, **k: broken)
    at = open_page(PAGE, kpi="converted")
    assert any("Sample-ratio mismatch" in e.value.replace("\\", "") for e in at.error)


def test_changing_the_trend_kpi_or_correction_reuses_the_customer_table(
        workspace_path, monkeypatch):
    from analysis.experiments import kpis

    calls = count_calls(monkeypatch, kpis, ["customer_kpis"])
    at = open_page(PAGE, kpi=["converted", "revenue"])
    first = calls["customer_kpis"]
    at.selectbox(key="x_trend").set_value("revenue").run()
    at.radio(key="x_corr").set_value("fdr_bh").run()
    assert not _errors(at)
    assert calls["customer_kpis"] == first
    assert qp(at, "trend") == ["revenue"] and qp(at, "corr") == ["fdr_bh"]


def test_segments_add_rows_per_value(workspace_path):
    at = open_page(PAGE, kpi="converted", seg="region")
    assert not _errors(at)
    table = at.dataframe[0].value
    assert set(table["Segment"]) == {"All customers", "East", "North", "South", "West"}
    assert np.all(table["Adjusted p"] >= table["p-value"] - 1e-12)


def test_first_days_horizon_from_the_link(workspace_path):
    at = open_page(PAGE, mode="before_after", chg="2025-07-01", kpi="revenue", hdays="90")
    assert not _errors(at)
    assert at.number_input(key="x_hdays").value == 90
    assert _sentences(at)[0].startswith("Revenue per customer rose")
    assert qp(at, "hdays") == ["90"]
