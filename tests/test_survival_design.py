"""The Cox model matrix: text coded once, one-hot against the most frequent value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.survival.design import MISSING, code_text, model_matrix


def test_values_written_alike_are_one_level_and_missing_is_a_level():
    values = pd.Series([1, "1", None, MISSING, "b", np.nan], dtype=object)
    coded = code_text(values)
    labels = coded.labels()
    assert labels.tolist() == ["1", "1", MISSING, MISSING, "b", MISSING]
    assert sorted(coded.levels) == sorted(set(labels))
    # The labels are what astype("string").fillna(MISSING) writes.
    assert labels.tolist() == values.astype("string").fillna(MISSING).tolist()


def test_one_hot_against_the_most_frequent_value_by_hand():
    data = pd.DataFrame({"plan": ["b", "a", "b", "c", "b", "a"],
                         "visits": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                         "flat": [1, 1, 1, 1, 1, 1]})
    coded = {"plan": code_text(data["plan"])}
    design, dropped = model_matrix(data, ["plan", "visits", "flat"], coded)
    assert dropped == ["flat"]
    assert list(design.columns) == ["plan=a", "plan=c", "visits"]
    assert design["plan=a"].tolist() == [0, 1, 0, 0, 0, 1]
    assert design["plan=c"].tolist() == [0, 0, 0, 1, 0, 0]
    # With weights the reference is the heaviest value: "a" here, tie-broken by name.
    weights = pd.Series([1.0, 3.0, 1.0, 1.0, 1.0, 0.5])
    design, _ = model_matrix(data, ["plan"], coded, weights)
    assert list(design.columns) == ["plan=b", "plan=c"]


def test_levels_absent_from_the_kept_rows_are_no_terms():
    data = pd.DataFrame({"plan": ["a", "b", "a", "c"]})
    kept = np.array([True, False, True, True])
    coded = {"plan": code_text(data["plan"]).take(kept)}
    design, dropped = model_matrix(data[kept], ["plan"], coded)
    assert list(design.columns) == ["plan=c"] and dropped == []
    coded = {"plan": code_text(data["plan"]).take(np.array([True, False, True, False]))}
    assert model_matrix(data.iloc[[0, 2]], ["plan"], coded)[1] == ["plan"]
