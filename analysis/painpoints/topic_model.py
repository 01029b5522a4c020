"""The model behind :func:`analysis.painpoints.topics.discover_topics`: TF-IDF of words and
word pairs, the number of topics by coherence, and NMF from an NNDSVDa start.

Comments repeat (survey templates, "ok", "thanks"), so each distinct text is tokenised once,
and the fitted TF-IDF is applied to each distinct text once: a row depends on its text alone
once the weights are fitted. Only the fit itself reads every sampled comment, since
repetitions count in the document frequencies.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse.linalg import svds
from sklearn.decomposition import non_negative_factorization
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

ChosenBy = Literal["given", "coherence", "too few comments", "categories"]
MIN_COMMENTS = 20  #: below this many comments with words, one topic ("degenerate")
K_RANGE, SELECTION_SAMPLE = (4, 15), 4_000  #: candidates for n_topics=None, fitted on a sample
TOP_TERMS = 10
#: Beyond scikit-learn's list: URL/HTML pieces, contractions without apostrophe, chat filler.
EXTRA_STOP_WORDS = frozenset(re.findall(r"\w+", """http https www com org net html amp quot gt lt
    rt via co dont didnt doesnt isnt wasnt werent arent cant couldnt wouldnt shouldnt wont hasnt
    havent hadnt aint im ive id ill youre youve youll youd hes shes theyre theyve weve thats
    theres whats lets just like really got get gets getting lol oh ok okay yes yeah hey hi pls ur
    """))
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | EXTRA_STOP_WORDS)
#: Runs of two or more letters of any script; a digit or underscore inside drops the token.
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"
#: NMF settings, the same for fitting and for assigning comments.
_MAX_ITER, _TOL = 400, 1e-4


def tfidf(cleaned: np.ndarray, sample: np.ndarray, min_df: int | float):
    """TF-IDF (sublinear term frequency, l2-normalised rows) of the comments ``cleaned``
    (texts, see ``clean_texts``) fitted on their rows ``sample``.

    Returns the sample's matrix, every comment's matrix (the same object when the sample is
    every comment) and the terms. Raises ValueError when no term is left after the stop
    words and ``min_df``.
    """
    codes, distinct = pd.factorize(cleaned)
    analyse = TfidfVectorizer(lowercase=False, token_pattern=TOKEN_PATTERN, ngram_range=(1, 2),
                              stop_words=STOP_WORDS).build_analyzer()
    tokens = [analyse(text) for text in distinct]
    # Documents are the codes of distinct texts; the analyser looks their tokens up.
    vectorizer = TfidfVectorizer(analyzer=tokens.__getitem__, min_df=min_df, sublinear_tf=True)
    x = vectorizer.fit_transform(codes[sample])
    every = x if sample.size == codes.size else vectorizer.transform(
        np.arange(len(distinct)))[codes]
    return x, every, vectorizer.get_feature_names_out()


def no_coherence() -> pd.DataFrame:
    return pd.DataFrame({"n_topics": np.array([], np.int64), "coherence": np.array([], float)})


def number_of_topics(x, n_topics: int | None, degenerate: bool, vocabulary: np.ndarray,
                     random_state: int) -> tuple[int, ChosenBy, pd.DataFrame, str]:
    """The number of topics, how it was chosen, each candidate's coherence, a note."""
    if degenerate:
        return 1, "too few comments", no_coherence(), (
            f"Fewer than {MIN_COMMENTS} comments have words; they are kept as one topic.")
    if n_topics is not None:
        k = min(n_topics, *x.shape)
        note = "" if k == n_topics else f"n_topics={n_topics} was lowered to {k} for this data."
        return k, "given", no_coherence(), note
    high = max(1, min(K_RANGE[1], *x.shape, x.shape[0] // 10))
    candidates = range(min(K_RANGE[0], high), high + 1)
    pick = np.random.default_rng(random_state).permutation(x.shape[0])[:SELECTION_SAMPLE]
    part = x[np.sort(pick)]
    start = svd(part, high, random_state)
    present = (x > 0).astype(np.float64).tocsc()
    words = [set(t.split()) for t in vocabulary]
    scores = [_coherence(fit(part, k, start, tol=1e-3), present, words) for k in candidates]
    coherence = pd.DataFrame({"n_topics": np.array(candidates), "coherence": np.array(scores)})
    return candidates[int(np.argmax(scores))], "coherence", coherence, ""


def svd(x, k: int, random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``k`` leading singular triplets (seeded ARPACK: sparse products only) and mean of x."""
    mean = float(x.sum() / (x.shape[0] * x.shape[1]))
    if k >= min(x.shape):
        u, s, vt = np.linalg.svd(x.toarray(), full_matrices=False)
        return u[:, :k], s[:k], vt[:k], mean
    u, s, vt = svds(x, k=k, v0=np.random.default_rng(random_state).uniform(.1, 1, min(x.shape)))
    order = np.argsort(-s, kind="stable")
    return u[:, order], s[order], vt[order], mean


def fit(x, k: int, start: tuple, tol: float = _TOL) -> np.ndarray:
    """The topics' term weights (k × terms) of NMF from the NNDSVDa start (Boutsidis &
    Gallopoulos 2008) of a shared SVD's first k (scikit-learn's coordinate descent, without
    the reconstruction error its estimator computes and nobody reads)."""
    u, s, vt, mean = start
    w, h = np.zeros((x.shape[0], k)), np.zeros((k, x.shape[1]))
    w[:, 0], h[0] = np.sqrt(s[0]) * np.abs(u[:, 0]), np.sqrt(s[0]) * np.abs(vt[0])
    for j in range(1, k):
        sides = [(np.maximum(sign * u[:, j], 0), np.maximum(sign * vt[j], 0)) for sign in (1, -1)]
        a, b = max(sides, key=lambda side: np.linalg.norm(side[0]) * np.linalg.norm(side[1]))
        na, nb = max(np.linalg.norm(a), 1e-12), max(np.linalg.norm(b), 1e-12)
        w[:, j], h[j] = np.sqrt(s[j] * na * nb) * a / na, np.sqrt(s[j] * na * nb) * b / nb
    w[w < 1e-12], h[h < 1e-12] = mean, mean
    _, h, _ = non_negative_factorization(x, w, h, k, init="custom", max_iter=_MAX_ITER, tol=tol)
    return h


def weights(x, h: np.ndarray) -> np.ndarray:
    """Each row's weight on each topic of ``h``, as ``NMF.transform`` of the fitted model."""
    w, _, _ = non_negative_factorization(x, H=h, n_components=h.shape[0], update_H=False,
                                         max_iter=_MAX_ITER, tol=_TOL)
    return w


def _coherence(h: np.ndarray, present, words: list[set[str]]) -> float:
    """Mean over topics of the mean NPMI of the pairs of each topic's top terms."""
    per_topic = []
    for row in h:
        top = np.argsort(-row, kind="stable")[:TOP_TERMS]
        p = (present[:, top].T @ present[:, top]).toarray() / present.shape[0]
        values = [-1.0 if p[i, j] == 0 else 1.0 if p[i, j] == 1 else
                  np.log(p[i, j] / (p[i, i] * p[j, j])) / -np.log(p[i, j])
                  for i in range(len(top)) for j in range(i + 1, len(top))
                  if not words[top[i]] & words[top[j]]]
        per_topic.append(np.mean(values) if values else 0.0)
    return float(np.mean(per_topic))
