"""The app on Spark: configured Spark sources become workspace datasets whose data stays on
Spark; every page renders on them and shows the numbers DuckDB gives."""

from __future__ import annotations

import json
from pathlib import Path

import narwhals as nw
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis import demo, frames, funnel, paths, spark_source
from analysis.spark_source import SparkSourceError, read_config
from analysis.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/1_Paths.py", "pages/2_Funnels.py", "pages/3_Churn.py",
         "pages/4_Experiments.py", "pages/5_Pain_points.py", "pages/6_Touchpoints.py",
         "pages/7_Data.py"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ('[[source]]\nkind = "events"\ntable = "t"\n', "has no name"),
    ('[[source]]\nname = "a"\nkind = "orders"\ntable = "t"\n', "kind 'orders'"),
    ('[[source]]\nname = "a"\n', "exactly one of table and path"),
    ('[[source]]\nname = "a"\ntable = "t"\npath = "/x"\n', "exactly one of table and path"),
    ('[[source]]\nname = "a"\npath = "/x"\nformat = "xls"\n', "format 'xls'"),
    ('[[source]]\nname = "a"\ntable = "t"\n[source.mapping]\nuser = "u"\n',
     "maps user, which are not events columns"),
    ('[[source]]\nname = "a"\ntable = "t"\n[[source]]\nname = "a"\ntable = "u"\n',
     "two sources are named 'a'"),
    ('[[source]]\nname = "f"\nkind = "feedback"\ntable = "t"\nlinked_to = "e"\n',
     "links to 'e', which is not a source"),
    ("[[source]\n", "not valid TOML"),
])
def test_bad_configuration_says_what_to_fix(tmp_path, text, expected):
    with pytest.raises(SparkSourceError, match=expected) as error:
        read_config(_write(tmp_path / "spark.toml", text))
    assert error.value.hint


def test_missing_configuration_file(tmp_path):
    with pytest.raises(SparkSourceError, match="cannot be read"):
        read_config(tmp_path / "absent.toml")
    assert spark_source.configured({}) is None


def test_settings_change_gives_a_new_checksum(tmp_path):
    one = read_config(_write(tmp_path / "a.toml", '[[source]]\nname = "a"\ntable = "t"\n'))
    two = read_config(_write(tmp_path / "b.toml", '[[source]]\nname = "b"\ntable = "t"\n'))
    three = read_config(_write(tmp_path / "c.toml", '[[source]]\nname = "a"\ntable = "u"\n'))
    assert one.sources[0].checksum == two.sources[0].checksum  # the name is not a setting
    assert one.sources[0].checksum != three.sources[0].checksum


# ---------------------------------------------------------------------------- on Spark


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> tuple[Path, demo.DemoData, pd.DataFrame]:
    """The demo as lake files: events with their own column names, three unusable rows."""
    root = tmp_path_factory.mktemp("lake")
    d = demo.load()
    events = d.events.astype({"touchpoint": str, "channel": str, "stage": str})
    broken = events.head(3).assign(customer_id=None)
    raw = pd.concat([events, broken], ignore_index=True).rename(
        columns={"customer_id": "user_id", "touchpoint": "event_name"})
    (root / "events").mkdir()
    raw.to_parquet(root / "events" / "part-0.parquet", index=False)
    d.feedback.to_parquet(root / "feedback.parquet", index=False)
    config = _write(root / "spark.toml", f"""
[[source]]
name = "Lake events"
kind = "events"
path = {json.dumps(str(root / "events"))}
[source.mapping]
customer_id = "user_id"
touchpoint = "event_name"

[[source]]
name = "Lake feedback"
kind = "feedback"
path = {json.dumps(str(root / "feedback.parquet"))}
linked_to = "Lake events"
""")
    return config, d, events


@pytest.fixture
def registered(spark, lake, tmp_path):
    config, d, events = lake
    ws = Workspace(tmp_path / "ws")
    entries = spark_source.sync(ws, read_config(config))
    yield ws, entries, d, events
    ws.close()


def test_sources_register_once_with_profile_and_quarantine(registered, lake):
    ws, (ev, fb), d, events = registered
    assert (ev.kind, fb.kind, fb.linked_to) == ("events", "feedback", ev.id)
    assert ev.rows == len(events) and ev.quarantined == 3
    assert ev.profile["customers"] == events["customer_id"].nunique()
    assert ev.profile["touchpoints"]["Purchase"] == (events["touchpoint"] == "Purchase").sum()
    assert ev.profile["attributes"]["segment"] == sorted(events["segment"].unique())
    assert ev.mapping["customer_id"] == "user_id"
    assert fb.profile["has_text"] and fb.rows == len(d.feedback)
    again = spark_source.sync(ws, read_config(lake[0]))
    assert [e.id for e in again] == [ev.id, fb.id]
    assert len(ws.datasets()) == 2
    bad = ws.quarantine(ev.id)
    assert len(bad) == 3 and bad["_reason"].str.contains("missing").all()


def test_views_on_a_spark_source_match_duckdb(registered):
    ws, (ev, fb), d, events = registered
    lf = frames.load(ws, ev.id)
    assert lf.implementation is nw.Implementation.PYSPARK
    # Spark frames have no event_seq: both sides order ties by touchpoint name.
    local = events.drop(columns="event_seq", errors="ignore")
    ours = paths.sankey_links(lf, max_steps=4)
    theirs = paths.sankey_links(frames.canonical(_duck(local)), max_steps=4)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
    steps = ["Product page", "Add to cart", "Checkout", "Purchase"]
    pd.testing.assert_frame_equal(funnel.funnel(lf, steps), funnel.funnel(_duck(local), steps),
                                  check_dtype=False)
    _, feedback_lf = frames.load_with_feedback(ws, ev.id, fb.id)
    assert feedback_lf.select(nw.len()).collect().item() == len(d.feedback)


def _duck(df: pd.DataFrame):
    import duckdb

    con = duckdb.connect()
    con.register("events_df", df)
    return con.table("events_df")


def test_every_page_renders_on_a_spark_source(spark, lake, tmp_path, monkeypatch):
    config, _, _ = lake
    monkeypatch.setenv("JOURNEY_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv(spark_source.SPARK_CONFIG_ENV, str(config))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert not at.exception, at.exception
    with Workspace(tmp_path / "ws", read_only=True) as ws:
        ev = next(d for d in ws.datasets() if d.name == "Lake events")
    for page in ["app.py", *PAGES]:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.query_params["dataset"] = ev.id
        if page != "app.py":
            at.switch_page(page)
        at.run()
        assert not at.exception, (page, at.exception)
        assert not [e.value for e in at.error], (page, [e.value for e in at.error])
        assert at.get("plotly_chart") or page.endswith("Data.py"), page
    st.cache_resource.clear()
