"""AppTest: Home for a feedback table on its own (airline tweets, a survey with scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import ingest
from analysis.feedback_summary import feedback_summary
from analysis.store import Workspace
from tests.app.conftest import open_page

BLOCKS = ["By category", "By touchpoint", "Feedback over time", "What people wrote", "Scores"]
INJECTION = "[click](http://evil.example) **bold** <b>x</b>"


@pytest.fixture(scope="module")
def airline(airline_raw) -> ingest.IngestResult:
    return ingest.prepare(airline_raw, ingest.guess_mapping(airline_raw, "feedback"),
                          "feedback")


def _survey() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n_nps, n_csat = 120, 60
    return pd.DataFrame({
        "created": pd.Timestamp("2024-01-01") + pd.to_timedelta(
            np.sort(rng.integers(0, 100 * 24, n_nps + n_csat)), unit="h"),
        "rating": np.r_[rng.integers(0, 11, n_nps), rng.integers(1, 6, n_csat)],
        "survey": ["nps"] * n_nps + ["csat"] * n_csat,
        "comment": rng.choice(["Great app", "Slow delivery", "", INJECTION], n_nps + n_csat),
        "reason": rng.choice(["Delivery", "Support", None], n_nps + n_csat),
        "region": ["North"] * 30 + ["South"] * (n_nps + n_csat - 30),
    })


def _import(workspace_path, result, name: str) -> str:
    with Workspace(workspace_path) as ws:
        return ws.import_result(result, name=name).id


def _survey_dataset(workspace_path) -> tuple[str, pd.DataFrame]:
    raw = _survey()
    result = ingest.prepare(raw, ingest.guess_mapping(raw, "feedback"), "feedback")
    return _import(workspace_path, result, "Survey"), result.data


def _subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def _no_exceptions(at: AppTest) -> None:
    assert [e.value for e in at.exception] == []


def test_airline_tweets_show_every_block(workspace_path, airline):
    dataset = _import(workspace_path, airline, "Airline tweets")
    at = open_page(dataset=dataset)
    _no_exceptions(at)
    assert all(block in _subheaders(at) for block in BLOCKS), _subheaders(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Feedback items"] == "14,640" and metrics["Categories"] == "10"
    assert metrics["Touchpoints"] == "6"
    assert len(at.get("plotly_chart")) == 3  # category, touchpoint, volume: no scores
    assert any("no score column" in i.value and "Data page" in i.value for i in at.info)
    assert len(at.text) == 20  # the comments, as plain text
    assert any("10 distinct categories" in c.value for c in at.caption)


def test_comments_can_be_picked_by_category(workspace_path, airline):
    dataset = _import(workspace_path, airline, "Airline tweets")
    at = open_page(dataset=dataset)
    at.selectbox(key="home_fbcat").select("Lost Luggage")
    at = at.run()
    _no_exceptions(at)
    about = [c.value for c in at.caption if " UTC · " in c.value]
    assert len(about) == 20 and all("Lost Luggage" in a for a in about)
    # A link naming the category opens the same sample.
    again = open_page(dataset=dataset, fbcat="Lost Luggage")
    assert again.selectbox(key="home_fbcat").value == "Lost Luggage"
    assert [c.value for c in again.caption if " UTC · " in c.value] == about


def test_survey_shows_nps_and_csat_with_intervals(workspace_path):
    dataset, data = _survey_dataset(workspace_path)
    at = open_page(dataset=dataset)
    _no_exceptions(at)
    assert all(block in _subheaders(at) for block in BLOCKS)
    expected = feedback_summary(data)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["NPS (0–10)"] == f"{expected.nps.value:+.0f}"
    assert metrics["CSAT (1–5)"] == f"{100 * expected.csat.value:.1f}%"
    assert "CES (1–7)" not in metrics and "Touchpoints" in metrics
    ci = f"95% CI {expected.nps.ci_low:+.0f} to {expected.nps.ci_high:+.0f} · 120 answers"
    assert ci in [c.value for c in at.caption]
    assert len(at.get("plotly_chart")) == 4  # two scales, category, volume (no touchpoint)
    assert any("no touchpoint column" in i.value for i in at.info)


def test_comments_are_plain_text_never_markdown(workspace_path):
    dataset, _ = _survey_dataset(workspace_path)
    at = open_page(dataset=dataset)
    _no_exceptions(at)
    assert INJECTION in [t.value for t in at.text]
    rendered = [m.value for m in (*at.markdown, *at.caption, *at.info)]
    assert not any("http://evil" in text for text in rendered)


def test_nothing_after_filters_says_so(workspace_path):
    dataset, _ = _survey_dataset(workspace_path)
    # The 30 "North" answers are the earliest ones: none is from March on.
    at = open_page(dataset=dataset, **{"f.region": "North", "from": "2024-03-01"})
    _no_exceptions(at)
    assert any("No feedback matches the filters" in i.value for i in at.info)
    assert "By category" not in _subheaders(at)
