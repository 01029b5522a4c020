"""Raw tables as plain pandas frames, and raw values made safe for reports."""

from __future__ import annotations

from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.schema import IngestError


def to_pandas(df: Any) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame):
        _check_unique_columns(df)
        return df
    try:
        frame = nw.from_native(df)
    except TypeError as exc:
        raise IngestError(
            f"Cannot import a {type(df).__name__}.",
            "Pass a pandas, Polars, DuckDB or PySpark table, or use read_table on a file.",
        ) from exc
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    return frame.to_pandas()


def _check_unique_columns(df: pd.DataFrame) -> None:
    if not df.columns.is_unique:
        repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise IngestError(
            f"The table has more than one column named {', '.join(map(repr, repeated))}.",
            "Rename the columns so that each has its own name.",
        )


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy without ``attrs`` and with categorical columns as plain values.

    pandas deep-copies ``attrs`` (which can hold thousands of malformed rows) into the result of
    every operation; categoricals (from Parquet, or a frame passed in) refuse the reductions and
    string checks that coercion relies on.
    """
    frame = frame.copy(deep=False)
    frame.attrs = {}
    for i, dtype in enumerate(frame.dtypes):
        if isinstance(dtype, pd.CategoricalDtype):
            frame.isetitem(i, np.asarray(frame.iloc[:, i]))
    return frame


def isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def jsonable(value: Any) -> Any:
    if isna(value):
        return None
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)
