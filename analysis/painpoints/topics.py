"""Topics in feedback text (TF-IDF + NMF) or from a category column, and edits (rename, merge).

Ids are small ints (0 = largest topic), fixed by ``random_state`` and kept by edits, so a URL
can hold edits. Not topics: -1 "(unassigned)" (no word the model uses; "(none)" for
categories) and -2 "(no text)" (empty, emoji, links only)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest

import numpy as np
import pandas as pd

from analysis.painpoints import topic_model
from analysis.painpoints.topic_model import (
    MIN_COMMENTS,
    TOKEN_PATTERN,
    TOP_TERMS,
    ChosenBy,
    no_coherence,
)
from analysis.results import Status
from analysis.schema import ParameterError

UNASSIGNED, NO_TEXT = -1, -2
UNASSIGNED_LABEL, NO_TEXT_LABEL, NO_CATEGORY_LABEL = "(unassigned)", "(no text)", "(none)"
LABEL_TERMS, N_EXAMPLES = 3, 3
_JUNK = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|@\w+")
#: C1 controls (and accented letters after them) are mis-decoded emoji or quotes: "won\x89Ûªt".
_MOJIBAKE = re.compile(r"[\x80-\x9f][\x80-\xff]*")
_APOSTROPHE = re.compile(r"['’‘`´]")


@dataclass(frozen=True)
class Topics:
    """Topics of a set of comments and which comment belongs to which.

    Attributes
    ----------
    assignments
        On the input's index: topic (id), topic_label, weight (≥ 0: NMF weight × length of
        the topic's term vector, comparable across topics; 1.0 for categories; 0.0 if none).
    table
        topic, label, top_terms (list, strongest first; empty for categories), comments,
        share (comments / all input comments), examples (up to 3 distinct non-blank comments
        of highest weight, earliest first on ties): most comments first, then -1 and -2.
    examples, coherence
        topic, text, weight, position (0-based input row): ``table.examples``, for merges;
        n_topics, coherence (mean NPMI) per candidate when ``chosen_by`` is "coherence".
    n_topics, chosen_by, sample_size
        Topics (ids ≥ 0); "given", "coherence", "too few comments" or "categories";
        comments fitted on (all are assigned).
    status, message
        "empty" without usable words (or categories); "degenerate" below 20 comments with
        words (one topic) or with one category; else "ok". The message says why.
    """

    assignments: pd.DataFrame
    table: pd.DataFrame
    examples: pd.DataFrame
    coherence: pd.DataFrame
    n_topics: int
    chosen_by: ChosenBy
    sample_size: int
    status: Status
    message: str


def clean_texts(texts: pd.Series) -> pd.Series:
    """Comments as the model reads them: lower case, HTML entities decoded, links, e-mails,
    @mentions, mis-decoded characters, ``#`` and apostrophes removed; missing become ""."""
    text = texts.map(lambda t: t if isinstance(t, str) else "" if pd.isna(t) else str(t))
    codes, distinct = pd.factorize(text.to_numpy(dtype=object))
    text = pd.Series(distinct, dtype=object)  # each distinct comment cleaned once
    text = text.map(lambda t: html.unescape(t) if "&" in t else t)
    text = text.str.replace(_MOJIBAKE, "", regex=True).str.lower()
    text = text.str.replace(_JUNK, " ", regex=True).str.replace("#", " ", regex=False)
    text = text.str.replace(_APOSTROPHE, "", regex=True)
    return pd.Series(text.to_numpy(dtype=object)[codes], index=texts.index, name=texts.name,
                     dtype=object)


