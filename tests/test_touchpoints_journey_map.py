"""Journey map: one cell by hand (ties ordered by event_seq), cells adding up to stages and
stages against an independent pandas count on the demo, steps mode, a persona filter against
pre-filtered events, the emotion curve against an independent mean, engine parity, figures."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from analysis import demo
from analysis.figures.journey_map import (
    figure_html,
    figure_png,
    journey_map_chart,
    journey_map_pair,
)
from analysis.painpoints.sentiment import vader_compound
from analysis.schema import SCALE_RANGES, MissingColumnError, ParameterError, UnknownValueError
from analysis.touchpoints.journey_map import CELL_COLUMNS, STAGE_COLUMNS, journey_map

T0 = datetime(2025, 3, 1)
STAGES = ["awareness", "consideration", "conversion"]
# B's first two events share a timestamp: the file order (Visit, then Ad) decides.
HAND = {
    "A": [("Ad", "awareness", 0), ("Visit", "consideration", 2), ("Compare", "consideration", 3),
          ("Buy", "conversion", 5)],
    "B": [("Visit", "consideration", 1), ("Ad", "awareness", 1), ("Mail", "awareness", 4)],
    "C": [("Ad", "awareness", 0), ("Ad", "awareness", 6)],
    "D": [("Mail", "awareness", 0), ("Ad", "awareness", 1), ("Visit", "consideration", 3)],
}


def hand_events() -> pd.DataFrame:
    rows = [{"customer_id": cid, "timestamp": T0 + timedelta(hours=h), "touchpoint": tp,
             "stage": stage, "channel": "web"}
            for cid, events in HAND.items() for tp, stage, h in events]
    out = pd.DataFrame(rows)
    out["event_seq"] = np.arange(len(out), dtype="int64")
    return out


def cell(jm, stage: str, touchpoint: str) -> pd.Series:
    hit = jm.cells[(jm.cells["stage"] == stage) & (jm.cells["touchpoint"] == touchpoint)]
    assert len(hit) == 1, (stage, touchpoint)
    return hit.iloc[0]


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate(n_customers=1500)


@pytest.fixture(scope="module")
def demo_map(data):
    return journey_map(data.events, data.feedback)


def test_hand_cell_with_ties_ordered_by_event_seq():
    jm = journey_map(hand_events(), stages=STAGES)
    assert list(jm.cells.columns) == list(CELL_COLUMNS)
    assert list(jm.stages.columns) == list(STAGE_COLUMNS)
    assert (jm.status, jm.from_steps, jm.stage_order) == ("ok", False, tuple(STAGES))
    ad = cell(jm, "awareness", "Ad")
    # Entered through Ad: A, B (Ad after Visit at the same instant), C; D entered by Mail.
    assert (ad["customers"], ad["touched"]) == (3, 4)
    # Only A reaches consideration after entering awareness (B's Visit came before its Ad).
    assert ad["next_stage_share"] == pytest.approx(1 / 3)
    # A: 2 h to Visit; B: never moves on, 3 h to its last awareness event; C: 6 h.
    assert ad["median_seconds_in_stage"] == pytest.approx(3 * 3600)
    mail = cell(jm, "awareness", "Mail")
    assert (mail["customers"], mail["next_stage_share"]) == (1, 1.0)
    assert mail["median_seconds_in_stage"] == pytest.approx(3 * 3600)
    visit = cell(jm, "consideration", "Visit")
    assert (visit["customers"], visit["next_stage_share"]) == (3, pytest.approx(1 / 3))
    assert visit["median_seconds_in_stage"] == 0  # B and D never move on; A takes 3 h
    assert np.isnan(cell(jm, "conversion", "Buy")["next_stage_share"])
    assert jm.stages["customers"].tolist() == [4, 3, 1]
    assert cell(jm, "consideration", "Compare")["customers"] == 0


def test_feedback_takes_the_stage_of_its_linked_event():
    events = pd.DataFrame({
        "customer_id": ["X", "X"], "touchpoint": ["Chat", "Chat"],
        "stage": ["awareness", "consideration"],
        "timestamp": [T0, T0 + timedelta(hours=5)]})
    comment = "I love it, great service"
    feedback = pd.DataFrame({
        "customer_id": ["X", "X", None, "X"],
        "touchpoint": ["Chat", None, "Chat", "Chat"],
        "timestamp": [T0 + timedelta(hours=h) for h in (1, 6, 2, 0.5)],
        "score": [1.0, 5.0, 10.0, np.nan], "scale": ["csat", "csat", "nps", None],
        "text": [None, None, None, comment]})
    jm = journey_map(events, feedback, stages=["awareness", "consideration"])
    aware, consider = cell(jm, "awareness", "Chat"), cell(jm, "consideration", "Chat")
    # CSAT 1 → −1 and the comment at the first Chat; the row without a customer goes to the
    # touchpoint's stage touched by most customers (a tie: the first); the unlabelled CSAT 5
    # (+1) is linked to the preceding event, the second Chat.
    assert (aware["feedback"], consider["feedback"]) == (3, 1)
    assert aware["mean_sentiment"] == pytest.approx((-1 + 1 + vader_compound(comment)) / 3)
    assert consider["mean_sentiment"] == 1.0
    assert aware["negative_share"] == pytest.approx(1 / 3)
    assert jm.stages["mean_sentiment"].tolist() == pytest.approx(
        [aware["mean_sentiment"], 1.0])


def test_cells_add_up_to_stages_and_stages_match_pandas(data, demo_map):
    jm, events = demo_map, data.events
    assert jm.status == "ok" and jm.message == ""
    assert jm.stage_order == ("awareness", "consideration", "conversion", "usage", "retention",
                              "advocacy")
    added = jm.cells.groupby("stage")["customers"].sum()
    stages = jm.stages.set_index("stage")
    assert added.reindex(stages.index).tolist() == stages["customers"].tolist()
    expected = events.groupby("stage")["customer_id"].nunique()
    assert stages["customers"].to_dict() == expected.reindex(stages.index).to_dict()
    touched = events.groupby(["stage", "touchpoint"])["customer_id"].nunique()
    got = jm.cells.set_index(["stage", "touchpoint"])["touched"]
    assert got.to_dict() == touched.reindex(got.index).to_dict()


def test_stage_next_share_matches_pandas(data, demo_map):
    events = data.events.sort_values(["customer_id", "timestamp"], kind="stable")
    events = events.assign(pos=events.groupby("customer_id").cumcount())
    first = events.groupby(["customer_id", "stage"])["pos"].min().unstack()
    last = events.groupby(["customer_id", "stage"])["pos"].max().unstack()
    entered = first["conversion"].notna()
    later = (last["usage"] > first["conversion"])[entered]
    got = demo_map.stages.set_index("stage").loc["conversion", "next_stage_share"]
    assert got == pytest.approx(later.mean())


def test_steps_without_a_stage_column(data):
    events = data.events.drop(columns=["stage"])
    jm = journey_map(events, max_steps=4)
    assert jm.from_steps and jm.stage_order == ("Step 1", "Step 2", "Step 3", "Step 4+")
    assert "Data page" in jm.message
    added = jm.cells.groupby("stage_index")["customers"].sum()
    assert added.tolist() == jm.stages["customers"].tolist()
    lengths = events.groupby("customer_id").size()
    assert jm.stages["customers"].tolist() == [int((lengths >= k).sum()) for k in (1, 2, 3, 4)]
    first = events.sort_values("timestamp", kind="stable").groupby("customer_id").head(1)
    step1 = jm.cells[jm.cells["stage_index"] == 0].set_index("touchpoint")["customers"]
    assert step1.to_dict() == first["touchpoint"].value_counts().to_dict()
    with pytest.raises(MissingColumnError):
        journey_map(events, stages=["a"])


def test_persona_equals_prefiltered_events(data):
    events, feedback = data.events, data.feedback
    jm = journey_map(events, feedback, segment_column="persona", segment="Loyalist")
    assert (jm.segment, jm.status) == ("Loyalist", "ok")
    loyal = events[events["persona"] == "Loyalist"].reset_index(drop=True)
    alone = journey_map(loyal, feedback[feedback["customer_id"].isin(set(loyal["customer_id"]))],
                        stages=jm.stage_order)
    pd.testing.assert_frame_equal(jm.cells, alone.cells)
    pd.testing.assert_frame_equal(jm.stages, alone.stages)
    everyone = journey_map(events, stages=jm.stage_order)
    assert jm.stages["customers"].sum() < everyone.stages["customers"].sum()
    unknown = journey_map(events, segment_column="persona", segment="Astronaut")
    assert unknown.status == "empty" and "Loyalist" in unknown.message
    assert unknown.cells.empty and list(unknown.cells.columns) == list(CELL_COLUMNS)


def test_emotion_on_the_demo(data, demo_map):
    failed = cell(demo_map, "conversion", "Payment failed")
    assert failed["mean_sentiment"] < -0.3 and failed["negative_share"] > 0.6
    assert failed["pain_point"] and "negative feedback" in failed["pain_point"]
    assert cell(demo_map, "conversion", "Checkout")["mean_sentiment"] > 0.3
    # Each feedback touchpoint lives in one stage in the demo, so a row's stage is its
    # touchpoint's; a score reads −1..1 on its scale (CES 2.0: higher is easier).
    stage_of = data.events.groupby("touchpoint")["stage"].agg(lambda s: s.unique())
    feedback = data.feedback
    assert all(len(stage_of[t]) == 1 for t in feedback["touchpoint"].unique())
    low = feedback["scale"].map(lambda s: SCALE_RANGES[s][0])
    high = feedback["scale"].map(lambda s: SCALE_RANGES[s][1])
    value = 2 * (feedback["score"] - low) / (high - low) - 1
    stage = feedback["touchpoint"].map(lambda t: stage_of[t][0])
    expected = value.groupby(stage).mean()
    got = demo_map.stages.set_index("stage")
    assert got["mean_sentiment"].dropna().to_dict() == pytest.approx(expected.to_dict())
    assert got["feedback"].sum() == len(feedback)
    per_cell = value.groupby([stage, feedback["touchpoint"]]).mean()
    assert failed["mean_sentiment"] == pytest.approx(per_cell[("conversion", "Payment failed")])


def test_pinned_pain_points_from_a_priority_table(data):
    table = pd.DataFrame({
        "touchpoint": ["Support call", "Payment failed", "Checkout", "Purchase"],
        "topic": ["(no topic)", "Card declined", "Slow page", "Price"],
        "topic_id": [-1, 0, 1, 2],
        "priority": [0.99, 0.9, 0.5, 0.4],
        "negative_share": [0.5, 0.8, 0.3, 0.2],
    })
    jm = journey_map(data.events, data.feedback, pain_points=table, top_pain_points=2)
    pinned = jm.cells[jm.cells["pain_point"].notna()]
    assert set(pinned["touchpoint"]) == {"Payment failed", "Checkout"}
    failed = cell(jm, "conversion", "Payment failed")
    assert (failed["pain_point"], failed["pain_rank"]) == ("Card declined (80% negative)", 1)
    none = journey_map(data.events, data.feedback, pain_points=table, top_pain_points=0)
    assert none.cells["pain_point"].isna().all()


def test_bad_input_says_what_to_pass():
    events = hand_events()
    with pytest.raises(UnknownValueError, match="awarness"):
        journey_map(events, stages=["awarness", "consideration"])
    with pytest.raises(ParameterError, match="segment_column"):
        journey_map(events, segment="Loyalist")
    with pytest.raises(MissingColumnError):
        journey_map(events, segment_column="persona", segment="Loyalist")
    with pytest.raises(ParameterError, match="max_steps"):
        journey_map(events, max_steps=1)
    partial = journey_map(events, stages=["awareness", "consideration"])
    assert "conversion" in partial.message and partial.stages["customers"].tolist() == [4, 3]
    assert journey_map(events.iloc[0:0]).status == "empty"


def parity_events(data) -> pd.DataFrame:
    customers = data.events["customer_id"].drop_duplicates().iloc[:200]
    events = data.events[data.events["customer_id"].isin(customers)].reset_index(drop=True)
    return events.assign(event_seq=np.arange(len(events), dtype="int64"))


def test_backends_give_the_same_map(data, spark):
    events = parity_events(data)
    feedback = data.feedback[data.feedback["customer_id"].isin(set(events["customer_id"]))]
    want = journey_map(events, feedback)
    con = duckdb.connect()
    frames = {"duckdb": con.from_df(events), "polars": pl.from_pandas(events),
              "spark": spark.createDataFrame(events)}
    for name, frame in frames.items():
        got = journey_map(frame, feedback)
        assert got.stage_order == want.stage_order, name
        pd.testing.assert_frame_equal(got.cells, want.cells, check_dtype=False, obj=name)
        pd.testing.assert_frame_equal(got.stages, want.stages, check_dtype=False, obj=name)
    steps = journey_map(frames["spark"].drop("stage"), max_steps=3)
    pd.testing.assert_frame_equal(
        steps.cells, journey_map(events.drop(columns=["stage"]), max_steps=3).cells,
        check_dtype=False)


def all_text(fig) -> str:
    parts = [a.text or "" for a in fig.layout.annotations]
    layout = fig.to_dict()["layout"]
    for axis in ("yaxis", "xaxis", "xaxis2"):
        parts += [str(t) for t in layout.get(axis, {}).get("ticktext", ())]
    for trace in fig.data:
        parts += [str(t) for t in (getattr(trace, "text", None) or ())]
        parts += [str(c) for row in (getattr(trace, "customdata", None) or ()) for c in row]
    return "\n".join(parts)


def test_chart_for_the_demo(demo_map):
    fig = journey_map_chart(demo_map)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == len(demo_map.cells)
    outlined = sum(s.line.color == "#C0392B" for s in rects)
    assert outlined == demo_map.cells["pain_rank"].notna().sum() > 0
    text = all_text(fig)
    assert "→ next: " in text and "Pain points" in text and "Payment failed" in text
    assert re.search(r"\d+(\.\d)? (days|h|min)", text)
    curve = [t for t in fig.data if t.mode == "lines+markers+text"]
    assert list(curve[0].y) == pytest.approx(demo_map.stages["mean_sentiment"].dropna().tolist())
    assert tuple(fig.layout.yaxis2.range) == (-1.1, 1.1)


def test_chart_in_steps_mode_and_empty(data):
    steps = journey_map(data.events.drop(columns=["stage"]), max_steps=3)
    fig = journey_map_chart(steps)
    assert "Step 3+" in "".join(fig.layout.xaxis.ticktext)
    assert "Data page" in all_text(fig)
    empty = journey_map(data.events, segment_column="persona", segment="Astronaut")
    note = all_text(journey_map_chart(empty))
    assert "Nothing to draw" in note and "Pick another persona" in note


def test_chart_escapes_user_text():
    events = hand_events()
    events.loc[events["touchpoint"] == "Mail", "touchpoint"] = "<b>x</b> & =1+1"
    fig = journey_map_chart(journey_map(events, stages=STAGES), title="<i>map</i>")
    text = all_text(fig) + fig.layout.title.text
    assert "&lt;b&gt;x&lt;/b&gt; &amp; =1+1" in text
    assert "<b>x</b>" not in text and "<i>" not in text


def test_pair_shares_rows_and_columns(data):
    left = journey_map(data.events, data.feedback, segment_column="persona", segment="Loyalist")
    right = journey_map(data.events, data.feedback, segment_column="persona",
                        segment="Deal hunter")
    fig = journey_map_pair(left, right, labels=("Loyalist", "Deal hunter"))
    assert tuple(fig.layout.xaxis.ticktext) != () and len(fig.layout.xaxis2.ticktext) == 6
    rows = set(left.cells["touchpoint"]) | set(right.cells["touchpoint"])
    assert set(fig.layout.yaxis.ticktext) == rows
    assert {"<b>Loyalist</b>", "<b>Deal hunter</b>"} <= {a.text for a in fig.layout.annotations}


def test_png_and_html_exports(demo_map):
    fig = journey_map_chart(demo_map)
    png = figure_png(fig, width=1200)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    page = figure_html(fig, title="Journey <map> & co")
    assert "<title>Journey &lt;map&gt; &amp; co</title>" in page
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "cdn.plot.ly" not in page.split("<body>")[0]


@pytest.mark.parametrize("n_touchpoints", [64, 70])
def test_touched_counts_alike_with_and_without_touch_masks(n_touchpoints):
    """DuckDB counts the customers touching each cell from per-customer bit masks (up to 64
    touchpoints) and other engines distinctly: the same cells either way."""
    rng = np.random.default_rng(n_touchpoints)
    n = 4000
    events = pd.DataFrame({
        "customer_id": rng.integers(0, 300, n).astype(str),
        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 500, n), unit="h"),
        "touchpoint": [f"tp{i:02d}" for i in rng.integers(0, n_touchpoints, n)],
        "stage": rng.choice(STAGES, n), "channel": "web",
        "event_seq": np.arange(n, dtype="int64")})
    masked = journey_map(duckdb.connect().from_df(events), stages=STAGES)
    counted = journey_map(pl.from_pandas(events), stages=STAGES)
    pd.testing.assert_frame_equal(masked.cells, counted.cells, check_dtype=False)
    expected = (events.groupby(["stage", "touchpoint"])["customer_id"].nunique()
                .rename("touched").reset_index())
    got = masked.cells[["stage", "touchpoint", "touched"]].merge(expected, on=["stage",
                                                                         "touchpoint"])
    assert len(got) == len(expected) and (got["touched_x"] == got["touched_y"]).all()


def test_feedback_placed_in_utc_when_event_times_carry_a_zone():
    """Zone-aware event times on a connection in another time zone: feedback (UTC) still
    goes to the stage of the latest event at or before it (here the later, consideration)."""
    events = pd.DataFrame({
        "customer_id": ["c1", "c1", "c2"],
        "timestamp": pd.to_datetime(["2025-03-01 10:00", "2025-03-01 10:30",
                                     "2025-03-01 09:00"]).tz_localize("UTC"),
        "touchpoint": ["Visit", "Visit", "Visit"],
        "stage": ["awareness", "consideration", "awareness"], "channel": "web",
        "event_seq": np.arange(3, dtype="int64")})
    feedback = pd.DataFrame({"customer_id": ["c1"], "touchpoint": ["Visit"],
                             "timestamp": [datetime(2025, 3, 1, 10, 45)],
                             "score": [0.0], "scale": ["nps"]})
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Europe/Berlin'")
    zoned = journey_map(con.from_df(events), feedback, stages=["awareness", "consideration"])
    naive = journey_map(events.assign(timestamp=events["timestamp"].dt.tz_localize(None)),
                        feedback, stages=["awareness", "consideration"])
    assert cell(zoned, "consideration", "Visit")["feedback"] == 1
    pd.testing.assert_frame_equal(zoned.cells, naive.cells, check_dtype=False)


def test_numeric_stages_are_named_as_text_on_every_engine():
    events = pl.DataFrame({"customer_id": ["a", "a", "b", "b"],
                           "timestamp": [T0, T0 + timedelta(hours=1), T0, T0],
                           "touchpoint": ["Ad", "Buy", "Ad", "Mail"],
                           "stage": [1, 2, None, 1], "channel": "web"})
    jm = journey_map(events, stages=["1", "2"])
    assert list(jm.stages["stage"]) == ["1", "2"]
    assert "1 events in stages outside the map ((none))" in jm.message


def test_absent_stages_are_skipped_when_asked():
    """As the app asks: a stage the filtered events lack is left out (it raises otherwise),
    and with none of the stages left the data's own stages are ordered."""
    events = hand_events()
    without = events[events["stage"] != "conversion"]
    with pytest.raises(UnknownValueError):
        journey_map(without, stages=STAGES)
    jm = journey_map(without, stages=STAGES, skip_absent_stages=True)
    assert jm.stage_order == ("awareness", "consideration")
    pd.testing.assert_frame_equal(jm.cells, journey_map(without, stages=STAGES[:2]).cells)
    guessed = journey_map(without, stages=["conversion"], skip_absent_stages=True)
    assert guessed.stage_order == journey_map(without).stage_order
