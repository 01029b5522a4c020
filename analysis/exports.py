"""Safe exports: CSV that spreadsheets will not execute."""

from __future__ import annotations

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a single quote.

    Covers cells starting with ``= + - @``, tab or carriage return (OWASP CSV injection).
    Numbers are left alone; a negative number stored as text is quoted, which is harmless.
    """
    out = df.copy()
    for col in out.columns:
        values = out[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values) or isinstance(
            values.dtype, pd.CategoricalDtype
        ):
            text = values.astype("string")
            risky = text.str.startswith(_FORMULA_START).fillna(False)
            out[col] = text.where(~risky, "'" + text)
    out.columns = [
        "'" + c if isinstance(c, str) and c.startswith(_FORMULA_START) else c for c in out.columns
    ]
    return out


def safe_csv(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so Excel reads accents) with formulas neutralised.

    Floats keep 10 significant digits, so 1.0000000000000002 is written as 1 while counts,
    shares and p-values lose nothing a reader could see."""
    out = neutralise_formulas(df).to_csv(index=False, float_format="%.10g")
    return out.encode("utf-8-sig")