def discover_topics(texts: pd.Series, *, n_topics: int | None = None, random_state: int = 0,
                    max_sample: int = 20_000, min_df: int | float = 3) -> Topics:
    """Find topics in comments with TF-IDF (words and word pairs) and NMF.

    Parameters
    ----------
    texts
        The comments (missing values allowed). Not modified.
    n_topics
        How many topics; None picks 4–15 (fewer for small corpora) with the highest topic
        coherence: mean NPMI (−1 to 1) of the pairs of each topic's 10 top terms in the
        fitted comments (pairs sharing a word skipped, never seen together −1).
    random_state
        Seeds the samples and the SVD behind the NNDSVDa start: same seed, same result.
    max_sample
        Fit on a seeded sample of at most this many comments with words; assign all.
    min_df
        A term must occur in at least this many sampled comments (a float: share). Below 20
        comments with words, 1 is used and they all form one topic.

    Returns
    -------
    Topics
        A comment's topic is the argmax of its weights; see :class:`Topics`.
    """
    texts = _as_series(texts)
    _check_params(n_topics, random_state, max_sample, min_df)
    cleaned = clean_texts(texts).to_numpy(dtype=object)
    has_words = _has_words(cleaned)
    words = sample = np.flatnonzero(has_words)
    degenerate = words.size < MIN_COMMENTS
    if words.size > max_sample:
        sample = np.sort(np.random.default_rng(random_state).choice(words, max_sample, False))
    try:
        x, fitted, vocabulary = topic_model.tfidf(cleaned[words], np.searchsorted(words, sample),
                                                  1 if degenerate else min_df)
    except ValueError:  # no comment with words, or no term left after stop words and min_df
        return _assemble(texts, np.where(has_words, UNASSIGNED, NO_TEXT), np.zeros(len(texts)),
                         {}, {}, n_topics=0, sample_size=0, status="empty", message="No comment "
                         + ("has a word frequent enough for a topic." if words.size else
                            "has any words."), chosen_by="given" if n_topics else "coherence")
    k, chosen_by, coherence, message = topic_model.number_of_topics(
        x, n_topics, degenerate, vocabulary, random_state)
    h = topic_model.fit(x, k, topic_model.svd(x, k, random_state))
    weights = np.zeros((len(texts), k))
    weights[words] = topic_model.weights(fitted, h) * np.linalg.norm(h, axis=1)
    return _build(texts, has_words, weights, h, vocabulary,
                  chosen_by=chosen_by, coherence=coherence, sample_size=int(sample.size),
                  status="degenerate" if degenerate else "ok", message=message)


def _has_words(cleaned: np.ndarray) -> np.ndarray:
    """Whether each text has a token, each distinct text searched once."""
    codes, distinct = pd.factorize(cleaned)
    return pd.Series(distinct, dtype=object).str.contains(TOKEN_PATTERN).to_numpy(bool)[codes]


def _as_series(texts: object) -> pd.Series:
    if isinstance(texts, pd.DataFrame):
        raise ParameterError("Pass one column of comments, not a table.", "E.g. df['text'].")
    return texts if isinstance(texts, pd.Series) else pd.Series(texts, dtype=object)


def _check_params(n_topics, random_state, max_sample, min_df) -> None:
    def whole(value: object, low: int) -> bool:
        return not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= low
    share = isinstance(min_df, float) and 0 < min_df <= 1
    for name, value, ok, rule, example in (
        ("n_topics", n_topics, n_topics is None or whole(n_topics, 1), "≥ 1 or None", 8),
        ("random_state", random_state, whole(random_state, 0), "≥ 0", 0),
        ("max_sample", max_sample, whole(max_sample, 2), "≥ 2", 20_000),
        ("min_df", min_df, whole(min_df, 1) or share, "≥ 1 or a share in (0, 1]", 3),
    ):
        if not ok:
            raise ParameterError(f"{name} must be a whole number {rule}, got {value!r}.",
                                 f"Pass e.g. {name}={example}.")


def _build(texts: pd.Series, has_words: np.ndarray, weights: np.ndarray, h: np.ndarray,
           vocabulary: np.ndarray, **fields) -> Topics:
    """Number topics by size (0 = largest, ties in model order) and assemble the result."""
    raw = np.where(has_words, np.where(weights.max(axis=1) > 0, weights.argmax(axis=1),
                                       UNASSIGNED), NO_TEXT)
    order = np.lexsort((np.arange(h.shape[0]), -np.bincount(raw[raw >= 0], minlength=len(h))))
    new_id = np.empty(h.shape[0], dtype=np.int64)
    new_id[order] = np.arange(h.shape[0])
    terms = {int(new_id[old]): [vocabulary[i] for i in np.argsort(-h[old], kind="stable")
                                [:TOP_TERMS] if h[old, i] > 0] for old in order}
    labels: dict[int, str] = {}
    for t, top in terms.items():  # a label used already gets its id: "card · refund (4)"
        labels[t] = _label(top) + (f" ({t})" if _label(top) in labels.values() else "")
    return _assemble(texts, np.where(raw >= 0, new_id[np.maximum(raw, 0)], raw),
                     np.where(raw >= 0, weights.max(axis=1), 0.0), labels, terms,
                     n_topics=h.shape[0], **fields)


