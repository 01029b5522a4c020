"""Feedback sentiment: score rules per scale, English-only text rules, the airline tweets."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import polars as pl
import pytest

from analysis.painpoints import sentiment as sentiment_module
from analysis.painpoints.sentiment import (
    SENTIMENTS,
    SOURCES,
    comment_sentiment,
    score_sentiment,
    text_language,
    vader_compound,
)
from analysis.schema import MissingColumnError

# The text contradicts the score on purpose: the score must win.
_SCORE_ROWS = [
    ("nps", 0, "negative"), ("nps", 6, "negative"), ("nps", 7, "neutral"),
    ("nps", 8, "neutral"), ("nps", 9, "positive"), ("nps", 10, "positive"),
    ("csat", 1, "negative"), ("csat", 2, "negative"), ("csat", 3, "neutral"),
    ("csat", 4, "positive"), ("csat", 5, "positive"),
    ("ces", 1, "negative"), ("ces", 3, "negative"), ("ces", 4, "neutral"),
    ("ces", 5, "positive"), ("ces", 7, "positive"),
]


def _feedback(texts, scores=None, scales=None, index=None) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2025-01-01", periods=n, freq="h"),
            "text": texts,
            "score": scores if scores is not None else [np.nan] * n,
            "scale": scales if scales is not None else [None] * n,
        },
        index=index,
    )


def test_scores_give_the_sentiment_of_their_scale():
    scales, scores, expected = zip(*_SCORE_ROWS, strict=True)
    texts = ["I love it, wonderful!" if e == "negative" else "Awful, terrible, I hate it."
             for e in expected]
    out = comment_sentiment(_feedback(list(texts), list(scores), list(scales)))
    assert out["sentiment"].tolist() == list(expected)
    assert set(out["sentiment_source"]) == {"score"}
    assert out["language"].isna().all() and out["compound"].isna().all()


def test_scale_names_are_read_loosely_and_bad_scores_fall_back_to_text():
    out = comment_sentiment(_feedback(
        ["", "This is wonderful, thank you!", "This is wonderful, thank you!", None, None],
        [9, 11, 4, 2.5, 3],
        [" NPS ", "nps", "stars", "csat", None],
    ))
    # NPS 11 is off the scale and "stars" is no scale: their text decides instead. A CSAT of
    # 2.5 lies between the negative (≤ 2) and positive (≥ 4) answers: neutral. A score
    # without a scale and without text cannot be read.
    assert out["sentiment"].tolist() == ["positive", "positive", "positive", "neutral", "unknown"]
    assert out["sentiment_source"].tolist() == ["score", "text", "text", "score", "none"]


def test_score_sentiment_alone():
    got = score_sentiment(pd.Series([0.0, 8.0, 10.0, 5.0]), pd.Series(["nps", "nps", "nps", None]))
    assert got.tolist() == ["negative", "neutral", "positive", None]


def test_ces_direction_is_a_module_constant(monkeypatch):
    frame = _feedback([None, None, None], [1, 4, 7], ["ces", "ces", "ces"])
    assert comment_sentiment(frame)["sentiment"].tolist() == ["negative", "neutral", "positive"]
    # The old effort wording ("how much effort", high = bad) reverses the reading.
    monkeypatch.setattr(sentiment_module, "CES_HIGHER_IS_EASIER", False)
    assert comment_sentiment(frame)["sentiment"].tolist() == ["positive", "neutral", "negative"]


def test_clear_english_sentences():
    texts = [
        "The staff were wonderful and the flight was great, thank you!",
        "Terrible service, the agent was rude and my bag is lost.",
        "My flight is at 9am tomorrow.",
        "Great!",
        "worst service",
    ]
    out = comment_sentiment(_feedback(texts))
    assert out["sentiment"].tolist() == ["positive", "negative", "neutral", "positive",
                                         "negative"]
    assert set(out["sentiment_source"]) == {"text"}
    assert set(out["language"]) == {"en"}
    assert out["compound"].iloc[0] >= 0.05 and out["compound"].iloc[1] <= -0.05
    assert out["compound"].between(-1, 1).all()


@pytest.mark.parametrize(("text", "language"), [
    ("Le vol était horrible, le personnel impoli et le repas froid.", "fr"),
    ("El vuelo fue terrible y el personal muy grosero con nosotros.", "es"),
    ("Der Flug war schrecklich und das Personal sehr unfreundlich.", "de"),
    ("Das war ein schlechter Service", "de"),
])
def test_other_languages_are_unknown_never_a_wrong_sentiment(text, language):
    # VADER alone would call these negative: "terrible", "horrible" are in its lexicon.
    out = comment_sentiment(_feedback([text]))
    assert out.iloc[0].tolist()[:3] == ["unknown", "none", language]
    assert np.isnan(out["compound"].iloc[0])


def test_short_non_english_text_is_unknown():
    out = comment_sentiment(_feedback(["Très bien", "Muy malo", "Gracias"]))
    assert set(out["sentiment"]) == {"unknown"}
    assert out["language"].isna().all()


def test_text_without_language_is_unknown_with_source_none():
    texts = ["", "   ", None, np.nan, "😀😀😀", "👍", "https://t.co/abc123", "@united", "12345"]
    out = comment_sentiment(_feedback(texts))
    assert set(out["sentiment"]) == {"unknown"}
    assert set(out["sentiment_source"]) == {"none"}
    assert out["language"].isna().all() and out["compound"].isna().all()


def test_a_very_long_comment_is_read_in_pieces_quickly():
    unit = "The crew were friendly and helpful and the seats were comfortable. "
    text = (unit * 400)[:20_000]
    started = time.perf_counter()
    out = comment_sentiment(_feedback([text]))
    assert time.perf_counter() - started < 10  # whole-text VADER is quadratic in length
    assert out["sentiment"].iloc[0] == "positive"
    # Every piece reads like the first thousand characters.
    first_piece = text[: text.rfind(" ", 0, 1_000)]
    assert out["compound"].iloc[0] == pytest.approx(vader_compound(first_piece), abs=0.01)


def test_results_are_deterministic_and_do_not_depend_on_row_order():
    texts = ["Sehr gut, danke schön für alles", "ok then", "Merci beaucoup pour tout",
             "Fine flight, nothing special.", "Horrible delays again!!"] * 3
    first = comment_sentiment(_feedback(texts))
    again = comment_sentiment(_feedback(texts))
    reversed_ = comment_sentiment(_feedback(texts[::-1]))
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(
        first, reversed_.iloc[::-1].set_axis(first.index), check_dtype=False
    )
    assert [text_language(t) for t in texts] == [text_language(t) for t in texts]


def test_rows_align_with_the_input_which_is_not_modified():
    frame = _feedback(["Great!", None, "Awful."], [np.nan, 9, np.nan], [None, "nps", None],
                      index=["x", "y", "z"])
    before = frame.copy()
    out = comment_sentiment(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(out.index) == ["x", "y", "z"]
    assert list(out.columns) == ["sentiment", "sentiment_source", "language", "compound"]
    assert set(out["sentiment"]) <= set(SENTIMENTS)
    assert set(out["sentiment_source"]) <= set(SOURCES)
    assert out["sentiment"].tolist() == ["positive", "positive", "negative"]


def test_other_frames_and_text_or_score_alone():
    frame = _feedback(["Great!", "Awful."], [9, np.nan], ["nps", None])
    expected = comment_sentiment(frame).reset_index(drop=True)
    got = comment_sentiment(pl.from_pandas(frame))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False)
    only_text = comment_sentiment(pd.DataFrame({"text": ["Great!"]}))
    assert only_text["sentiment"].tolist() == ["positive"]
    only_score = comment_sentiment(pd.DataFrame({"score": [2.0], "scale": ["csat"]}))
    assert only_score["sentiment"].tolist() == ["negative"]
    assert comment_sentiment(frame.iloc[:0]).empty


def test_a_table_without_text_or_score_is_refused():
    with pytest.raises(MissingColumnError, match="text or a score"):
        comment_sentiment(pd.DataFrame({"timestamp": [pd.Timestamp("2025-01-01")]}))


def test_vader_agrees_with_the_human_labels_of_airline_tweets(airline_raw):
    """Negative vs not negative against the crowd-sourced labels of 14,640 tweets.

    VADER is a general lexicon: polite complaints ("thanks for the 3 hour delay") read as
    positive, so it misses half of the negative tweets. Its raw accuracy is therefore about
    that of always answering "negative" (the majority, 63%), but it is far above chance
    (balanced accuracy, shuffled labels), and when it says negative it is right about 90% of
    the time.
    """
    started = time.perf_counter()
    out = comment_sentiment(airline_raw[["text"]])
    seconds = time.perf_counter() - started
    known = (out["sentiment"] != "unknown").to_numpy()
    said = (out["sentiment"] == "negative").to_numpy()[known]
    truth = (airline_raw["airline_sentiment"] == "negative").to_numpy()[known]
    accuracy = float((said == truth).mean())
    majority = float(max(truth.mean(), 1 - truth.mean()))
    shuffled = float(said.mean() * truth.mean() + (1 - said.mean()) * (1 - truth.mean()))
    balanced = float((said[truth].mean() + (~said[~truth]).mean()) / 2)
    precision = float(truth[said].mean())
    unknown = float(1 - known.mean())
    print(f"\nairline tweets: {seconds:.1f} s; unknown {unknown:.2%}; accuracy {accuracy:.3f} "
          f"(majority {majority:.3f}, shuffled {shuffled:.3f}); balanced {balanced:.3f}; "
          f"negative precision {precision:.3f}, recall {said[truth].mean():.3f}")
    assert accuracy > shuffled + 0.1
    assert balanced > 0.5 + 0.15  # a majority or constant answer has balanced accuracy 0.5
    assert precision > majority + 0.2
    assert unknown < 0.03  # these tweets are all English
    # Golden values of vaderSentiment 3.3.2 and langdetect 1.0.9 (the pinned versions).
    assert accuracy == pytest.approx(0.6157, abs=0.01)
    assert unknown == pytest.approx(0.0141, abs=0.005)
    assert seconds < 60  # about 5 s alone; loose because other test runs may share the CPU
