"""The sentiment of each feedback item: from its score when it has one, else from its text.

A score is read on its own survey scale (NPS detractor/passive/promoter, CSAT, CES). Without a
usable score, an English comment is scored offline by VADER (Hutto & Gilbert, 2014), a
lexicon-and-rules model tuned on social-media text. Comments in other languages, and text that
carries no language at all (empty, emoji only, links only), get "unknown": never a sentiment
that a lexicon built for English would invent.

Language is told apart in two steps, because langdetect costs several milliseconds a text:

1. A comment whose words are (nearly all) plain ASCII and whose English evidence (common
   English function words and VADER lexicon words) outweighs common French, Spanish, German,
   Italian, Portuguese and Dutch function words is English without further checking. This
   settles 97% of the airline tweets of the shared datasets.
2. Every other comment of ``SHORT_TEXT_WORDS`` words or more goes to langdetect (seeded, so
   the same text always gets the same answer). Shorter comments are too short for
   langdetect to be reliable: they are English when their letters are plain ASCII and one of
   their words is English evidence ("Great!", "worst service"), else "unknown".

Links and @mentions are ignored when telling the language (they are not words of any
language); VADER still reads the whole comment, emoticons and emoji included.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from langdetect.lang_detect_exception import LangDetectException

from analysis.frames import to_lazy, to_pandas
from analysis.schema import SCALE_RANGES, MissingColumnError
from analysis.stats import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN

Sentiment = Literal["negative", "neutral", "positive", "unknown"]
SentimentSource = Literal["score", "text", "none"]
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive", "unknown")
SOURCES: tuple[str, ...] = ("score", "text", "none")

#: Direction of the CES scale. True (CES 2.0, 1–7, "the company made it easy for me to handle
#: my issue"): a higher answer means less effort, so 5–7 is positive. This is how the demo data
#: and every CES KPI of the app read it. The older "how much effort" wording runs the other way
#: (a high answer is bad); data asked that way should be reversed at ingest.
CES_HIGHER_IS_EASIER = True
#: Per scale: the highest answer that is negative and the lowest that is positive; answers in
#: between are neutral. NPS: detractors 0–6, passives 7–8, promoters 9–10. CSAT (1–5): 1–2,
#: 3, 4–5. CES 2.0 (1–7): 1–3, 4, 5–7.
SCORE_CUTS: dict[str, tuple[float, float]] = {
    "nps": (DETRACTOR_MAX, PROMOTER_MIN),
    "csat": (SATISFIED_MIN - 2, SATISFIED_MIN),
    "ces": (3, 5),
}
#: VADER's standard thresholds on the compound score (−1 to +1).
POSITIVE_MIN_COMPOUND = 0.05
NEGATIVE_MAX_COMPOUND = -0.05
#: Comments with fewer words than this are not given to langdetect (see the module notes).
SHORT_TEXT_WORDS = 3
#: VADER's cost grows with the square of a text's length (20,000 characters take over a
#: second), so longer comments are scored in pieces of about this many characters and their
#: compounds averaged, weighted by length.
VADER_CHUNK_CHARS = 1_000
#: langdetect reads at most this many characters of a comment.
DETECT_CHARS = 2_000

_ENGLISH = frozenset((
    "the", "a", "an", "and", "but", "or", "to", "of", "in", "on", "at", "for", "with", "from",
    "by", "about", "as", "into", "than", "then", "this", "that", "these", "those", "it", "its",
    "it's", "is", "are", "was", "were", "be", "been", "being", "am", "have", "has", "had", "do",
    "does", "did", "don't", "doesn't", "didn't", "can't", "won't", "isn't", "aren't", "wasn't",
    "i", "i'm", "i've", "me", "my", "you", "you're", "your", "he", "she", "his", "her", "we",
    "our", "us", "they", "their", "them", "what", "why", "how", "when", "where", "who", "which",
    "will", "would", "should", "could", "can", "just", "not", "very", "so", "too", "all", "any",
    "some", "yes", "please", "thanks", "thank", "get", "got", "there", "here", "out", "up", "if",
    "again", "still", "ever", "never",
))
_FOREIGN = frozenset((
    "le", "la", "les", "des", "du", "et", "est", "une", "un", "je", "vous", "nous", "pas", "pour",
    "avec", "sur", "dans", "que", "qui", "el", "los", "las", "del", "y", "es", "por", "con",
    "para", "una", "muy", "pero", "como", "se", "lo", "su", "al", "der", "die", "das", "und",
    "ist", "nicht", "ich", "sie", "wir", "mit", "ein", "eine", "auf", "den", "dem", "zu", "il",
    "di", "che", "non", "sono", "della", "gli", "o", "os", "um", "uma", "com", "em", "het", "een",
    "van", "ik", "niet", "op", "och", "inte", "att",
))
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def comment_sentiment(feedback: Any) -> pd.DataFrame:
    """The sentiment of each feedback item, from its score or else its comment.

    Parameters
    ----------
    feedback
        A feedback table (pandas, or any frame :func:`analysis.frames.to_lazy` accepts) with a
        ``score`` column (read with ``scale``: nps, csat or ces) and/or a ``text`` column.
        It is not modified. A score without a scale is not guessed here (ingest.prepare
        infers the scale from the score range): its comment decides instead.

    Returns
    -------
    pandas.DataFrame
        One row per feedback row, in the same order (with the same index for pandas input):

        - ``sentiment``: "negative", "neutral", "positive" or "unknown".
        - ``sentiment_source``: "score" when a score on a known scale and within its range
          gave it (see ``SCORE_CUTS``; CES per ``CES_HIGHER_IS_EASIER``), else "text" when
          an English comment gave it (VADER compound ≥ 0.05 positive, ≤ −0.05 negative,
          neutral between), else "none" (the sentiment is then "unknown": no usable score
          and an empty, non-English or language-less comment).
        - ``language``: the comment's ISO 639-1 language code ("en", "fr", …) for rows read
          from text, None when it cannot be told or the score decided.
        - ``compound``: VADER's compound score (−1 to +1) of English comments read from text,
          NaN otherwise.

        Shares of these labels are taken over all feedback rows or over the rows whose
        sentiment is not "unknown"; the caller says which.

    Raises
    ------
    MissingColumnError
        When the table has neither a ``text`` nor a ``score`` column.
    """
    frame = _sentiment_columns(feedback)
    n = len(frame)
    score = frame["score"] if "score" in frame else pd.Series(np.nan, index=frame.index)
    scale = frame["scale"] if "scale" in frame else pd.Series(None, index=frame.index)
    from_score = score_sentiment(score, scale)
    out = pd.DataFrame(
        {
            "sentiment": from_score.fillna("unknown").to_numpy(dtype=object),
            "sentiment_source": np.where(from_score.notna(), "score", "none").astype(object),
            "language": np.full(n, None, dtype=object),
            "compound": np.full(n, np.nan),
        },
        index=frame.index,
    )
    if "text" in frame:
        texts = _clean_texts(frame["text"])
        todo = from_score.isna().to_numpy() & texts.notna().to_numpy()
        if todo.any():
            read = _read_texts(texts[todo])
            positions = np.flatnonzero(todo)
            for column in ("sentiment", "language", "compound"):
                out.iloc[positions, out.columns.get_loc(column)] = read[column].to_numpy()
            known = read["sentiment"].to_numpy() != "unknown"
            out.iloc[positions[known], out.columns.get_loc("sentiment_source")] = "text"
    return out


def score_sentiment(score: pd.Series, scale: pd.Series) -> pd.Series:
    """The sentiment each score gives on its scale; None where it gives none.

    Parameters
    ----------
    score, scale
        Aligned series: the rating and its scale name (nps, csat, ces; case and spaces
        ignored). A score without a known scale, or outside its scale's range
        (``analysis.schema.SCALE_RANGES``), gives None.

    Returns
    -------
    pandas.Series
        "negative", "neutral", "positive" or None, on ``score``'s index.
    """
    values = pd.to_numeric(pd.Series(score), errors="coerce").astype(float)
    names = pd.Series(scale, index=values.index).astype("string").str.strip().str.lower()
    labels = np.full(len(values), None, dtype=object)
    for name, (negative_max, positive_min) in SCORE_CUTS.items():
        low, high = SCALE_RANGES[name]
        rows = ((names == name).fillna(False) & values.between(low, high)).to_numpy()
        if not rows.any():
            continue
        read = values.to_numpy()[rows]
        if name == "ces" and not CES_HIGHER_IS_EASIER:
            read = low + high - read
        labels[rows] = np.select(
            [read <= negative_max, read >= positive_min], ["negative", "positive"], "neutral"
        )
    return pd.Series(labels, index=values.index, dtype=object)


def rescaled_scores(score: pd.Series, scale: pd.Series) -> pd.Series:
    """Scores on 0–100 over their scale's range (NPS 0–10, CSAT 1–5, CES 1–7, higher =
    easier per ``CES_HIGHER_IS_EASIER``), so scales can be averaged together; NaN without a
    known scale or outside its range."""
    values = pd.to_numeric(pd.Series(score), errors="coerce").astype(float)
    names = pd.Series(scale, index=values.index).astype("string").str.strip().str.lower()
    out = pd.Series(np.nan, index=values.index)
    for name, (low, high) in SCALE_RANGES.items():
        rows = (names == name).fillna(False) & values.between(low, high)
        read = values[rows] if name != "ces" or CES_HIGHER_IS_EASIER else low + high - values[rows]
        out[rows] = (read - low) / (high - low) * 100
    return out


def _sentiment_columns(feedback: Any) -> pd.DataFrame:
    """The text, score and scale columns of ``feedback`` as pandas (no copy for pandas)."""
    wanted = ("text", "score", "scale")
    if isinstance(feedback, pd.DataFrame):
        names = list(feedback.columns)
        present = [c for c in wanted if c in names]
        frame = feedback[present] if present else None
    else:
        lazy = to_lazy(feedback)
        names = lazy.collect_schema().names()
        present = [c for c in wanted if c in names]
        frame = to_pandas(lazy.select(present)) if present else None
    if frame is None or not {"text", "score"} & set(present):
        raise MissingColumnError(
            "Sentiment needs a text or a score column; the table has "
            f"{', '.join(map(str, names[:15])) or 'no columns'}.",
            "Map the comment to text and/or the rating to score (ingest.prepare does this).",
        )
    return frame


def _clean_texts(text: pd.Series) -> pd.Series:
    """Comments as stripped str, None where missing or blank."""
    values = text.to_numpy(dtype=object)
    cleaned = [
        (v if isinstance(v, str) else str(v)).strip() if not _is_missing(v) else ""
        for v in values
    ]
    return pd.Series([c or None for c in cleaned], index=text.index, dtype=object)


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _read_texts(texts: pd.Series) -> pd.DataFrame:
    """sentiment, language and compound of each text; each distinct text is read once."""
    distinct = pd.unique(texts.to_numpy(dtype=object))
    results = {text: _read_text(text) for text in distinct}
    rows = [results[text] for text in texts.to_numpy(dtype=object)]
    return pd.DataFrame(rows, columns=["sentiment", "language", "compound"], index=texts.index)


def _read_text(text: str) -> tuple[str, str | None, float]:
    language = text_language(text)
    if language != "en":
        return "unknown", language, np.nan
    compound = vader_compound(text)
    if compound >= POSITIVE_MIN_COMPOUND:
        return "positive", language, compound
    if compound <= NEGATIVE_MAX_COMPOUND:
        return "negative", language, compound
    return "neutral", language, compound


def text_language(text: str) -> str | None:
    """The ISO 639-1 code of a comment's language, or None when it cannot be told.

    Parameters
    ----------
    text
        One comment.

    Returns
    -------
    str or None
        "en" for comments that are plainly English (see the module notes), else langdetect's
        answer for comments of ``SHORT_TEXT_WORDS`` words or more; None for comments without
        words (empty, emoji, links, numbers), short comments that are not plainly English,
        and comments langdetect cannot place.
    """
    words_text = _MENTION.sub(" ", _URL.sub(" ", text))
    words = [w.lower().replace("’", "'") for w in _WORD.findall(words_text)]
    if not words:
        return None
    lexicon = _analyzer().lexicon
    english = sum((w in _ENGLISH or w in lexicon) and w not in _FOREIGN for w in words)
    foreign = sum(w in _FOREIGN for w in words)
    non_ascii = sum(not w.isascii() for w in words)
    if len(words) < SHORT_TEXT_WORDS:
        return "en" if english and not non_ascii else None
    if english >= 2 and english >= 2 * foreign and 4 * non_ascii <= len(words):
        return "en"
    try:
        return _language_detector()(words_text[:DETECT_CHARS])
    except LangDetectException:  # raised for text without features it knows
        return None


def vader_compound(text: str) -> float:
    """VADER's compound score of ``text`` (−1 to +1); long texts are read in pieces.

    Parameters
    ----------
    text
        One English comment.

    Returns
    -------
    float
        The compound score; for texts longer than ``VADER_CHUNK_CHARS`` the length-weighted
        mean of the compounds of pieces cut at whitespace.
    """
    analyzer = _analyzer()
    if len(text) <= VADER_CHUNK_CHARS:
        return float(analyzer.polarity_scores(text)["compound"])
    pieces = _pieces(text, VADER_CHUNK_CHARS)
    weights = np.array([len(p) for p in pieces], dtype=float)
    scores = np.array([analyzer.polarity_scores(p)["compound"] for p in pieces])
    return float(np.average(scores, weights=weights))


def _pieces(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of at most ``size`` characters, at whitespace when possible."""
    pieces, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            end = cut if cut > start else end
        pieces.append(text[start:end])
        start = end
    return pieces


@cache
def _analyzer() -> Any:
    """One VADER analyzer per process: it loads its lexicon once (from the installed package,
    no download)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@cache
def _language_detector() -> Callable[[str], str]:
    """langdetect's ``detect``, seeded so that a text always gets the same language."""
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0
    return detect
