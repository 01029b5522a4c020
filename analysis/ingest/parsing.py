"""Vectorised coercion of raw columns: timestamps to UTC, numbers, booleans, ids.

Every function returns the converted values plus a boolean mask of the entries that were
present but could not be converted, so that ingestion can quarantine exactly those rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.schema import SCALE_RANGES

#: Explicit formats tried in order after ISO 8601; US month-first wins ties over day-first.
DATE_FORMATS: tuple[str, ...] = (
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%a %b %d %H:%M:%S %z %Y",
)

#: A time of day followed by Z or a UTC offset, at the end of the value.
_OFFSET_AT_END = r"[T\s]\d{1,2}(?::?\d\d){0,2}(?:[.,]\d+)?\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"

_MISSING_TEXT = {"", "nan", "none", "null", "nat", "na", "n/a", "#n/a", "-"}


@dataclass(frozen=True)
class Parsed:
    """Converted values, the mask of present-but-invalid entries, and how they were read."""

    values: pd.Series
    invalid: pd.Series
    method: str


def is_missing(values: pd.Series) -> pd.Series:
    """True where a raw value is empty: NaN/None or a blank / 'null'-like string."""
    missing = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip().str.lower()
        missing |= text.isin(_MISSING_TEXT).fillna(True)
    return missing.astype(bool)


def parse_timestamps(values: pd.Series) -> Parsed:
    """Parse a column of dates/times into tz-naive UTC ``datetime64[us]``.

    Tz-aware values (also mixed offsets in one column) are converted to UTC; naive values are
    taken as UTC. Strings are read as ISO 8601 first, then with the explicit format that parses
    most of the remaining values (US month/day order wins ties), then the next best formats for
    what is still left, then numeric epochs (seconds or milliseconds), then free-form text that
    names a year. Dates outside 1900..2200 are invalid.
    """
    missing = is_missing(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        out = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return _finish(out, missing, "datetime (tz-aware)")
    if pd.api.types.is_datetime64_any_dtype(values):
        return _finish(values, missing, "datetime")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return _finish(_from_epoch(values.astype("float64")), missing, "epoch")

    text = values.where(~missing).astype("string").str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    todo = ~missing
    methods: list[str] = []
    if todo.any():
        # In ISO mode pandas applies the offset of an aware value to the naive values after it,
        # so values with and without an offset are parsed apart.
        aware = text.str.contains(_OFFSET_AT_END).fillna(False).astype(bool)
        for part in (todo & aware, todo & ~aware):
            if part.any():
                out[part] = _to_utc(text[part], format="ISO8601")
        if out.notna().any():
            methods.append("ISO 8601")
        todo &= out.isna()
    while todo.any():
        best_format = _best_format(text[todo])
        if best_format is None:
            break
        out[todo] = _to_utc(text[todo], format=best_format)
        methods.append(best_format)
        todo &= out.isna()
    if todo.any():
        numeric = pd.to_numeric(text[todo], errors="coerce")
        epoch = _from_epoch(numeric)
        if epoch.notna().any():
            out[todo] = epoch
            methods.append("epoch")
            todo &= out.isna()
    # Free-form parsing completes a missing date from today's date ("12:30" -> today 12:30),
    # a hidden clock: only values that name a year are read free-form.
    todo &= text.str.contains(r"(?<!\d)(?:19|20|21)\d\d(?!\d)").fillna(False)
    if todo.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mixed = _to_utc(text[todo], format="mixed")
        if mixed.notna().any():
            out[todo] = mixed
            methods.append("free-form")
    return _finish(out, missing, " + ".join(methods) or "none")


def _best_format(text: pd.Series, sample_size: int = 2000) -> str | None:
    """The explicit format that parses most values (ranked on a sample, then on all)."""
    for sample in (text.head(sample_size), text):
        counts = [(int(_to_utc(sample, format=f).notna().sum()), f) for f in DATE_FORMATS]
        best_count = max(c for c, _ in counts)
        if best_count:
            return next(f for c, f in counts if c == best_count)
        if len(sample) == len(text):
            break
    return None


def _to_utc(text: pd.Series, *, format: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, format=format, utc=True, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    # Out-of-range readings count as failures here, so that the next format or an epoch can
    # still read the value ("1712101200" is an epoch, not the year 1712).
    return _in_range(parsed.dt.tz_localize(None))


_EARLIEST, _LATEST = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01")
_LATEST_EPOCH_SECONDS = (_LATEST - pd.Timestamp(0)).total_seconds()


def _in_range(values: pd.Series) -> pd.Series:
    """Dates outside 1900..2200 are typos or epoch mistakes, not customer events."""
    return values.where((values >= _EARLIEST) & (values <= _LATEST))


def _from_epoch(numbers: pd.Series) -> pd.Series:
    """Seconds (from 1e8) or milliseconds (from 1e11) since 1970, up to the year 2200; other
    numbers are invalid."""
    out = pd.Series(pd.NaT, index=numbers.index, dtype="datetime64[ns]")
    # Bounded by 2200 so that no conversion overflows pandas' nanosecond range (year 2262).
    seconds = numbers.between(1e8, _LATEST_EPOCH_SECONDS)
    millis = numbers.between(1e11, _LATEST_EPOCH_SECONDS * 1000)
    if seconds.any():
        out[seconds] = pd.to_datetime(numbers[seconds], unit="s")
    if millis.any():
        out[millis] = pd.to_datetime(numbers[millis], unit="ms")
    return out


def _finish(values: pd.Series, missing: pd.Series, method: str) -> Parsed:
    values = _in_range(pd.to_datetime(values, errors="coerce"))
    values = values.astype("datetime64[us]")
    invalid = values.isna() & ~missing
    return Parsed(values, invalid.astype(bool), method)


def parse_numbers(values: pd.Series) -> Parsed:
    """Numbers, accepting thousands separators, currency signs, percent and decimal commas."""
    missing = is_missing(values)
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        out = values.astype("float64")
        out = out.where(np.isfinite(out))
        return Parsed(out, (out.isna() & ~missing).astype(bool), "numeric")
    text = values.where(~missing).astype("string").str.strip()
    cleaned = text.str.replace(r"^[\$€£¥]|[\$€£¥%]$", "", regex=True).str.strip()
    cleaned = cleaned.str.replace(r"(?<=\d)[ _'](?=\d{3}\b)", "", regex=True)
    # "1.234,5" and "12,5" use a decimal comma; "1,234" (three digits after one comma) is
    # a thousands separator, as in US exports.
    comma_decimal = cleaned.str.fullmatch(
        r"-?\d{1,3}(\.\d{3})+,\d+|-?\d+,(\d{1,2}|\d{4,})"
    ).fillna(False)
    cleaned = cleaned.where(
        ~comma_decimal, cleaned.str.replace(".", "", regex=False).str.replace(",", ".")
    )
    cleaned = cleaned.str.replace(r"(?<=\d),(?=\d{3}\b)", "", regex=True)
    out = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    out = out.where(np.isfinite(out))
    return Parsed(out, (out.isna() & ~missing).astype(bool), "text to number")


_TRUE = {"true", "t", "yes", "y", "1", "1.0", "churned", "cancelled", "canceled", "lost"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "active", "retained", "censored"}


def parse_booleans(values: pd.Series) -> Parsed:
    """true/false, yes/no, 1/0 (and churned/active) into a nullable boolean."""
    missing = is_missing(values)
    if pd.api.types.is_bool_dtype(values):
        return Parsed(values.astype("boolean"), pd.Series(False, index=values.index), "boolean")
    text = values.where(~missing).astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False)] = True
    out[text.isin(_FALSE).fillna(False)] = False
    return Parsed(out, (out.isna() & ~missing).astype(bool), "text to boolean")


def clean_ids(values: pd.Series) -> pd.Series:
    """Ids as trimmed strings; integral floats lose their ``.0`` (``17.0`` -> ``"17"``)."""
    if pd.api.types.is_float_dtype(values):
        # Only finite values an int64 holds exactly (inf or 1e300 would not survive the cast).
        integral = values.notna() & (values.abs() < 2**53) & (values == values.round())
        text = values.astype("string")
        text[integral] = values[integral].astype("int64").astype("string")
        return text.str.strip()
    return values.astype("string").str.strip()


def scale_name(value: Any) -> str | None:
    text = str(value).strip().lower() if value is not None else ""
    if not text or text in {"nan", "none", "<na>"}:
        return None
    if text in SCALE_RANGES:
        return text
    if "promot" in text or "nps" in text:
        return "nps"
    if "effort" in text or "ces" in text:
        return "ces"
    if "satisf" in text or "csat" in text:
        return "csat"
    return None
