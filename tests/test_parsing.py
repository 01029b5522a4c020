"""Coercion of raw columns: timestamps to tz-naive UTC, numbers, booleans, ids."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.ingest.parsing import (
    clean_ids,
    is_missing,
    parse_booleans,
    parse_numbers,
    parse_timestamps,
)

T = pd.Timestamp


def _text(*values: object) -> pd.Series:
    return pd.Series(list(values), dtype=object)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01", T("2024-03-01 00:00")),
        ("2024-03-01 10:15:30", T("2024-03-01 10:15:30")),
        ("2024-03-01T10:15:30", T("2024-03-01 10:15:30")),
        ("2024-03-01T10:15:30Z", T("2024-03-01 10:15:30")),
        ("2024-03-01T10:15:30.250Z", T("2024-03-01 10:15:30.250")),
        ("2024-03-01T10:15:30+01:00", T("2024-03-01 09:15:30")),
        ("2024-03-01T10:15:30-05:00", T("2024-03-01 15:15:30")),
        ("2/24/2015 11:35", T("2015-02-24 11:35")),
        ("2/24/2015", T("2015-02-24")),
        ("24/02/2015", T("2015-02-24")),
        ("24/02/2015 18:05", T("2015-02-24 18:05")),
        ("24.02.2015 18:05", T("2015-02-24 18:05")),
        ("2015/02/24 18:05:01", T("2015-02-24 18:05:01")),
        ("Tue Feb 24 11:35:52 +0000 2015", T("2015-02-24 11:35:52")),
        ("1700000000", T("2023-11-14 22:13:20")),
        ("1700000000000", T("2023-11-14 22:13:20")),
    ],
)
def test_single_formats(raw, expected):
    parsed = parse_timestamps(_text(raw))
    assert parsed.values.iloc[0] == expected
    assert not parsed.invalid.iloc[0]


def test_result_is_tz_naive_microseconds():
    parsed = parse_timestamps(_text("2024-03-01T10:00:00+02:00"))
    assert str(parsed.values.dtype) == "datetime64[us]"
    assert parsed.values.dt.tz is None


def test_mixed_offsets_in_one_column_convert_to_utc():
    # Summer and winter time of the same wall clock: one hour apart in UTC.
    parsed = parse_timestamps(
        _text("2011-10-11 13:45:40.276000+02:00", "2011-11-24 15:36:51.302000+01:00")
    )
    assert parsed.values.tolist() == [
        T("2011-10-11 11:45:40.276"),
        T("2011-11-24 14:36:51.302"),
    ]
    assert not parsed.invalid.any()


def test_naive_values_after_aware_ones_stay_utc():
    # pandas' ISO mode would apply the +02:00 of the first value to the naive ones after it.
    parsed = parse_timestamps(
        _text("2015-02-24T13:35:00+02:00", "2015-02-24 11:35", "2015-02-24T11:35:00", "2015-02-24")
    )
    assert parsed.values.tolist() == [T("2015-02-24 11:35")] * 3 + [T("2015-02-24")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20240301T101530Z", T("2024-03-01 10:15:30")),
        ("2024-03-01 10:15:30 +0100", T("2024-03-01 09:15:30")),
        ("2024-03-01T10:15+01", T("2024-03-01 09:15")),
    ],
)
def test_offset_spellings(raw, expected):
    parsed = parse_timestamps(_text(raw, "2024-03-01"))
    assert parsed.values.tolist() == [expected, T("2024-03-01")]


def test_naive_values_are_taken_as_utc():
    parsed = parse_timestamps(_text("2024-06-01 12:00:00"))
    assert parsed.values.iloc[0] == T("2024-06-01 12:00:00")


def test_us_month_first_wins_ambiguous_dates():
    parsed = parse_timestamps(_text("02/03/2015", "04/05/2015"))
    assert parsed.values.tolist() == [T("2015-02-03"), T("2015-04-05")]


def test_day_first_when_a_day_is_above_twelve():
    # 24/02 can only be day-first, so the whole column is read day-first.
    parsed = parse_timestamps(_text("01/02/2015", "24/02/2015"))
    assert parsed.values.tolist() == [T("2015-02-01"), T("2015-02-24")]


def test_iso_and_us_mixed_in_one_column():
    parsed = parse_timestamps(_text("2015-02-23 08:00", "2/24/2015 11:35"))
    assert parsed.values.tolist() == [T("2015-02-23 08:00"), T("2015-02-24 11:35")]


def test_numeric_epoch_seconds_and_milliseconds():
    parsed = parse_timestamps(pd.Series([1_700_000_000, 1_700_000_000_000]))
    assert parsed.values.tolist() == [T("2023-11-14 22:13:20")] * 2
    assert parsed.method == "epoch"


@pytest.mark.parametrize("raw", ["1712101200", "1712101200000"])
def test_epoch_strings_that_look_like_compact_dates(raw):
    # 1712101200 also fits %Y%m%d%H%M%S as the year 1712; an epoch is the only sensible reading.
    parsed = parse_timestamps(_text(raw))
    expected = pd.to_datetime(int(raw), unit="ms" if len(raw) > 10 else "s")
    assert parsed.values.iloc[0] == expected
    assert not parsed.invalid.iloc[0]


@pytest.mark.parametrize(
    "values",
    [_text("9223372036855", "9999999999"), pd.Series([9_223_372_036_855, 9_999_999_999])],
)
def test_epochs_beyond_2200_are_invalid_not_an_overflow(values):
    parsed = parse_timestamps(values)
    assert parsed.invalid.all()


def test_datetime_columns_pass_through_and_tz_aware_convert():
    naive = pd.Series(pd.to_datetime(["2024-01-01 10:00"]))
    aware = naive.dt.tz_localize("Europe/Amsterdam")
    assert parse_timestamps(naive).values.iloc[0] == T("2024-01-01 10:00")
    assert parse_timestamps(aware).values.iloc[0] == T("2024-01-01 09:00")


def test_unparseable_and_missing_are_told_apart():
    parsed = parse_timestamps(_text("2024-01-01", "not a date", "", None, "2024-13-45", "NaN"))
    assert parsed.invalid.tolist() == [False, True, False, False, True, False]
    assert parsed.values.isna().tolist() == [False, True, True, True, True, True]


@pytest.mark.parametrize("raw", ["12:30", "1 2 3", "fast", "3", "0.5", "May 5"])
def test_values_without_a_date_are_invalid(raw):
    # A time of day alone would be completed with today's date: a hidden clock.
    parsed = parse_timestamps(_text(raw, raw))
    assert parsed.invalid.all()
    assert parsed.values.isna().all()


def test_out_of_range_years_are_invalid():
    parsed = parse_timestamps(_text("1066-10-14", "2999-01-01"))
    assert parsed.invalid.all()


def test_free_form_dates_with_a_year_still_parse():
    parsed = parse_timestamps(_text("March 3rd, 2024 10am"))
    assert parsed.values.iloc[0] == T("2024-03-03 10:00")


def test_parsing_does_not_depend_on_the_index():
    values = pd.Series(["2/24/2015 11:35", "oops", "2015-02-25"], index=[10, 5, 7], dtype=object)
    parsed = parse_timestamps(values)
    assert parsed.values.index.tolist() == [10, 5, 7]
    assert parsed.values.loc[10] == T("2015-02-24 11:35")
    assert parsed.invalid.loc[5]
    assert parsed.values.loc[7] == T("2015-02-25")


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12.0),
        ("-3.5", -3.5),
        ("1,234.50", 1234.5),
        ("1.234,56", 1234.56),
        ("12,50", 12.5),
        ("$19.99", 19.99),
        ("19.99€", 19.99),
        ("£5", 5.0),
        ("45%", 45.0),
        ("1 234 567", 1234567.0),
        (" 7 ", 7.0),
    ],
)
def test_numbers_from_text(raw, expected):
    parsed = parse_numbers(_text(raw))
    assert parsed.values.iloc[0] == pytest.approx(expected)
    assert not parsed.invalid.iloc[0]


def test_non_numbers_are_invalid_but_missing_is_not():
    parsed = parse_numbers(_text("abc", "", None, "n/a", "inf", "12"))
    assert parsed.invalid.tolist() == [True, False, False, False, True, False]
    assert parsed.values.iloc[-1] == 12.0


def test_numeric_and_boolean_columns():
    assert parse_numbers(pd.Series([1, 2])).values.tolist() == [1.0, 2.0]
    assert parse_numbers(pd.Series([True, False])).values.tolist() == [1.0, 0.0]


# --------------------------------------------------------------------------- booleans, ids


def test_booleans():
    parsed = parse_booleans(_text("yes", "No", "1", "0", "TRUE", "churned", "active", "", "maybe"))
    assert parsed.values.tolist()[:7] == [True, False, True, False, True, True, False]
    assert parsed.values.isna().tolist()[7:] == [True, True]
    assert parsed.invalid.tolist() == [False] * 8 + [True]


def test_clean_ids_drop_float_suffix_and_trim():
    assert clean_ids(pd.Series([17.0, 3.5, None])).tolist() == ["17", "3.5", pd.NA]
    assert clean_ids(_text(" a1 ", "b2")).tolist() == ["a1", "b2"]
    assert clean_ids(pd.Series([1, 2])).tolist() == ["1", "2"]


def test_is_missing():
    values = _text("x", "", "  ", None, float("nan"), "NULL", "n/a", "-", "0")
    assert is_missing(values).tolist() == [False, True, True, True, True, True, True, True, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,234", 1234.0), ("12,5", 12.5), ("3,14159", 3.14159), ("1,234,567.8", 1234567.8)],
)
def test_a_single_comma_before_three_digits_is_a_thousands_separator(text, expected):
    assert parse_numbers(pd.Series([text])).values.iloc[0] == pytest.approx(expected)


def test_clean_ids_keeps_infinite_and_huge_floats_as_text():
    values = pd.Series([None, float("inf"), float("-inf"), 17.0, 1e300, 2.5])
    assert clean_ids(values).tolist() == [pd.NA, "inf", "-inf", "17", "1e+300", "2.5"]
