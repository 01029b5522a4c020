"""The Churn page: curves from the analysis, the churn definition in the URL, every section
rendering, and a proposed inactivity rule when the data has no churn touchpoint."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis import demo, frames
from analysis.definitions import suggest_inactivity_days
from analysis.frames import Filters
from analysis.store import Workspace
from analysis.survival import churn_table, kaplan_meier
from tests.app.conftest import open_page, qp

PAGE = "pages/3_Churn.py"


def _demo_id(path) -> str:
    with Workspace(path) as ws:
        demo.ensure_demo(ws)
        return ws.get_meta("demo_events_id")


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _values(data) -> list[float]:
    """A trace's array: a list, or plotly's typed array (``{"dtype", "bdata"}``, base64)."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def _curves(spec: dict) -> dict[str, list[float]]:
    """The drawn survival curves by group (the traces without "upper"/"lower" bands)."""
    return {t["name"]: _values(t["y"]) for t in spec["data"]
            if t.get("type") == "scatter" and t.get("mode", "").startswith("lines")
            and not t["name"].endswith((" upper", " lower"))}


def _errors(at: AppTest) -> list:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def test_default_view_draws_the_analysis_and_writes_the_url(workspace_path):
    at = open_page(PAGE)
    assert _errors(at) == []
    assert qp(at, "ct") == ["Cancel subscription"] and qp(at, "clock") == ["conversion"]
    events = demo.load().events
    table = churn_table(events, churn_touchpoints=["Cancel subscription"],
                        start_at=["Purchase"])
    by = qp(at, "by")[0]
    expected = kaplan_meier(table.assign(group=table[by].astype(str)), by="group").curves
    drawn = _curves(_specs(at)[0])
    assert sorted(drawn) == sorted(expected["group"].unique())
    for group, values in drawn.items():
        mine = expected[expected["group"] == group]["survival"].to_numpy()
        np.testing.assert_allclose(values, mine, rtol=1e-9)
    # The drivers tab is open by default: the forest plot shows the planted payment failure.
    forest = _specs(at)[1]
    assert "Had Payment failed" in forest["layout"]["yaxis"]["ticktext"]


def test_settings_come_back_from_the_link(workspace_path):
    dataset = _demo_id(workspace_path)
    at = open_page(PAGE, dataset=dataset, ct=[], cin="45", asof="2025-10-01", clock="first",
                   by="segment", tab="cohorts")
    assert _errors(at) == []
    assert at.multiselect(key="c_ct").value == []
    assert at.number_input(key="c_cin").value == 45
    assert str(at.date_input(key="c_asof").value) == "2025-10-01"
    assert at.selectbox(key="c_clock").value == "first"
    assert at.selectbox(key="c_by").value == "segment"
    assert qp(at, "cin") == ["45"] and qp(at, "asof") == ["2025-10-01"]
    assert qp(at, "tab") == ["cohorts"]
    heatmap = [t for s in _specs(at) for t in s["data"] if t.get("type") == "heatmap"]
    assert heatmap, "the cohort tab draws its heatmap"


@pytest.mark.parametrize("tab", ["risk", "winback"])
def test_every_section_renders(workspace_path, tab):
    at = open_page(PAGE, tab=tab, cin="60", clock="first")
    assert _errors(at) == []
    assert qp(at, "tab") == [tab]
    if tab == "risk":
        table = next(df.value for df in at.dataframe if "reasons" in df.value.columns)
        assert len(table) > 0 and table["relative_hazard"].is_monotonic_decreasing
    else:
        assert any("came back" in m.label.lower() for m in at.metric)


def test_changing_the_churn_rule_updates_the_url(workspace_path):
    at = open_page(PAGE)
    at.number_input(key="c_cin").set_value(30).run()
    assert _errors(at) == []
    assert qp(at, "cin") == ["30"]
    caption = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "no activity for 30 days" in caption


def test_no_churn_touchpoint_proposes_an_inactivity_threshold(workspace_path):
    _demo_id(workspace_path)
    with Workspace(workspace_path) as ws:
        events_id = ws.get_meta("demo_events_id")
        ws.set_definitions(events_id, replace(ws.definitions(events_id), churn=(),
                                              inactivity_days=None))
    at = open_page(PAGE)
    assert _errors(at) == []
    proposed = at.number_input(key="c_cin").value
    assert proposed > 0 and at.multiselect(key="c_ct").value == []
    assert any(f"proposed as {proposed} days" in i.value for i in at.info)


def test_the_suggested_threshold_is_counted_once_and_kept_in_the_workspace(workspace_path):
    _demo_id(workspace_path)
    with Workspace(workspace_path) as ws:
        events_id = ws.get_meta("demo_events_id")
        key = f"suggested_inactivity_days:{events_id}"
        assert ws.get_meta(key) is None
        expected = suggest_inactivity_days(frames.load(ws, events_id, Filters()))
    at = open_page(PAGE)
    assert _errors(at) == []
    with Workspace(workspace_path) as ws:
        assert ws.get_meta(key) == str(expected)
        ws.set_meta(key, "45")  # a later process reads it instead of counting again
    at = open_page(PAGE, ct=[], cin="0")
    assert "45 days" in at.number_input(key="c_cin").help


def test_pairs_of_groups_are_tested_when_their_expander_opens(workspace_path):
    at = open_page(PAGE, by="region", clock="first")
    assert _errors(at) == []
    table = churn_table(demo.load().events, churn_touchpoints=["Cancel subscription"])
    expected = kaplan_meier(table.assign(group=table["region"].astype(str)), by="group")
    assert len(expected.pairwise) > 0
    assert not any("group_a" in df.value.columns for df in at.dataframe)
    at.session_state["c_pairs"] = True  # as a click on the expander
    at.run()
    assert _errors(at) == []
    shown = next(df.value for df in at.dataframe if "group_a" in df.value.columns)
    assert len(shown) == len(expected.pairwise)
    assert sorted(shown["p_value"].round(5)) == sorted(expected.pairwise["p_value"].round(5))


def test_no_churn_rule_at_all_offers_the_definition_in_place(workspace_path):
    at = open_page(PAGE, ct=[], cin="0")
    assert _errors(at) == []
    assert any("Churn is not defined" in m.value for m in at.markdown)
    assert at.get("plotly_chart") == []


def _reference_grouped(table, by: str):
    """ui.churn.grouped row by row in pandas, as first written."""
    from ui.churn import MAX_GROUPS, OTHER

    labels = table[by].astype("string").fillna("(missing)")
    top = labels.value_counts().index[:MAX_GROUPS - 1]
    if labels.nunique() > MAX_GROUPS:
        labels = labels.where(labels.isin(top), OTHER)
    return labels.astype(str).to_numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouping_folds_small_groups_as_the_row_by_row_reference(seed):
    import pandas as pd

    from ui.churn import grouped

    rng = np.random.default_rng(seed)
    n = 3000
    # Twelve text values with tied counts, missing values, numbers and a few values only.
    text = rng.choice([f"g{i}" for i in range(12)] + [None], n, p=[0.1] * 6 + [0.05] * 6 + [0.1])
    table = pd.DataFrame({"text": text, "number": rng.integers(0, 11, n).astype(float),
                          "few": rng.choice(["a", "b", None], n)})
    table.loc[::7, "number"] = np.nan
    # Exact ties at the fold: ten values five times each, in shuffled order.
    table["tied"] = rng.permutation(np.resize([f"t{i}" for i in range(10)], n))
    for by in ("text", "number", "few", "tied"):
        out = grouped(table, by)["group"].to_numpy()
        assert out.tolist() == _reference_grouped(table, by).tolist(), by
