"""Topics in feedback text: hand-made corpora, edge cases, edits, and the airline tweets."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_mutual_info_score

from analysis.painpoints.topics import (
    NO_TEXT,
    NO_TEXT_LABEL,
    UNASSIGNED,
    clean_texts,
    discover_topics,
    edit_topics,
    topics_from_categories,
)
from analysis.schema import ParameterError

CARD = [
    "My card was declined at checkout", "Card declined again, payment failed",
    "Payment failed and my card was charged twice", "Why was my card declined? Payment error",
    "The checkout keeps declining my card", "Card payment failed at checkout",
    "Declined card, failed payment, annoying", "Payment failed twice with my credit card",
]
DELIVERY = [
    "The parcel delivery was late", "Courier never delivered my parcel",
    "Delivery late again, parcel lost", "My parcel is late, courier useless",
    "Late delivery and the courier was rude", "Parcel delivery took two weeks, late",
    "The courier left my parcel outside, delivery late", "Still no parcel, delivery late",
]
REFUND = [
    "Still waiting for my refund", "Refund not received after returning",
    "I want my money back, refund please", "Refund takes forever, waiting for money",
    "No refund yet for my return", "Where is my refund? Waiting weeks",
    "Money back promised but no refund", "Returned item, still waiting on refund money",
]
THEMES = ["card"] * len(CARD) + ["delivery"] * len(DELIVERY) + ["refund"] * len(REFUND)


@pytest.fixture(scope="module")
def corpus() -> pd.Series:
    """24 comments on three themes, on a non-default index."""
    return pd.Series(CARD + DELIVERY + REFUND, index=[f"c{i}" for i in range(24)])


@pytest.fixture(scope="module")
def three(corpus):
    return discover_topics(corpus, n_topics=3)


@pytest.fixture(scope="module")
def airline_run(airline_raw):
    start = time.perf_counter()
    result = discover_topics(airline_raw["text"])
    return result, time.perf_counter() - start


def _purity(themes: list[str], topics: pd.Series) -> float:
    table = pd.crosstab(pd.Series(themes, index=topics.index), topics)
    return table.max(axis=0).sum() / len(themes)


def test_three_planted_themes_are_recovered(corpus, three):
    assert three.status == "ok" and three.chosen_by == "given" and three.n_topics == 3
    assert three.assignments.index.equals(corpus.index)
    assert (three.assignments["topic"] >= 0).all()
    assert _purity(THEMES, three.assignments["topic"]) == 1.0
    labels = set(three.table["label"])
    assert any("card" in lab for lab in labels) and any("refund" in lab for lab in labels)
    assert any("parcel" in lab or "delivery" in lab for lab in labels)


def test_table_counts_shares_examples(corpus, three):
    table = three.table
    assert list(table.columns) == ["topic", "label", "top_terms", "comments", "share",
                                   "examples"]
    assert table["comments"].sum() == len(corpus)
    assert table["share"].sum() == pytest.approx(1.0)
    assert list(table["topic"]) == [0, 1, 2]  # 0 = largest; ids are small ints
    assert table["comments"].is_monotonic_decreasing
    for row in table.itertuples():
        assert row.label == three.assignments.loc[three.assignments["topic"] == row.topic,
                                                  "topic_label"].iloc[0]
        assert 1 <= len(row.top_terms) <= 10 and row.label.split(" · ")[0] in row.top_terms
        mine = three.assignments["topic"] == row.topic
        best = three.assignments.loc[mine, "weight"].idxmax()
        assert row.examples[0] == corpus[best] and len(set(row.examples)) == 3


def test_number_of_topics_is_chosen_by_coherence(corpus):
    result = discover_topics(corpus)
    assert result.chosen_by == "coherence"
    assert result.n_topics in set(result.coherence["n_topics"])
    assert result.coherence["coherence"].between(-1, 1).all()
    best = result.coherence.loc[result.coherence["coherence"].idxmax(), "n_topics"]
    assert result.n_topics == best


def test_same_seed_same_topics(corpus):
    first, second = discover_topics(corpus), discover_topics(corpus)
    pd.testing.assert_frame_equal(first.assignments, second.assignments)
    pd.testing.assert_frame_equal(first.table, second.table)


def test_awkward_comments_are_counted_not_dropped():
    noise = [None, "", "😡😡", "   ", "12345 !!!", "https://t.co/xyz @united", float("nan")]
    foreign = ["Привет мир как дела", "飛行機が遅れた", "the and of it"]
    long_text = ("my card was declined and the payment failed at checkout " * 360)[:20_000]
    texts = pd.Series(CARD + DELIVERY + REFUND + noise + foreign + [long_text])
    before = texts.copy()
    result = discover_topics(texts, n_topics=3)
    pd.testing.assert_series_equal(texts, before)  # input not mutated
    got = result.assignments
    assert len(got) == len(texts) and got.index.equals(texts.index)
    assert (got["topic"].iloc[24:31] == NO_TEXT).all()
    assert (got["topic_label"].iloc[24:31] == NO_TEXT_LABEL).all()
    assert (got["topic"].iloc[31:34] == UNASSIGNED).all()
    assert (got.loc[got["topic"] < 0, "weight"] == 0).all()
    card_topic = got["topic"].iloc[0]
    assert got["topic"].iloc[-1] == card_topic  # the 20,000-character comment
    table = result.table.set_index("topic")
    assert table.loc[NO_TEXT, "comments"] == 7 and table.loc[UNASSIGNED, "comments"] == 3
    assert table["comments"].sum() == len(texts)


def test_no_text_at_all_is_empty_not_an_error():
    for texts in (pd.Series([], dtype=object), pd.Series([None, "", "😡😡"])):
        result = discover_topics(texts)
        assert result.status == "empty" and result.message and result.n_topics == 0
        assert len(result.assignments) == len(texts)
        assert result.table["comments"].sum() == len(texts)
    only_stop_words = discover_topics(pd.Series(["the and of"] * 30))
    assert only_stop_words.status == "empty"
    assert (only_stop_words.assignments["topic"] == UNASSIGNED).all()


def test_few_comments_make_one_topic():
    result = discover_topics(pd.Series(["card declined again", "refund please", None]))
    assert result.status == "degenerate" and result.chosen_by == "too few comments"
    assert result.n_topics == 1 and "20" in result.message
    assert list(result.assignments["topic"]) == [0, 0, NO_TEXT]


def test_cleaning():
    cleaned = clean_texts(pd.Series([
        "@VirginAmerica don't &amp; #fail http://t.co/x", "won\x89Ûªt go", None]))
    assert [text.split() for text in cleaned] == [["dont", "&", "fail"], ["wont", "go"], []]


@pytest.mark.parametrize("kwargs", [{"n_topics": 0}, {"n_topics": 2.5}, {"min_df": 0},
                                    {"min_df": 1.5}, {"max_sample": 1}, {"random_state": -1},
                                    {"n_topics": True}])
def test_bad_parameters_raise(corpus, kwargs):
    with pytest.raises(ParameterError, match=r"Pass e\.g\."):
        discover_topics(corpus, **kwargs)


def test_a_table_is_not_a_column(corpus):
    with pytest.raises(ParameterError, match="one column"):
        discover_topics(corpus.to_frame())


def test_categories_instead_of_topics(corpus):
    categories = pd.Series(THEMES, index=corpus.index).where(lambda s: s != "refund")
    categories.iloc[-1] = "  "
    result = topics_from_categories(categories, texts=corpus)
    assert result.chosen_by == "categories" and result.status == "ok"
    assert result.table[["topic", "label", "comments"]].values.tolist() == [
        [0, "card", 8], [1, "delivery", 8], [-1, "(none)", 8]]
    assert result.table["examples"].iloc[0] == CARD[:3]  # earliest distinct first
    assert result.assignments.loc["c23", "topic_label"] == "(none)"
    assert topics_from_categories(pd.Series(["a", "a", None])).status == "degenerate"
    assert topics_from_categories(pd.Series([None, ""])).status == "empty"
    with pytest.raises(ParameterError, match="same rows"):
        topics_from_categories(categories, texts=corpus.reset_index(drop=True))


def test_edit_renames_and_merges(corpus, three):
    edited = edit_topics(three, merge=[["2", 0]], rename={"2": "Money", 1: " Parcels "})
    assert edited.n_topics == 2
    assert set(edited.assignments["topic"]) == {1, 2}  # the merged topic keeps the first id
    table = edited.table.set_index("topic")
    assert table.loc[2, "label"] == "Money" and table.loc[1, "label"] == "Parcels"
    sizes = three.table.set_index("topic")["comments"]
    assert table.loc[2, "comments"] == sizes[0] + sizes[2] and table.loc[1, "comments"] == 8
    # Reference: the three distinct comments of highest weight among the merged ones.
    merged = edited.assignments[edited.assignments["topic"] == 2]
    order = merged.assign(text=corpus).sort_values("weight", ascending=False, kind="stable")
    assert table.loc[2, "examples"] == order["text"].drop_duplicates().head(3).tolist()
    unchanged = edit_topics(three)
    pd.testing.assert_frame_equal(unchanged.table, three.table)
    joined = edit_topics(three, merge=[[1, 2]]).table.set_index("topic").loc[1, "label"]
    labels = three.table.set_index("topic")["label"]
    assert joined == f"{labels[1]} + {labels[2]}"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rename": {7: "x"}}, "Valid topic ids: 0, 1, 2"),
    ({"rename": {"abc": "x"}}, "not a topic id"),
    ({"rename": {-1: "x"}}, "not a topic id"),
    ({"merge": [[0, 9]]}, "Valid topic ids"),
    ({"merge": [[0, 1], [1, 2]]}, "more than one merge group"),
    ({"merge": [0, 1]}, "groups of topic ids"),
    ({"merge": [[0, 1]], "rename": {1: "x"}}, "merged into topic 0"),
    ({"rename": {0: "  "}}, "blank"),
])
def test_bad_edits_raise(three, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        edit_topics(three, **kwargs)


def test_all_airline_tweets_in_well_under_30_seconds(airline_raw, airline_run):
    result, seconds = airline_run
    assert seconds < 30, f"{seconds:.1f} s for {len(airline_raw):,} comments"
    print(f"\n{len(airline_raw):,} tweets: {seconds:.1f} s, {result.n_topics} topics")
    assert len(result.assignments) == len(airline_raw) == 14_640
    assert result.sample_size == int((result.assignments["topic"] != NO_TEXT).sum())
    assert result.table["comments"].sum() == len(airline_raw)
    assert result.status == "ok" and result.chosen_by == "coherence"
    assert 4 <= result.n_topics <= 15


def test_sample_then_assign_everything(airline_raw):
    texts = airline_raw["text"].iloc[:3000]
    result = discover_topics(texts, max_sample=800, random_state=3)
    assert result.sample_size == 800
    assert len(result.assignments) == 3000 and result.table["comments"].sum() == 3000
    assert (result.assignments["topic"] >= 0).mean() > 0.95
    again = discover_topics(texts, max_sample=800, random_state=3)
    pd.testing.assert_frame_equal(result.assignments, again.assignments)
    pd.testing.assert_frame_equal(result.table, again.table)


def test_topics_agree_with_human_reasons_far_beyond_chance(airline_raw):
    """Discovered topics against the coders' ``negativereason`` on the 9,178 negative tweets
    that have one (10 reasons, "Can't Tell" included). Adjusted mutual information is ~0 for
    unrelated labelings: the shuffled baselines measure ±0.001, so a 0.05 margin is dozens of
    baseline spreads; the topics measure about 0.15 (short tweets with overlapping reasons:
    a perfect match is not expected)."""
    negative = airline_raw[airline_raw["negativereason"].notna()]
    topics = discover_topics(negative["text"]).assignments["topic"].to_numpy()
    human = negative["negativereason"].to_numpy()
    ami = adjusted_mutual_info_score(human, topics)
    baseline = [adjusted_mutual_info_score(human, np.random.default_rng(seed).permutation(topics))
                for seed in range(5)]
    message = f"AMI {ami:.4f}; shuffled baselines {np.round(baseline, 4).tolist()}"
    print("\n" + message)
    assert ami > max(baseline) + 0.05, message
    assert ami > 0.10, message


def test_airline_reasons_as_categories(airline_raw):
    result = topics_from_categories(airline_raw["negativereason"], texts=airline_raw["text"])
    assert result.n_topics == 10 and result.status == "ok"
    first = result.table.iloc[0]
    assert (first["label"], first["comments"]) == ("Customer Service Issue", 2910)
    none = result.table.set_index("topic").loc[UNASSIGNED]
    assert (none["label"], none["comments"]) == ("(none)", 5462)
    assert result.table["comments"].sum() == 14_640