def _label(top_terms: Sequence[str]) -> str:
    """Three top terms joined by " · "; a pair replaces its words, shown words are skipped."""
    chosen: list[str] = []
    for term in top_terms:
        if set(term.split()) <= {w for c in chosen for w in c.split()}:
            continue
        chosen = [c for c in chosen if not set(c.split()) <= set(term.split())] + [term]
        if len(chosen) == LABEL_TERMS:
            break
    return " · ".join(chosen)


def _assemble(texts: pd.Series, topic: np.ndarray, weight: np.ndarray, labels: dict[int, str],
              terms: dict[int, list[str]], *, examples: pd.DataFrame | None = None,
              unassigned_label: str = UNASSIGNED_LABEL, **fields) -> Topics:
    """The result; examples are picked from all comments unless given (by a merge)."""
    labels = {**labels, UNASSIGNED: unassigned_label, NO_TEXT: NO_TEXT_LABEL}
    topic, weight = topic.astype(np.int64), weight.astype(np.float64)
    assignments = pd.DataFrame({"topic": topic, "topic_label": [labels[t] for t in topic],
                                "weight": weight}, index=texts.index)
    if examples is None:
        examples = pd.DataFrame({"topic": topic, "text": texts.to_numpy(dtype=object),
                                 "weight": weight, "position": np.arange(len(texts))})
    keep = examples.loc[examples["text"].map(lambda t: isinstance(t, str) and t.strip() != "")
                        .astype(bool)]
    keep = keep.sort_values(["topic", "weight", "position"], ascending=[True, False, True],
                            kind="stable").drop_duplicates(["topic", "text"])
    examples = keep.groupby("topic", sort=False).head(N_EXAMPLES).reset_index(drop=True)
    counts = assignments["topic"].value_counts()
    ids = sorted((t for t in labels if t >= 0), key=lambda t: (-counts.get(t, 0), t))
    ids += [t for t in (UNASSIGNED, NO_TEXT) if counts.get(t, 0)]
    n = np.array([counts.get(t, 0) for t in ids], dtype=np.int64)
    table = pd.DataFrame({
        "topic": np.array(ids, dtype=np.int64), "label": [labels[t] for t in ids],
        "top_terms": [list(terms.get(t, [])) for t in ids], "comments": n,
        "share": n / max(len(texts), 1),
        "examples": [examples.loc[examples["topic"] == t, "text"].tolist() for t in ids]})
    fields.setdefault("coherence", no_coherence())
    return Topics(assignments=assignments, table=table, examples=examples, **fields)


def topics_from_categories(categories: pd.Series, *, texts: pd.Series | None = None) -> Topics:
    """A human category column (a reason, a tag) as topics.

    Parameters
    ----------
    categories
        One category per comment; missing or blank ones go to topic -1, "(none)".
    texts
        The comments on the same index, for examples (earliest distinct first).

    Returns
    -------
    Topics
        Ids by size (ties by name), label = category, weight 1.0 (0.0 for "(none)"), status
        "empty" without categories, "degenerate" with one.
    """
    categories = _as_series(categories)
    texts = _as_series(categories.map(lambda _: None) if texts is None else texts)
    if not texts.index.equals(categories.index):
        raise ParameterError("texts and categories are not on the same rows.",
                             "Pass two columns of one table, e.g. df['text'], df['reason'].")
    names = categories.map(lambda c: c.strip() if isinstance(c, str) else c)
    missing = (names.isna() | (names == "")).to_numpy()
    counts = names[~missing].astype(str).value_counts()
    ids = {c: i for i, c in enumerate(sorted(counts.index, key=lambda c: (-counts[c], c)))}
    topic = np.array([UNASSIGNED if m else ids[str(c)]
                      for c, m in zip(names, missing, strict=True)], dtype=np.int64)
    status: Status = "empty" if not ids else "degenerate" if len(ids) == 1 else "ok"
    message = {"empty": "No category at all.", "degenerate": "A single category.", "ok": ""}[status]
    return _assemble(texts, topic, (topic >= 0).astype(float), {i: c for c, i in ids.items()},
                     {}, n_topics=len(ids), chosen_by="categories",
                     sample_size=len(texts), status=status, message=message,
                     unassigned_label=NO_CATEGORY_LABEL)


