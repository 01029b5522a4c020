"""The Cox model matrix: numeric covariates as they are, text one-hot against its mode.

Text columns are coded once (each distinct value written as text once, not once per row)
and the codes reused for the one-hot columns, so a table of a few hundred thousand customers
is not hashed again per step (missing values, distinct counts, levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING = "(missing)"


@dataclass(frozen=True)
class TextCodes:
    """A text column as ``codes`` (one per row) into ``levels`` (distinct texts)."""

    codes: np.ndarray
    levels: pd.Index

    def labels(self) -> np.ndarray:
        return self.levels.to_numpy(dtype=object)[self.codes]

    def take(self, rows: np.ndarray) -> TextCodes:
        return TextCodes(self.codes[rows], self.levels)


def numeric(values: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)


def code_text(values: pd.Series) -> TextCodes:
    """The values written as text (``astype("string")``), a missing value as "(missing)": a
    level of its own. Two values written alike (1 and "1", a missing value and the text
    "(missing)") are one level."""
    codes, uniques = pd.factorize(values)
    written = pd.Series(uniques).astype("string").fillna(MISSING).astype(object)
    names = np.array([*written.tolist(), MISSING], dtype=object)
    merged, levels = pd.factorize(names)
    return TextCodes(merged[codes], pd.Index(levels, dtype=object))


def model_matrix(data: pd.DataFrame, covariates: list[str], coded: dict[str, TextCodes],
                 weights: pd.Series | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The model matrix of the complete rows ``data`` (text columns coded in ``coded``):
    numeric columns as they are, text one-hot against its mode (the value with the largest
    total weight when rows carry weights); and the covariates left out for having one
    value."""
    columns: dict[str, np.ndarray] = {}
    dropped = []
    for name in covariates:
        if name in coded:
            text = coded[name]
            counts = (np.bincount(text.codes, minlength=len(text.levels)) if weights is None
                      else np.bincount(text.codes, weights.to_numpy(),
                                       minlength=len(text.levels)))
            present = np.bincount(text.codes, minlength=len(text.levels)) > 0
            if present.sum() <= 1:
                dropped.append(name)
                continue
            counts = pd.Series(counts[present], index=text.levels[present])
            # The most frequent value is the reference; ties go to the first name in order.
            reference = min(counts.index[counts == counts.max()])
            for level in sorted(set(counts.index) - {reference}):
                columns[f"{name}={level}"] = (text.codes == text.levels.get_loc(level)).astype(
                    float)
        elif _constant(data[name]):
            dropped.append(name)
        else:
            columns[name] = data[name].astype(float).to_numpy()
    return pd.DataFrame(columns, index=range(len(data))), dropped


def _constant(values: pd.Series) -> bool:
    """``nunique() <= 1`` of a column without missing values, counted only when every value
    equals the first (the usual case, a varying column, needs no hashing)."""
    array = values.to_numpy()
    if len(array) and (array != array[0]).any():
        return False
    return values.nunique(dropna=True) <= 1
