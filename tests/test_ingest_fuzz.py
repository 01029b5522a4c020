"""Property tests: whatever the bytes, ingestion returns a table or raises IngestError, and every
row read is accounted for."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import ingest
from analysis.schema import KINDS, IngestError

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: For the properties that run guess_mapping and prepare for every kind on each example.
FUZZ_SLOW = settings(FUZZ, max_examples=100)

DELIMITERS = [",", ";", "\t", "|"]
FILENAMES = [None, "data.csv", "data.tsv", "data.txt", "data.json", "data.jsonl", "data.xlsx",
             "data.parquet", "data.csv.gz"]

# Cells mix ordinary text, numbers, dates, quotes, delimiters and blanks.
cell_text = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12),
    st.text(alphabet='ab,;|\t"\' \n\r-:/.01é€', max_size=8),
    st.sampled_from(["", " ", "NA", "null", "-", "0", "10", "11", "3.5", "1,5", "abc", "nps",
                     "2024-01-01", "2024-01-01T10:00:00+02:00", "2/24/2015 11:35",
                     "24/02/2015", "1700000000", "12:30", "yes", "no", '"', '""']),
    st.integers(-10**12, 10**13).map(str),
)
header_names = st.one_of(
    st.sampled_from(["customer_id", "user", "client_id", "visitor", "event", "action", "page",
                     "date", "time", "ts", "created_at", "timestamp", "channel", "stage",
                     "revenue", "amount", "text", "comment", "score", "rating", "scale",
                     "category", "duration", "churned", "", " ", "_x", "a", "a_2"]),
    cell_text,
)


def _encode_cell(value: str, delim: str, quote: bool) -> str:
    if quote:
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def delimited_files(draw) -> tuple[bytes, str | None]:
    delim = draw(st.sampled_from(DELIMITERS))
    n_cols = draw(st.integers(1, 6))
    header = draw(st.lists(header_names, min_size=n_cols, max_size=n_cols))
    n_rows = draw(st.integers(0, 8))
    rows = []
    for _ in range(n_rows):
        # Mostly well-formed rows, some short or long (ragged).
        width = draw(st.one_of(st.just(n_cols), st.integers(0, n_cols + 3)))
        rows.append(draw(st.lists(cell_text, min_size=width, max_size=width)))
    quote_all = draw(st.booleans())
    raw_quotes = draw(st.booleans())  # write cells raw: stray quotes and delimiters stay unescaped
    line_end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    for row in [header, *rows]:
        if raw_quotes:
            lines.append(delim.join(row))
        else:
            buffer = io.StringIO()
            csv.writer(
                buffer, delimiter=delim, lineterminator="",
                quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
            ).writerow(row)
            lines.append(buffer.getvalue())
    text = line_end.join(lines) + draw(st.sampled_from(["", line_end, line_end * 3]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    raw = text.encode(encoding, errors="replace")
    if draw(st.booleans()) and draw(st.booleans()):
        raw = gzip.compress(raw)
    filename = draw(st.sampled_from([None, "x.csv", "x.tsv", "x.txt"]))
    return raw, filename


def _read_or_error(raw: bytes, filename: str | None) -> pd.DataFrame | None:
    try:
        df = ingest.read_table(raw, filename=filename)
    except IngestError as error:
        assert str(error)  # always says something
        return None
    assert isinstance(df, pd.DataFrame)
    assert df.shape[1] > 0
    assert df.columns.is_unique
    assert all(isinstance(c, str) for c in df.columns)
    return df


def _assert_prepare_accounts_for_every_row(df: pd.DataFrame) -> None:
    rows_expected = len(df) + len(df.attrs.get("bad_lines") or [])
    for kind in KINDS:
        before = df.copy(deep=True)
        try:
            mapping = ingest.guess_mapping(df, kind)
            result = ingest.prepare(df, mapping, kind)
        except IngestError as error:
            assert str(error)
            continue
        finally:
            pd.testing.assert_frame_equal(df, before)
        report = result.report
        assert report.rows_read == rows_expected
        assert report.rows_read == report.rows_imported + report.rows_quarantined
        assert len(result.data) + len(result.quarantine) == report.rows_read
        assert sum(report.reasons.values()) == report.rows_quarantined
        assert {"_row", "_reason"} <= set(result.quarantine.columns)
        assert result.quarantine["_reason"].notna().all()
        if "timestamp" in report.mapping:
            assert result.data["timestamp"].notna().all()
            assert result.data["timestamp"].dt.tz is None
        json.dumps(report.to_dict(), default=str)


@FUZZ
@given(raw=st.binary(max_size=600), filename=st.sampled_from(FILENAMES))
def test_random_bytes_give_a_table_or_an_ingest_error(raw, filename):
    df = _read_or_error(raw, filename)
    if df is not None:
        _assert_prepare_accounts_for_every_row(df)


@FUZZ
@given(
    prefix=st.sampled_from([b"PAR1", b"PK\x03\x04", b"\x1f\x8b", b"\xff\xfe", b"\xfe\xff",
                            b"\xef\xbb\xbf", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"[", b"{"]),
    rest=st.binary(max_size=300),
    filename=st.sampled_from(FILENAMES),
)
def test_random_bytes_behind_magic_numbers(prefix, rest, filename):
    df = _read_or_error(prefix + rest, filename)
    if df is not None:
        _assert_prepare_accounts_for_every_row(df)


@FUZZ_SLOW
@given(delimited_files())
def test_random_csv_shapes(file):
    raw, filename = file
    df = _read_or_error(raw, filename)
    if df is not None:
        _assert_prepare_accounts_for_every_row(df)


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
        | st.text(max_size=8),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6), children, max_size=4),
        max_leaves=20,
    ),
    st.sampled_from(["data.json", "data.jsonl", None]),
)
def test_random_json(payload, filename):
    raw = json.dumps(payload).encode()
    df = _read_or_error(raw, filename)
    if df is not None:
        _assert_prepare_accounts_for_every_row(df)


# --------------------------------------------------------------------------- valid events

ids = st.text(alphabet="abcdefghij0123456789-_", min_size=1, max_size=8).filter(
    lambda s: s.lower() not in {"na", "nan", "none", "null", "nat", "n/a", "-"}
)
touchpoints = st.sampled_from(["Home", "Search", "Cart", "Checkout", "Café", "Call centre",
                               "Store visit", "Email click", "Cancel"])
timestamps = st.datetimes(
    min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2100-01-01").to_pydatetime(),
).map(lambda d: pd.Timestamp(d).floor("ms"))
event_rows = st.lists(st.tuples(ids, timestamps, touchpoints), min_size=1, max_size=30)


@FUZZ
@given(
    rows=event_rows,
    iso_style=st.sampled_from(["T", " ", "Z", "+00:00"]),
    delim=st.sampled_from(DELIMITERS),
)
def test_valid_events_are_all_imported_with_their_timestamps(rows, iso_style, delim):
    def iso(ts: pd.Timestamp) -> str:
        text = ts.isoformat(sep="T" if iso_style != " " else " ", timespec="milliseconds")
        return text + ("Z" if iso_style == "Z" else "+00:00" if iso_style == "+00:00" else "")

    lines = [delim.join(["user", "event", "created_at"])]
    lines += [delim.join([cid, tp, iso(ts)]) for cid, ts, tp in rows]
    df = ingest.read_table(("\n".join(lines) + "\n").encode(), filename="events.csv")
    mapping = ingest.guess_mapping(df, "events")
    assert mapping.as_dict() == {
        "customer_id": "user", "timestamp": "created_at", "touchpoint": "event",
    }
    result = ingest.prepare(df, mapping, "events")
    assert result.report.rows_imported == len(rows)
    assert result.quarantine.empty
    expected = (
        pd.DataFrame(rows, columns=["customer_id", "timestamp", "touchpoint"])
        .sort_values(["customer_id", "timestamp"], kind="stable")
        .reset_index(drop=True)
    )
    got = result.data
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()
    assert got["timestamp"].tolist() == expected["timestamp"].tolist()
    assert got["touchpoint"].astype(str).tolist() == expected["touchpoint"].tolist()


@FUZZ
@given(rows=event_rows, offset_hours=st.integers(-12, 14))
def test_offsets_convert_to_the_same_utc_instant(rows, offset_hours):
    offset = pd.Timedelta(hours=offset_hours)
    sign = "+" if offset_hours >= 0 else "-"
    suffix = f"{sign}{abs(offset_hours):02d}:00"
    df = pd.DataFrame(
        {
            "customer_id": [cid for cid, _, _ in rows],
            "timestamp": [(ts + offset).isoformat(timespec="milliseconds") + suffix
                          for _, ts, _ in rows],
            "touchpoint": [tp for _, _, tp in rows],
        }
    )
    result = ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")
    assert result.report.rows_imported == len(rows)
    assert sorted(result.data["timestamp"].tolist()) == sorted(ts for _, ts, _ in rows)


# --------------------------------------------------------------------------- frames passed in

FRAME_COLUMNS = ["customer_id", "user", "event", "page", "ts", "date", "time", "revenue",
                 "score", "rating", "scale", "text", "comment", "category", "duration",
                 "churned", "channel", "stage", "x", "_y"]
some_datetimes = st.datetimes(
    min_value=pd.Timestamp("1800-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2260-01-01").to_pydatetime(),
)


def _column(n: int) -> st.SearchStrategy[pd.Series]:
    def sized(elements):
        return st.lists(elements, min_size=n, max_size=n)

    return st.one_of(
        sized(st.one_of(st.none(), st.floats())).map(lambda v: pd.Series(v, dtype="float64")),
        sized(st.integers(-(10**13), 10**13)).map(lambda v: pd.Series(v, dtype="int64")),
        sized(st.booleans()).map(lambda v: pd.Series(v, dtype=bool)),
        sized(st.one_of(st.none(), cell_text, st.integers())).map(
            lambda v: pd.Series(v, dtype=object)
        ),
        sized(cell_text).map(lambda v: pd.Series(v, dtype="string")),
        sized(cell_text).map(lambda v: pd.Series(v, dtype="category")),
        sized(some_datetimes).map(lambda v: pd.Series(pd.to_datetime(v))),
        sized(some_datetimes).map(
            lambda v: pd.Series(pd.to_datetime(v)).dt.tz_localize(
                "Europe/Amsterdam", ambiguous="NaT", nonexistent="NaT"
            )
        ),
    )


@st.composite
def typed_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 6))
    names = draw(st.lists(st.sampled_from(FRAME_COLUMNS), min_size=1, max_size=6, unique=True))
    return pd.DataFrame({name: draw(_column(n)).reset_index(drop=True) for name in names})


@FUZZ_SLOW
@given(typed_frames())
def test_frames_of_any_dtype(df):
    _assert_prepare_accounts_for_every_row(df)
