"""Feedback summary (Home for a feedback table) against independent computations."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from analysis import figures, ingest
from analysis.feedback_summary import MISSING, comment_sample, feedback_summary
from analysis.frames import Filters, apply_filters, to_lazy
from analysis.results import OTHER
from analysis.schema import ParameterError, UnknownValueError
from analysis.stats import nps_interval

_CATS = ["A"] * 5 + ["B"] * 4 + ["C"] * 3 + ["D"] * 2 + ["E"] + [None] * 3
_SCORES = [10, 9, 9, 8, 7, 6, 3, 0, 5, 4, 4, 2, 1, 7, 6, 1, 2.5, np.nan]
_SCALES = ["nps"] * 8 + ["csat"] * 5 + ["ces"] * 3 + [None, None]
_TEXTS = ["great", "bad", None, "", "ok", "slow", "fast", "meh", "nice", "so so",
          "late", "rude", "fine", "hard", "easy", "x", "y", "z"]
FEEDBACK = pd.DataFrame({
    "timestamp": pd.to_datetime("2024-01-01 09:00") + pd.to_timedelta(
        [0, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 17, 20, 21, 22, 28, 29, 30], unit="D"),
    "customer_id": [f"c{i % 7}" for i in range(18)],
    "touchpoint": ["Web", "App", "Web", "Store", "Web", "App"] * 3,
    "category": _CATS,
    "score": _SCORES,
    "scale": _SCALES,
    "text": _TEXTS,
})


def _summary(data=FEEDBACK, **kwargs):
    return feedback_summary(data, **kwargs)


# --------------------------------------------------------------------------- counts


def test_category_counts_fold_the_rest_into_other_and_count_missing_apart():
    s = _summary(top_n=2)
    assert s.feedback == 18 and s.n_categories == 5
    got = dict(zip(s.categories["category"], s.categories["feedback"], strict=True))
    assert got == {"A": 5, "B": 4, OTHER: 3 + 2 + 1, MISSING: 3}
    assert list(s.categories["category"]) == ["A", "B", OTHER, MISSING]
    assert s.categories["share"].tolist() == pytest.approx([5 / 18, 4 / 18, 6 / 18, 3 / 18])
    assert s.categories["feedback"].sum() == len(FEEDBACK)


def test_a_single_leftover_is_shown_by_name_not_as_other():
    s = _summary(top_n=4)
    assert list(s.categories["category"]) == ["A", "B", "C", "D", "E", MISSING]


def test_touchpoint_counts_match_value_counts():
    s = _summary()
    expected = FEEDBACK["touchpoint"].value_counts()
    got = s.touchpoints.set_index("touchpoint")["feedback"]
    assert got.to_dict() == expected.to_dict() and s.n_touchpoints == 3
    assert got.is_monotonic_decreasing


def test_texts_count_only_non_empty_comments():
    assert _summary().texts == sum(bool(t) for t in _TEXTS)


# --------------------------------------------------------------------------- scores


def test_score_distribution_matches_a_crosstab_and_fills_unused_points():
    s = _summary()
    for scale, (low, high) in {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}.items():
        part = s.scores[s.scores["scale"] == scale].set_index("score")["responses"]
        given = FEEDBACK.loc[FEEDBACK["scale"] == scale, "score"].value_counts()
        expected = given.reindex(np.arange(low, high + 1, dtype=float), fill_value=0)
        assert part.to_dict() == expected.to_dict(), scale
        share = s.scores.loc[s.scores["scale"] == scale, "share"]
        assert share.sum() == pytest.approx(1.0)
    assert s.unscaled_scores == 1  # 2.5 has no scale; the last row has no score at all


def test_nps_value_and_adjusted_wald_interval():
    s = _summary()
    nps = FEEDBACK.loc[FEEDBACK["scale"] == "nps", "score"]
    promoters, detractors, n = (nps >= 9).sum(), (nps <= 6).sum(), len(nps)
    assert (promoters, detractors, n) == (3, 3, 8)
    assert s.nps.value == pytest.approx(0.0) and s.nps.n == 8
    # Reference: the trinomial written out (+1 promoter, 0 passive, −1 detractor) with
    # 3/4 pseudo-answer added to promoters and detractors and 1.5 to passives (Rocks 2016).
    x = np.r_[np.ones(promoters), np.zeros(n - promoters - detractors), -np.ones(detractors)]
    w = np.r_[np.ones(n), 0.75, 1.5, 0.75]
    x = np.r_[x, 1, 0, -1]
    mean = np.average(x, weights=w)
    var = np.average((x - mean) ** 2, weights=w)
    half = sps.norm.ppf(0.975) * np.sqrt(var / w.sum())
    assert (s.nps.ci_low, s.nps.ci_high) == pytest.approx((100 * (mean - half),
                                                           100 * (mean + half)))


def test_nps_interval_golden_values_and_bounds():
    # All 50 answers promoters: the plain Wald interval would be the single point +100.
    # Golden values worked by hand: n' = 103, p_P = 40.75/103, p_D = 20.75/103.
    low, high = nps_interval(40, 20, 100)  # NPS +20
    assert round(low, 5) == 4.97358 and round(high, 5) == 33.86137
    low, high = nps_interval(50, 0, 50)  # 86.64 to 102.03, clipped to the scale
    assert round(low, 5) == 86.64432 and high == 100.0
    assert np.isnan(nps_interval(0, 0, 0)).all()


def test_nps_interval_covers_about_95_percent():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.2])  # promoters, passives, detractors: true NPS +30
    draws = rng.multinomial(60, p, size=2000)
    hits = [lo <= 30 <= hi for lo, hi in (nps_interval(d[0], d[2], 60) for d in draws)]
    assert 0.93 < np.mean(hits) < 0.97


def test_csat_share_uses_the_wilson_interval():
    s = _summary()
    csat = FEEDBACK.loc[FEEDBACK["scale"] == "csat", "score"]
    satisfied = int((csat >= 4).sum())
    low, high = proportion_confint(satisfied, len(csat), method="wilson")
    assert s.csat.value == pytest.approx(satisfied / len(csat)) and s.csat.n == 5
    assert (s.csat.ci_low, s.csat.ci_high) == pytest.approx((low, high))


def test_ces_mean_has_a_student_t_interval():
    s = _summary()
    ces = FEEDBACK.loc[FEEDBACK["scale"] == "ces", "score"].to_numpy()
    low, high = sps.t.interval(0.95, len(ces) - 1, loc=ces.mean(), scale=sps.sem(ces))
    assert s.ces.value == pytest.approx(ces.mean())
    assert (s.ces.ci_low, s.ces.ci_high) == pytest.approx((low, high))


def test_one_ces_answer_has_no_interval():
    s = _summary(FEEDBACK.iloc[:3].assign(scale="ces", score=[4.0, None, None]))
    assert s.ces.value == 4.0 and s.ces.n == 1 and np.isnan(s.ces.ci_low)


# --------------------------------------------------------------------------- volume


def test_weekly_volume_matches_pandas_weeks_with_zero_weeks_filled():
    s = _summary(period="week", split_max=0)
    assert s.period == "week" and "category" not in s.volume
    week = FEEDBACK["timestamp"].dt.to_period("W-SUN").dt.start_time
    expected = week.value_counts().sort_index()
    expected = expected.reindex(pd.date_range(expected.index.min(), expected.index.max(),
                                              freq="7D"), fill_value=0)
    got = s.volume.set_index("period_start")["feedback"]
    assert got.to_dict() == expected.to_dict()
    assert s.volume["period_start"].dt.dayofweek.eq(0).all()


def test_daily_volume_for_a_short_span_and_split_by_few_categories():
    s = _summary()  # 30 days: auto picks days; 5 categories ≤ split_max
    assert s.period == "day"
    day = FEEDBACK["timestamp"].dt.floor("D")
    assert len(s.volume) == 31 * 6  # every day from first to last, for 5 categories + (none)
    by_day = s.volume.groupby("period_start")["feedback"].sum()
    assert by_day[by_day > 0].to_dict() == day.value_counts().sort_index().to_dict()
    by_cat = s.volume.groupby("category")["feedback"].sum()
    assert by_cat.to_dict() == FEEDBACK["category"].fillna(MISSING).value_counts().to_dict()


def test_volume_is_not_split_with_many_categories():
    s = _summary(split_max=3)
    assert "category" not in s.volume and s.volume["feedback"].sum() == 18


# --------------------------------------------------------------------------- comments


def test_comment_sample_is_reproducible_and_only_holds_comments():
    a = comment_sample(FEEDBACK, n=5, random_state=0)
    b = comment_sample(FEEDBACK, n=5, random_state=0)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 5 and a["text"].str.len().gt(0).all()
    assert a["timestamp"].is_monotonic_increasing
    assert set(a["text"]) <= set(FEEDBACK["text"].dropna())
    other = comment_sample(FEEDBACK, n=5, random_state=1)
    assert list(other["text"]) != list(a["text"])


def test_comment_sample_picks_the_drawn_positions_of_the_time_order():
    ordered = FEEDBACK[FEEDBACK["text"].fillna("").str.len() > 0].sort_values(
        ["timestamp", "text"]).reset_index(drop=True)
    positions = np.sort(np.random.default_rng(7).choice(len(ordered), 4, replace=False))
    got = comment_sample(FEEDBACK, n=4, random_state=7)
    assert list(got["text"]) == list(ordered.loc[positions, "text"])


def test_comment_sample_is_the_same_on_polars():
    a = comment_sample(FEEDBACK, n=6, random_state=3)
    b = comment_sample(pl.from_pandas(FEEDBACK), n=6, random_state=3)
    assert list(a["text"]) == list(b["text"])


def test_comment_sample_by_category_and_without_one():
    a = comment_sample(FEEDBACK, n=50, category="A")
    expected = FEEDBACK[(FEEDBACK["category"] == "A") & (FEEDBACK["text"].fillna("") != "")]
    assert sorted(a["text"]) == sorted(expected["text"])
    none = comment_sample(FEEDBACK, n=50, category=MISSING)
    assert none["category"].isna().all() and sorted(none["text"]) == ["x", "y", "z"]


def test_comment_sample_rejects_an_unknown_category():
    with pytest.raises(UnknownValueError, match=r"the data has: \(none\), A, B, C, D, E"):
        comment_sample(FEEDBACK, category="a")
    with pytest.raises(ParameterError, match="no category column"):
        comment_sample(FEEDBACK.drop(columns="category"), category="A")


# --------------------------------------------------------------------------- degenerate


def test_no_scores_column():
    s = _summary(FEEDBACK.drop(columns=["score", "scale"]))
    assert s.scores.empty and s.nps is None and s.csat is None and s.ces is None
    assert {"score", "scale"} <= set(s.missing) and s.status == "ok"


def test_no_text_column():
    data = FEEDBACK.drop(columns="text")
    s = _summary(data)
    assert s.texts == 0 and "text" in s.missing and s.status == "ok"
    assert comment_sample(data).empty


def test_neither_scores_nor_text_is_degenerate():
    s = _summary(FEEDBACK[["timestamp", "category"]])
    assert s.status == "degenerate" and "score" in s.message
    assert s.categories["feedback"].sum() == 18


def test_nothing_left_after_filters_is_empty_not_an_error():
    lf = apply_filters(to_lazy(FEEDBACK), Filters(start=date(2030, 1, 1)))
    s = _summary(lf)
    assert s.status == "empty" and "filters" in s.message
    assert s.feedback == 0 and s.first is None and s.categories.empty and s.scores.empty
    assert s.volume.empty and s.nps is None
    assert comment_sample(lf).empty


def test_bad_parameters_say_what_to_pass():
    with pytest.raises(ParameterError, match="top_n"):
        _summary(top_n=0)
    with pytest.raises(ParameterError, match="auto, day, week"):
        _summary(period="month")
    with pytest.raises(ParameterError, match="n must be"):
        comment_sample(FEEDBACK, n=0)


def test_polars_gives_the_same_summary():
    a, b = _summary(), _summary(pl.from_pandas(FEEDBACK))
    for name in ("feedback", "texts", "n_categories", "nps", "csat", "ces", "period"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("categories", "touchpoints", "scores", "volume"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_dtype=False)


# --------------------------------------------------------------------------- real file


def test_airline_tweets_counts_match_the_published_numbers(airline_raw):
    data = ingest.prepare(airline_raw, ingest.guess_mapping(airline_raw, "feedback"),
                          "feedback").data
    s = feedback_summary(data)
    assert s.status == "ok" and s.feedback == 14_640 and s.texts == 14_640
    cats = s.categories.set_index("category")["feedback"]
    assert cats["Customer Service Issue"] == 2910 and cats["Damaged Luggage"] == 74
    # Only negative tweets carry a reason: the neutral and positive ones have none.
    assert cats.drop(MISSING).sum() == 9178 and cats[MISSING] == 3099 + 2363
    assert s.n_categories == 10 and s.n_touchpoints == 6
    assert s.touchpoints.set_index("touchpoint")["feedback"]["United"] == 3822
    assert s.period == "day" and s.volume["feedback"].sum() == 14_640
    assert s.scores.empty and "score" in s.missing
    sample = comment_sample(data, n=20, category="Lost Luggage")
    assert len(sample) == 20 and (sample["category"] == "Lost Luggage").all()


# --------------------------------------------------------------------------- figures


def test_figures_draw_every_block():
    s = _summary(top_n=2)
    bars = figures.feedback_count_chart(s.categories, "category", label="Category")
    assert list(bars.data[0].y) == ["A", "B", OTHER, MISSING]
    nps = figures.score_distribution_chart(s.scores, "nps")
    assert [t.name for t in nps.data] == ["Detractors (0–6)", "Passives (7–8)",
                                          "Promoters (9–10)"]
    assert sum(len(t.x) for t in nps.data) == 11
    volume = figures.feedback_volume_chart(s.volume, period=s.period)
    assert volume.data[-1].name == MISSING  # "(none)" stacks last, in grey