def edit_topics(topics: Topics, *, rename: Mapping[int | str, str] | None = None,
                merge: Sequence[Sequence[int | str]] = ()) -> Topics:
    """Merge, then rename topics; ids may be ints or their text (as read from a URL).

    Parameters
    ----------
    topics
        A result of :func:`discover_topics`, :func:`topics_from_categories` or this function.
    rename
        New label per topic id, applied after merging.
    merge
        Groups of ids, e.g. ``[[0, 3], [2, 5, 6]]``; a group becomes one topic with the first
        id and the members' labels joined by " + " (first id first) unless renamed. Its top
        terms interleave the members'; counts and examples are recomputed.

    Raises
    ------
    ParameterError
        An id that is not a topic (listing the valid ones), an id in two groups, renaming an
        id merged into another, a blank label.
    """
    valid = [int(t) for t in topics.table["topic"] if t >= 0]
    target = _merge_targets(merge, valid)
    old = topics.table.set_index("topic")
    groups: dict[int, list[int]] = {}
    for member, new in sorted(target.items(), key=lambda pair: pair[0] != pair[1]):
        groups.setdefault(new, []).append(member)
    labels = {new: " + ".join(old.label[m] for m in group) for new, group in groups.items()}
    terms = {new: list(dict.fromkeys(t for tier in zip_longest(*old.top_terms[group])
                                     for t in tier if t))[:TOP_TERMS]
             for new, group in groups.items()}
    for key, label in (rename or {}).items():
        topic = _topic_id(key, valid, "rename")
        if target[topic] != topic:
            raise ParameterError(f"Topic {topic} is merged into topic {target[topic]}.",
                                 f"Rename topic {target[topic]} instead.")
        if not isinstance(label, str) or not label.strip():
            raise ParameterError(f"The new label of topic {topic} is blank or not text.",
                                 "Pass a short name, e.g. rename={0: 'Late flights'}.")
        labels[topic] = label.strip()
    return _assemble(
        pd.Series(None, index=topics.assignments.index, dtype=object),
        topics.assignments["topic"].replace(target).to_numpy(),
        topics.assignments["weight"].to_numpy(), labels, terms,
        examples=topics.examples.assign(topic=topics.examples["topic"].replace(target)),
        coherence=topics.coherence, n_topics=len(groups), chosen_by=topics.chosen_by,
        sample_size=topics.sample_size, status=topics.status, message=topics.message,
        unassigned_label=old.label.get(UNASSIGNED, UNASSIGNED_LABEL))


def _topic_id(value: object, valid: list[int], what: str) -> int:
    """``value`` as a topic id (3 or "3"), or a ParameterError listing the valid ids."""
    text = str(value).strip() if isinstance(value, str | int | np.integer) else ""
    if isinstance(value, bool) or not text.lstrip("-").isdigit() or int(text) not in valid:
        raise ParameterError(f"Cannot {what} topic {value!r}: it is not a topic id.",
                             f"Valid topic ids: {', '.join(map(str, valid)) or 'none'}.")
    return int(text)


def _merge_targets(merge: Sequence[Sequence[int | str]], valid: list[int]) -> dict[int, int]:
    """Each valid id -> the id it ends up under."""
    target, seen = {t: t for t in valid}, set()
    for group in merge:
        if isinstance(group, str | bytes) or not isinstance(group, Sequence):
            raise ParameterError(f"merge takes groups of topic ids, got {group!r}.",
                                 "Pass e.g. merge=[[0, 3], [2, 5]].")
        ids = [_topic_id(member, valid, "merge") for member in group]
        for topic in ids:
            if topic in seen:
                raise ParameterError(f"Topic {topic} is in more than one merge group.",
                                     "Put each topic id in one group only.")
            seen.add(topic)
            target[topic] = ids[0]
    return target
