"""Ingestion: reading every format and encoding, guessing the mapping, coercing, quarantine.

Tiny hand-checkable tables, plus the two real files in ../shared/datasets.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import time

import pandas as pd
import pytest

from analysis import ingest
from analysis.schema import AnalysisError, ColumnMapping, IngestError, MappingError

T = pd.Timestamp

EVENTS = pd.DataFrame(
    {
        "customer_id": ["a1", "a1", "b2"],
        "timestamp": ["2024-01-01 10:00:00", "2024-01-01 10:05:00", "2024-01-02 09:00:00"],
        "touchpoint": ["Home", "Café", "Checkout"],
    }
)
EVENT_COLUMNS = ["customer_id", "timestamp", "touchpoint"]


def _delimited(delim: str, rows: list[list[str]] | None = None) -> str:
    rows = rows or [EVENT_COLUMNS, *EVENTS.astype(str).values.tolist()]
    return "".join(delim.join(row) + "\n" for row in rows)


def _assert_events_table(df: pd.DataFrame) -> None:
    assert list(df.columns) == EVENT_COLUMNS
    assert df.astype(str).values.tolist() == EVENTS.values.tolist()


def _prepare_events(df: pd.DataFrame) -> ingest.IngestResult:
    return ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")


def _assert_report_adds_up(result: ingest.IngestResult) -> None:
    report = result.report
    assert report.rows_read == report.rows_imported + report.rows_quarantined
    assert report.rows_imported == len(result.data)
    assert report.rows_quarantined == len(result.quarantine)
    assert sum(report.reasons.values()) == report.rows_quarantined
    if len(result.quarantine):
        assert result.quarantine["_reason"].notna().all()
        assert (result.quarantine["_reason"].str.len() > 0).all()
        assert result.quarantine["_reason"].value_counts().to_dict() == report.reasons


# =========================================================================== formats


@pytest.mark.parametrize(
    ("delim", "filename", "fmt"),
    [
        (",", "events.csv", "csv"),
        ("\t", "events.tsv", "tsv"),
        (";", "events.csv", "csv"),
        ("|", "events.txt", "csv"),
        ("\t", "export.txt", "tsv"),
    ],
)
def test_delimited_text(delim, filename, fmt):
    df = ingest.read_table(_delimited(delim).encode(), filename=filename)
    _assert_events_table(df)
    assert df.attrs["delimiter"] == delim
    assert df.attrs["format"] == fmt
    assert df.attrs["encoding"] == "utf-8"
    assert df.attrs["bad_lines"] == []


def test_semicolon_csv_with_decimal_commas():
    text = (
        "customer_id;timestamp;touchpoint;revenue\n"
        "a1;2024-01-01;Buy;12,50\n"
        "b2;2024-01-02;Buy;3\n"
    )
    df = ingest.read_table(text.encode(), filename="orders.csv")
    assert df.attrs["delimiter"] == ";"
    result = _prepare_events(df)
    assert result.data["revenue"].tolist() == [12.5, 3.0]


def test_quoted_fields_keep_their_delimiters():
    text = 'customer_id,timestamp,touchpoint\na1,2024-01-01,"Home, then ""Cart"""\n'
    df = ingest.read_table(text.encode())
    assert df["touchpoint"].tolist() == ['Home, then "Cart"']


def test_text_is_read_as_strings():
    df = ingest.read_table(b"customer_id,zip,amount\n007,01234,1.50\n")
    assert df.iloc[0].tolist() == ["007", "01234", "1.50"]


def test_parquet(tmp_path):
    path = tmp_path / "events.parquet"
    EVENTS.to_parquet(path)
    df = ingest.read_table(path)
    _assert_events_table(df)
    assert df.attrs["format"] == "parquet"
    assert df.attrs["encoding"] is None


def test_parquet_keeps_types_and_converts_tz_aware():
    frame = EVENTS.assign(
        timestamp=pd.to_datetime(EVENTS["timestamp"]).dt.tz_localize("Europe/Amsterdam"),
        revenue=[1.5, None, 3.0],
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    df = ingest.read_table(buffer.getvalue(), filename="x.parquet")
    result = _prepare_events(df)
    assert result.data["timestamp"].tolist() == [
        T("2024-01-01 09:00"),
        T("2024-01-01 09:05"),
        T("2024-01-02 08:00"),
    ]
    assert result.data["revenue"].fillna(-1).tolist() == [1.5, -1, 3.0]


def test_excel_xlsx():
    buffer = io.BytesIO()
    EVENTS.to_excel(buffer, index=False, engine="openpyxl")
    df = ingest.read_table(buffer.getvalue(), filename="events.xlsx")
    _assert_events_table(df)
    assert df.attrs["format"] == "excel"


def test_excel_with_real_dates(tmp_path):
    path = tmp_path / "events.xlsx"
    EVENTS.assign(timestamp=pd.to_datetime(EVENTS["timestamp"])).to_excel(path, index=False)
    result = _prepare_events(ingest.read_table(path))
    assert result.data["timestamp"].tolist() == [
        T("2024-01-01 10:00"),
        T("2024-01-01 10:05"),
        T("2024-01-02 09:00"),
    ]


def test_json_array_of_records():
    raw = json.dumps(EVENTS.to_dict(orient="records")).encode()
    df = ingest.read_table(raw, filename="events.json")
    _assert_events_table(df)
    assert df.attrs["format"] == "json"


def test_json_object_holding_records():
    raw = json.dumps({"meta": {"n": 3}, "events": EVENTS.to_dict(orient="records")}).encode()
    _assert_events_table(ingest.read_table(raw, filename="export.json"))


def test_json_without_extension_is_sniffed():
    raw = json.dumps(EVENTS.to_dict(orient="records"), indent=2).encode()
    _assert_events_table(ingest.read_table(raw))


def test_json_lines():
    raw = "\n".join(json.dumps(r) for r in EVENTS.to_dict(orient="records")).encode()
    _assert_events_table(ingest.read_table(raw, filename="events.jsonl"))
    _assert_events_table(ingest.read_table(raw + b"\n\n", filename="events.ndjson"))


def test_json_nested_values_become_columns_or_text():
    raw = json.dumps([{"id": "a", "props": {"plan": "pro"}, "tags": ["x", "y"]}]).encode()
    df = ingest.read_table(raw, filename="x.json")
    assert df.iloc[0].to_dict() == {"id": "a", "props.plan": "pro", "tags": '["x", "y"]'}


def test_gzip_csv():
    raw = gzip.compress(_delimited(",").encode())
    df = ingest.read_table(raw, filename="events.csv.gz")
    _assert_events_table(df)
    assert df.attrs["filename"] == "events.csv"


# --------------------------------------------------------------------------- encodings


def test_utf8():
    df = ingest.read_table(_delimited(",").encode("utf-8"))
    assert df.attrs["encoding"] == "utf-8"
    assert df["touchpoint"].tolist()[1] == "Café"


def test_utf8_bom_stays_out_of_the_first_column_name():
    df = ingest.read_table(b"\xef\xbb\xbf" + _delimited(",").encode("utf-8"))
    assert df.columns[0] == "customer_id"
    assert df.attrs["encoding"] == "utf-8-sig"
    _assert_events_table(df)
    mapping = ingest.guess_mapping(df, "events")
    assert mapping.customer_id == "customer_id"


def test_utf8_bom_json():
    raw = b"\xef\xbb\xbf" + json.dumps(EVENTS.to_dict(orient="records")).encode()
    _assert_events_table(ingest.read_table(raw, filename="x.json"))


def test_latin1():
    df = ingest.read_table(_delimited(",").encode("latin-1"))
    assert df.attrs["encoding"] in ("latin-1", "cp1252")
    assert df["touchpoint"].tolist()[1] == "Café"


def test_cp1252_special_characters():
    text = "customer_id,note\na1,“Café” – 5 €\n"
    df = ingest.read_table(text.encode("cp1252"))
    assert df.attrs["encoding"] == "cp1252"
    assert df["note"].tolist() == ["“Café” – 5 €"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(codec):
    text = _delimited("\t")
    raw = text.encode("utf-16") if codec == "utf-16" else (
        ("\ufeff" + text).encode(codec)
    )
    df = ingest.read_table(raw, filename="events.txt")
    assert df.attrs["encoding"] == "utf-16"
    assert df.columns[0] == "customer_id"
    _assert_events_table(df)


# --------------------------------------------------------------------------- sources


def test_read_from_path_str_and_pathlib(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(_delimited(",").encode())
    for source in (path, str(path)):
        df = ingest.read_table(source)
        _assert_events_table(df)
        assert df.attrs["filename"] == "events.csv"


def test_read_from_bytes_and_bytearray():
    for source in (_delimited(",").encode(), bytearray(_delimited(",").encode())):
        df = ingest.read_table(source)
        _assert_events_table(df)
        assert df.attrs["filename"] == "upload"


def test_read_from_binary_file_object_with_filename():
    buffer = io.BytesIO(_delimited("\t").encode())
    buffer.read(5)  # an upload that was read before must be read from the start again
    df = ingest.read_table(buffer, filename="export.tsv")
    _assert_events_table(df)
    assert df.attrs["filename"] == "export.tsv"
    assert df.attrs["format"] == "tsv"


def test_read_from_open_file(tmp_path):
    path = tmp_path / "events.parquet"
    EVENTS.to_parquet(path)
    with path.open("rb") as handle:
        _assert_events_table(ingest.read_table(handle))


def test_filename_hint_for_json_lines_in_file_object():
    raw = "\n".join(json.dumps(r) for r in EVENTS.to_dict(orient="records")).encode()
    _assert_events_table(ingest.read_table(io.BytesIO(raw), filename="upload.jsonl"))


# =========================================================================== real files


def test_airline_sentiment_reads_all_rows(airline_raw):
    assert len(airline_raw) == 14_640
    assert airline_raw.attrs["encoding"] in ("latin-1", "cp1252")
    assert airline_raw.attrs["bad_lines"] == []
    assert airline_raw.columns[0] == "_unit_id"


def test_airline_sentiment_mapping(airline_raw):
    mapping = ingest.guess_mapping(airline_raw, "feedback")
    assert mapping.text == "text"
    assert mapping.timestamp == "tweet_created"
    assert mapping.touchpoint == "airline"
    assert mapping.category == "negativereason"
    assert len(set(mapping.values())) == len(mapping)


def test_airline_sentiment_prepare(airline_raw):
    mapping = ingest.guess_mapping(airline_raw, "feedback")
    result = ingest.prepare(airline_raw, mapping, "feedback")
    data = result.data
    assert result.report.rows_read == 14_640
    assert result.report.rows_imported == 14_640
    assert result.report.rows_quarantined == 0
    assert data["timestamp"].iloc[0] == T("2015-02-24 11:35")
    assert data["text"].iloc[0] == "@VirginAmerica What @dhepburn said."
    assert data["category"].value_counts().to_dict() == {
        "Customer Service Issue": 2910,
        "Late Flight": 1665,
        "Can't Tell": 1190,
        "Cancelled Flight": 847,
        "Lost Luggage": 724,
        "Bad Flight": 580,
        "Flight Booking Problems": 529,
        "Flight Attendant Complaints": 481,
        "longlines": 178,
        "Damaged Luggage": 74,
    }
    assert data["airline_sentiment"].value_counts().to_dict() == {
        "negative": 9178,
        "neutral": 3099,
        "positive": 2363,
    }
    assert set(data["touchpoint"].cat.categories) == {
        "American", "Delta", "Southwest", "US Airways", "United", "Virgin America",
    }
    assert data["timestamp"].min() >= T("2015-02-16")
    assert data["timestamp"].max() < T("2015-02-25")
    _assert_report_adds_up(result)


def test_receipt_log_mapping(receipt_raw):
    mapping = ingest.guess_mapping(receipt_raw, "events")
    assert mapping.customer_id == "case:concept:name"
    assert mapping.touchpoint == "concept:name"
    assert mapping.timestamp == "time:timestamp"
    assert mapping.channel == "case:channel"


def test_receipt_log_prepare(receipt_raw):
    result = ingest.prepare(receipt_raw, ingest.guess_mapping(receipt_raw, "events"), "events")
    data = result.data
    assert result.report.rows_read == 8_577
    assert result.report.rows_imported == 8_577
    assert result.report.rows_quarantined == 0
    assert result.report.customers == 1_434
    assert data["customer_id"].nunique() == 1_434
    assert data["touchpoint"].nunique() == 27
    assert data["timestamp"].dt.tz is None

    case = data[data["customer_id"] == "case-10011"]
    first = case[case["touchpoint"] == "Confirmation of receipt"]
    assert first["timestamp"].tolist() == [T("2011-10-11 11:45:40.276")]  # was +02:00
    t03 = case[case["touchpoint"].astype(str).str.startswith("T03")]
    assert T("2011-11-24 14:36:51.302") in t03["timestamp"].tolist()  # was +01:00

    counts = data["touchpoint"].astype(str).value_counts()
    published = {
        "Confirmation of receipt": 1434,
        "T06": 1416,
        "T02": 1368,
        "T04": 1307,
        "T05": 1300,
        "T10": 1283,
        "T03": 55,
        "T07-1": 45,
    }
    for prefix, expected in published.items():
        matching = counts[[re.match(rf"{re.escape(prefix)}(\s|$)", n) is not None
                           for n in counts.index]]
        assert len(matching) == 1, prefix
        assert int(matching.iloc[0]) == expected, prefix
    _assert_report_adds_up(result)


def test_receipt_log_events_sorted_per_customer(receipt_raw):
    data = _prepare_events(receipt_raw).data
    assert data["customer_id"].is_monotonic_increasing
    assert data.groupby("customer_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing).all()


# =========================================================================== mapping


@pytest.mark.parametrize(
    "name", ["user", "client_id", "visitor", "customer_id", "case:concept:name"]
)
def test_customer_id_synonyms(name):
    df = pd.DataFrame({name: ["u1", "u2"], "event": ["a", "b"], "date": ["2024-01-01"] * 2})
    assert ingest.guess_mapping(df, "events").customer_id == name


@pytest.mark.parametrize("name", ["event", "action", "page", "touchpoint", "Event Name"])
def test_touchpoint_synonyms(name):
    df = pd.DataFrame({"user_id": ["u1", "u2"], name: ["a", "b"], "ts": ["2024-01-01"] * 2})
    assert ingest.guess_mapping(df, "events").touchpoint == name


@pytest.mark.parametrize("name", ["date", "time", "ts", "created_at", "Timestamp"])
def test_timestamp_synonyms(name):
    df = pd.DataFrame({"user": ["u1", "u2"], "page": ["a", "b"], name: ["2024-01-01", "3/4/2024"]})
    assert ingest.guess_mapping(df, "events").timestamp == name


@pytest.mark.parametrize("values", [["fast", "slow"], ["12", "35"], ["12:30", "13:45"]])
def test_time_column_without_dates_is_not_the_timestamp(values):
    df = pd.DataFrame(
        {"user": ["u1", "u2"], "page": ["a", "b"], "time": values,
         "when": ["2024-01-01 10:00", "2024-01-02 11:00"]}
    )
    mapping = ingest.guess_mapping(df, "events")
    assert mapping.timestamp == "when"
    result = ingest.prepare(df, mapping, "events")
    assert result.data["time"].tolist() == values  # kept as an attribute


def test_time_column_without_dates_and_no_other_dates():
    df = pd.DataFrame({"user": ["u1"], "page": ["a"], "time": ["12:30"]})
    mapping = ingest.guess_mapping(df, "events")
    assert mapping.timestamp is None
    with pytest.raises(MappingError, match="timestamp"):
        ingest.prepare(df, mapping, "events")


def test_a_source_column_is_never_used_twice():
    # screen_name is a synonym of both customer_id and touchpoint.
    df = pd.DataFrame({"screen_name": ["a", "b"], "ts": ["2024-01-01", "2024-01-02"]})
    mapping = ingest.guess_mapping(df, "events")
    assert list(mapping.values()).count("screen_name") == 1
    # "event" names both a touchpoint and (for customers tables) a churn flag.
    df = pd.DataFrame({"user": ["a", "b"], "event": ["1", "0"], "duration": ["3", "4"]})
    mapping = ingest.guess_mapping(df, "customers")
    assert mapping.as_dict() == {"customer_id": "user", "duration": "duration", "churned": "event"}


def test_content_fallback_finds_unnamed_timestamp_and_text():
    df = pd.DataFrame(
        {"who": ["a", "b"], "x": ["2024-01-01 10:00", "2024-01-02 10:00"],
         "blob": ["The checkout page kept timing out on me.", "Support never called me back!"]}
    )
    mapping = ingest.guess_mapping(df, "feedback")
    assert mapping.timestamp == "x"
    assert mapping.text == "blob"


def test_score_and_revenue_need_numbers():
    df = pd.DataFrame(
        {"user": ["a", "b"], "date": ["2024-01-01"] * 2, "rating": ["good", "bad"],
         "comment": ["ok", "meh"]}
    )
    mapping = ingest.guess_mapping(df, "feedback")
    assert mapping.score is None
    assert mapping.text == "comment"


def test_guess_mapping_unknown_kind():
    with pytest.raises(MappingError, match="kind"):
        ingest.guess_mapping(EVENTS, "orders")


def test_extra_columns_become_attributes():
    df = EVENTS.assign(segment=["gold", "gold", "basic"], region=["EU", None, "US"])
    result = _prepare_events(df)
    assert result.report.attributes == ["segment", "region"]
    assert result.data.columns.tolist() == [*EVENT_COLUMNS, "event_seq", "segment", "region"]
    assert result.data["segment"].tolist() == ["gold", "gold", "basic"]
    assert result.data["region"].isna().tolist() == [False, True, False]


def test_attribute_names_do_not_clash_with_canonical_ones():
    df = pd.DataFrame(
        {"user": ["a"], "page": ["Home"], "when": ["2024-01-01"], "timestamp": ["later"],
         "_secret": ["x"]}
    )
    mapping = {"customer_id": "user", "touchpoint": "page", "timestamp": "when"}
    result = ingest.prepare(df, mapping, "events")
    assert result.data["timestamp"].tolist() == [T("2024-01-01")]
    assert result.data["timestamp_attr"].tolist() == ["later"]
    assert result.data["secret"].tolist() == ["x"]


def test_prepare_accepts_a_dict_and_a_mapping_of_another_kind():
    mapping = {"customer_id": "customer_id", "timestamp": "timestamp", "touchpoint": "touchpoint"}
    by_dict = ingest.prepare(EVENTS, mapping, "events")
    by_mapping = ingest.prepare(EVENTS, ColumnMapping.from_dict("events", mapping), "events")
    pd.testing.assert_frame_equal(by_dict.data, by_mapping.data)
    assert by_dict.report.mapping == mapping


def test_categorical_columns_from_parquet():
    frame = pd.DataFrame(
        {
            "user": pd.Categorical(["a", "b", "c"]),
            "page": pd.Categorical(["Home", "Cart", None]),
            "ts": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "rating": pd.Categorical([5, 3, None]),
            "scale": pd.Categorical(["csat", "csat", None]),
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    df = ingest.read_table(buffer.getvalue(), filename="x.parquet")
    assert isinstance(df["scale"].dtype, pd.CategoricalDtype)
    before = df.copy(deep=True)
    events = _prepare_events(df)
    assert events.data["customer_id"].tolist() == ["a", "b"]
    assert events.report.reasons == {"missing touchpoint": 1}
    feedback = ingest.prepare(df, ingest.guess_mapping(df, "feedback"), "feedback")
    assert feedback.data["score"].tolist() == [5.0, 3.0]
    assert feedback.data["scale"].tolist() == ["csat", "csat"]
    assert feedback.report.reasons == {"no text and no score": 1}
    pd.testing.assert_frame_equal(df, before)


def test_frames_with_repeated_column_names_are_refused():
    df = pd.DataFrame([["a", "2024-01-01", "x", "y"]], columns=["user", "ts", "page", "page"])
    with pytest.raises(IngestError, match="more than one column named 'page'"):
        ingest.guess_mapping(df, "events")
    with pytest.raises(IngestError, match="'page'"):
        ingest.prepare(df, {"customer_id": "user", "timestamp": "ts", "touchpoint": "page"},
                       "events")


def test_many_malformed_rows_stay_fast():
    # pandas deep-copies df.attrs (holding the malformed rows) into every derived object.
    lines = ["customer_id,timestamp,touchpoint"]
    lines += [f"c{i},2024-01-01 10:00,Home" + (",x" if i % 2 else "") for i in range(20_000)]
    df = ingest.read_table(("\n".join(lines) + "\n").encode())
    assert len(df.attrs["bad_lines"]) == 10_000
    start = time.perf_counter()
    result = _prepare_events(df)
    assert time.perf_counter() - start < 2.0
    assert result.report.rows_read == 20_000
    assert result.report.rows_imported == 10_000
    _assert_report_adds_up(result)


def test_prepare_accepts_polars():
    pl = pytest.importorskip("polars")
    result = _prepare_events(pl.from_pandas(EVENTS))
    assert result.data["customer_id"].tolist() == ["a1", "a1", "b2"]


# =========================================================================== dates through prepare


def test_timestamps_in_every_supported_shape():
    df = pd.DataFrame(
        {
            "user": list("abcdefgh"),
            "page": ["p"] * 8,
            "ts": [
                "2015-02-24T11:35:00",
                "2015-02-24T11:35:00Z",
                "2015-02-24T12:35:00+01:00",
                "2015-02-24T13:35:00+02:00",
                "2/24/2015 11:35",
                "1424777700",
                "1424777700000",
                "2015-02-24 11:35",
            ],
        }
    )
    result = _prepare_events(df)
    assert result.data["timestamp"].tolist() == [T("2015-02-24 11:35")] * 8
    assert result.report.first_timestamp == "2015-02-24 11:35:00"


def test_day_first_column_through_prepare():
    df = pd.DataFrame(
        {"user": ["a", "b"], "page": ["p", "q"], "date": ["01/03/2024 10:00", "24/02/2015 18:30"]}
    )
    result = _prepare_events(df)
    assert result.data.set_index("customer_id")["timestamp"].to_dict() == {
        "a": T("2024-03-01 10:00"),
        "b": T("2015-02-24 18:30"),
    }


def test_numeric_epoch_column():
    df = pd.DataFrame({"user": ["a", "b"], "page": ["p", "q"], "ts": [1424777700, 1424777700000]})
    result = _prepare_events(df)
    assert result.data["timestamp"].tolist() == [T("2015-02-24 11:35")] * 2


def test_unparseable_timestamps_are_quarantined():
    df = pd.DataFrame(
        {"user": ["a", "b", "c"], "page": ["p", "q", "r"],
         "date": ["2024-01-01", "yesterday-ish", "2024-01-03"]}
    )
    result = ingest.prepare(df, {"customer_id": "user", "touchpoint": "page", "timestamp": "date"},
                            "events")
    assert result.data["customer_id"].tolist() == ["a", "c"]
    assert result.quarantine["_reason"].tolist() == ["unparseable timestamp"]
    assert result.quarantine["_row"].tolist() == [2]
    assert result.quarantine["date"].tolist() == ["yesterday-ish"]
    assert result.report.examples["unparseable timestamp"] == [{"row": 2, "value": "yesterday-ish"}]
    _assert_report_adds_up(result)


# =========================================================================== quarantine

EVENTS_MAP = {"customer_id": "user", "timestamp": "ts", "touchpoint": "page", "revenue": "amount"}


def test_event_quarantine_reasons_and_examples():
    df = pd.DataFrame(
        {
            "user": ["a", "", "c", "d", "e", "f", None],
            "ts": ["2024-01-01", "2024-01-02", "2024-01-03", "soon", "2024-01-05", "", "x"],
            "page": ["Home", "Home", None, "Home", "Cart", "Cart", "Cart"],
            "amount": ["10", "5", "1", "2", "ten", "3", "4"],
        }
    )
    result = ingest.prepare(df, EVENTS_MAP, "events")
    q = result.quarantine
    assert result.data["customer_id"].tolist() == ["a"]
    assert result.data["revenue"].tolist() == [10.0]
    assert q["_row"].tolist() == [2, 3, 4, 5, 6, 7]
    assert q["_reason"].tolist() == [
        "missing customer_id",
        "missing touchpoint",
        "unparseable timestamp",
        "revenue is not a number",
        "missing timestamp",
        "missing customer_id",
    ]
    assert result.report.reasons == {
        "missing customer_id": 2,
        "missing touchpoint": 1,
        "unparseable timestamp": 1,
        "revenue is not a number": 1,
        "missing timestamp": 1,
    }
    assert result.report.examples["revenue is not a number"] == [{"row": 5, "value": "ten"}]
    assert result.report.examples["unparseable timestamp"] == [{"row": 4, "value": "soon"}]
    assert result.report.examples["missing customer_id"] == [
        {"row": 2, "value": ""},
        {"row": 7, "value": None},
    ]
    # The quarantine keeps the raw values, as text.
    assert q.loc[q["_row"] == 5, "amount"].tolist() == ["ten"]
    assert result.report.rows_read == 7
    _assert_report_adds_up(result)


FEEDBACK_MAP = {"timestamp": "date", "text": "comment", "score": "rating", "scale": "survey"}


def test_feedback_quarantine_reasons():
    df = pd.DataFrame(
        {
            "date": ["2024-01-01"] * 6,
            "comment": ["great", None, "slow", "ok", "", "fine"],
            "rating": ["9", "7", "11", "abc", None, "3"],
            "survey": ["nps", "NPS", "nps", "nps", "nps", "stars"],
        }
    )
    result = ingest.prepare(df, FEEDBACK_MAP, "feedback")
    assert result.data["text"].tolist() == ["great", pd.NA]
    assert result.data["score"].tolist() == [9.0, 7.0]
    assert result.data["scale"].tolist() == ["nps", "nps"]
    assert result.quarantine["_reason"].tolist() == [
        "score outside the NPS range 0–10",
        "score is not a number",
        "no text and no score",
        "unknown scale (use nps, csat or ces)",
    ]
    assert result.quarantine["_row"].tolist() == [3, 4, 5, 6]
    examples = result.report.examples
    assert examples["score outside the NPS range 0–10"] == [{"row": 3, "value": "11"}]
    assert examples["score is not a number"] == [{"row": 4, "value": "abc"}]
    assert examples["unknown scale (use nps, csat or ces)"] == [{"row": 6, "value": "stars"}]
    _assert_report_adds_up(result)


def test_feedback_with_text_only_needs_text():
    df = pd.DataFrame({"date": ["2024-01-01"] * 3, "comment": ["great", "  ", None]})
    result = ingest.prepare(df, {"timestamp": "date", "text": "comment"}, "feedback")
    assert result.data["text"].tolist() == ["great"]
    assert result.report.reasons == {"no text and no score": 2}
    _assert_report_adds_up(result)


@pytest.mark.parametrize(
    ("scores", "scale", "label"),
    [
        (["1", "3", "5"], "csat", "CSAT (1–5)"),
        (["1", "6", "7"], "ces", "CES (1–7)"),
        (["0", "6", "10"], "nps", "NPS (0–10)"),
    ],
)
def test_scale_inference(scores, scale, label):
    df = pd.DataFrame({"date": ["2024-01-01"] * 3, "rating": scores})
    result = ingest.prepare(df, {"timestamp": "date", "score": "rating"}, "feedback")
    assert result.data["scale"].tolist() == [scale] * 3
    assert result.data["score"].tolist() == [float(s) for s in scores]
    assert result.report.notes == [f"Scale inferred as {label} from the score range."]


def test_scores_that_fit_no_scale_are_kept_without_one():
    df = pd.DataFrame({"date": ["2024-01-01"] * 2, "rating": ["4.5", "85"]})
    result = ingest.prepare(df, {"timestamp": "date", "score": "rating"}, "feedback")
    assert result.data["score"].tolist() == [4.5, 85.0]
    assert result.data["scale"].isna().all()
    assert "no NPS" in result.report.notes[0]


def test_declared_scale_is_checked_per_row():
    df = pd.DataFrame(
        {"date": ["2024-01-01"] * 4, "rating": ["5", "6", "7", "8"],
         "survey": ["csat", "csat", "ces", "ces"]}
    )
    result = ingest.prepare(df, {"timestamp": "date", "score": "rating", "scale": "survey"},
                            "feedback")
    assert result.data["score"].tolist() == [5.0, 7.0]
    assert result.report.reasons == {
        "score outside the CSAT range 1–5": 1,
        "score outside the CES range 1–7": 1,
    }


def test_duplicate_customers_are_quarantined():
    df = pd.DataFrame(
        {"customer": ["a", "b", " a", "c", None], "tenure": ["3", "4", "5", "-1", "2"],
         "churned": ["yes", "no", "yes", "no", "maybe"]}
    )
    result = ingest.prepare(
        df, {"customer_id": "customer", "duration": "tenure", "churned": "churned"}, "customers"
    )
    assert result.data["customer_id"].tolist() == ["a", "b"]
    assert result.data["duration"].tolist() == [3.0, 4.0]
    assert result.data["churned"].tolist() == [True, False]
    assert result.quarantine["_reason"].tolist() == [
        "duplicate customer_id",
        "negative duration",
        "missing customer_id",
    ]
    assert result.report.examples["duplicate customer_id"] == [{"row": 3, "value": " a"}]
    _assert_report_adds_up(result)


def test_ragged_rows_are_quarantined():
    text = (
        "customer_id,timestamp,touchpoint\n"
        "a1,2024-01-01,Home\n"
        "a1,2024-01-02,Cart,EXTRA,MORE\n"
        "b2,2024-01-03,Home\n"
        "c3,2024-01-04\n"
    )
    df = ingest.read_table(text.encode())
    assert len(df) == 3
    assert df.attrs["bad_lines"] == [
        {"fields": 5, "raw": "a1,2024-01-02,Cart,EXTRA,MORE", "line": 3}]
    result = _prepare_events(df)
    assert result.report.rows_read == 4
    assert result.data["customer_id"].tolist() == ["a1", "b2"]
    assert result.report.reasons == {
        "missing touchpoint": 1,
        "malformed row (5 fields, header has 3)": 1,
    }
    malformed = result.quarantine[result.quarantine["_reason"].str.startswith("malformed")]
    assert malformed["_raw_line"].tolist() == ["a1,2024-01-02,Cart,EXTRA,MORE"]
    assert "_row" in malformed
    example = result.report.examples["malformed row (5 fields, header has 3)"][0]
    assert example == {"line": 3, "value": "a1,2024-01-02,Cart,EXTRA,MORE"}
    assert malformed["_line"].tolist() == [3]
    _assert_report_adds_up(result)


def test_file_with_only_malformed_rows_still_reports_them():
    df = ingest.read_table(b"a,b\n1,2,3\n4,5,6\n")
    assert df.empty
    result = ingest.prepare(df, {"customer_id": "a"}, "customers")
    assert result.report.rows_read == 2
    assert result.report.rows_quarantined == 2
    assert len(result.data) == 0
    _assert_report_adds_up(result)


def test_quarantine_has_row_and_reason_columns_even_when_empty():
    result = _prepare_events(EVENTS)
    assert {"_row", "_reason"} <= set(result.quarantine.columns)
    assert result.quarantine.empty
    assert result.report.reasons == {}
    assert result.report.rows_read == 3


def test_report_lines_and_dict():
    df = pd.DataFrame({"user": ["a", "b"], "page": ["p", "q"], "ts": ["2024-01-01", "nope"]})
    mapping = {"customer_id": "user", "touchpoint": "page", "timestamp": "ts"}
    report = ingest.prepare(df, mapping, "events").report
    assert report.lines()[0] == "2 rows read, 1 imported, 1 quarantined."
    assert "row 2: 'nope'" in report.lines()[1]
    assert report.to_dict()["rows_read"] == 2
    json.dumps(report.to_dict())  # the report is serialisable as it is


def test_prepare_does_not_mutate_its_input():
    df = pd.DataFrame(
        {
            "user": [" a ", "b", None, "d"],
            "page": ["Home", "Cart", "Home", None],
            "ts": ["2/24/2015 11:35", "2015-02-24T10:00:00+01:00", "x", "2024-01-01"],
            "amount": ["1,5", "2", "three", None],
            "_private": ["x", "y", "z", "w"],
        },
        index=[10, 11, 12, 13],
    )
    df.attrs["bad_lines"] = [{"fields": 9, "raw": "junk"}]
    before = df.copy(deep=True)
    attrs_before = json.loads(json.dumps(df.attrs))
    result = ingest.prepare(df, EVENTS_MAP, "events")
    pd.testing.assert_frame_equal(df, before)
    assert df.attrs == attrs_before
    assert result.report.rows_read == 5
    _assert_report_adds_up(result)


def test_prepare_does_not_mutate_feedback_or_customers_input():
    feedback = pd.DataFrame(
        {"date": ["2024-01-01"] * 2, "rating": ["5", "1"], "comment": ["a", None]}
    )
    customers = pd.DataFrame({"id": ["a", "a"], "days": ["1", "2"]})
    for df, mapping, kind in (
        (feedback, {"timestamp": "date", "score": "rating", "text": "comment"}, "feedback"),
        (customers, {"customer_id": "id", "duration": "days"}, "customers"),
    ):
        before = df.copy(deep=True)
        ingest.prepare(df, mapping, kind)
        pd.testing.assert_frame_equal(df, before)


# =========================================================================== errors


def _raises_ingest_error(raw, filename=None) -> str:
    with pytest.raises(IngestError) as info:
        ingest.read_table(raw, filename=filename)
    assert isinstance(info.value, AnalysisError)
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize("raw", [b"", b"   \n\t\r\n  ", b"\n\n\n"])
def test_empty_and_whitespace_files(raw):
    assert "empty" in _raises_ingest_error(raw, "data.csv")


def test_empty_file_on_disk(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"")
    message = _raises_ingest_error(path)
    assert "data.csv" in message
    assert "empty" in message


def test_missing_path(tmp_path):
    assert "no file" in _raises_ingest_error(tmp_path / "nope.csv")


def test_unsupported_source_type():
    assert "Cannot read" in _raises_ingest_error(12345)


@pytest.mark.parametrize(
    "raw", [b"customer_id,timestamp,touchpoint\n", b"a;b;c\r\n\r\n", b"a,b\n,\n"]
)
def test_header_only_csv(raw):
    assert "no data rows" in _raises_ingest_error(raw, "header.csv")


def test_random_binary():
    raw = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    message = _raises_ingest_error(raw, "photo.csv")
    assert "binary" in message
    assert "CSV" in message  # says what to upload instead


def test_binary_without_nul_bytes():
    raw = bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 200, 201]) * 200
    assert "binary" in _raises_ingest_error(raw)


def test_damaged_parquet():
    message = _raises_ingest_error(b"PAR1" + b"\x07junk" * 50, "x.parquet")
    assert "Parquet" in message
    assert "damaged" in message


def test_damaged_xlsx():
    message = _raises_ingest_error(b"PK\x03\x04" + b"junk" * 50, "x.xlsx")
    assert "Excel" in message
    assert "damaged" in message


def test_old_xls():
    message = _raises_ingest_error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500, "old.xls")
    assert ".xls" in message
    assert ".xlsx" in message


@pytest.mark.parametrize(
    "raw",
    [b'{"a": 1,,}', b'[{"a": 1}, {"a": ]', b'{"a": 1}\n{"a": 2\n', b"[1, 2"],
)
def test_invalid_json(raw):
    assert "not valid JSON" in _raises_ingest_error(raw, "data.json")


@pytest.mark.parametrize(
    "raw", [b"42", b'"text"', b"true", b"null", b"[1, 2, 3]", b'["a", {"b": 1}]']
)
def test_json_that_is_not_records(raw):
    message = _raises_ingest_error(raw, "data.json")
    assert "not a list of records" in message


@pytest.mark.parametrize("raw", [b"[]", b"{}", b'{"rows": []}', b"[{}, {}]"])
def test_json_without_rows_or_columns(raw):
    message = _raises_ingest_error(raw, "data.json")
    assert "no columns" in message or "no data rows" in message


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfea",  # UTF-16 BOM, then an odd byte
        b"\xff\xfe\x00\xd8a\x00",  # UTF-16 BOM, then a lone surrogate
        b"\xfe\xff\xdc\x00",
    ],
)
def test_damaged_utf16(raw):
    message = _raises_ingest_error(raw, "data.csv")
    assert "UTF-16" in message


def test_damaged_gzip():
    good = gzip.compress(_delimited(",").encode() * 20)
    damaged = good[:12] + bytes(b ^ 0xFF for b in good[12:40]) + good[40:]
    assert "gzip" in _raises_ingest_error(damaged, "events.csv.gz")
    assert "gzip" in _raises_ingest_error(good[: len(good) // 2], "events.csv.gz")


def test_empty_gzip():
    assert "empty" in _raises_ingest_error(gzip.compress(b""), "events.csv.gz")


@pytest.mark.parametrize(
    ("raw", "line", "kept"),
    [
        (b'customer_id,touchpoint\na1,"Home\nb2,Cart\n', 2, ["b2"]),
        (b'customer_id,touchpoint\na1,Home\nb2,"Cart\nc3,Home\n', 3, ["a1", "c3"]),
        # a ragged row first sends the file to the slower reader, which must do the same
        (b'customer_id,touchpoint\na1,Home,extra\nb2,"Cart\nc3,Home\n', 3, ["c3"]),
    ],
)
def test_a_stray_quote_sets_its_line_apart_and_keeps_the_rest(raw, line, kept):
    df = ingest.read_table(raw, filename="events.csv")
    assert df["customer_id"].tolist() == kept
    stray = [b for b in df.attrs["bad_lines"] if b.get("reason") == "quote never closed"]
    assert [b["line"] for b in stray] == [line]


def test_one_stray_quote_in_a_large_export_quarantines_one_line():
    rows = ["customer_id,timestamp,touchpoint"]
    rows += [f"c{i},2024-01-01 10:{i % 60:02d},Home" for i in range(32_000)]
    rows[18_001] = 'c18000,2024-01-01 10:00,"Home'
    df = ingest.read_table(("\n".join(rows) + "\n").encode(), filename="shop.csv")
    assert len(df) == 31_999
    result = ingest.prepare(df, ingest.guess_mapping(df, "events"), "events")
    assert result.report.reasons == {"quote never closed": 1}
    assert result.quarantine["_line"].tolist() == [18_002]
    lines = " ".join(result.report.lines())
    assert "line 18002: 'c18000,2024-01-01 10:00,\"Home'" in lines and "None" not in lines


def test_two_stray_quotes_do_not_swallow_the_rows_between_them():
    rows = ["customer_id,touchpoint"] + [f"c{i},Home" for i in range(20)]
    rows[5] = 'c4,"Home'
    rows[12] = 'c11,Home"'
    df = ingest.read_table(("\n".join(rows) + "\n").encode(), filename="events.csv")
    assert "c7" in df["customer_id"].tolist()
    assert [b["line"] for b in df.attrs["bad_lines"]] == [6]
    assert len(df) == 19


def test_a_quoted_value_over_several_lines_is_one_value():
    raw = b'customer_id,text,score\na1,"late,\nthen lost\nmy parcel",2\nb2,fine,5\n'
    df = ingest.read_table(raw, filename="feedback.csv")
    assert df["text"].tolist() == ["late,\nthen lost\nmy parcel", "fine"]
    assert df.attrs["bad_lines"] == []


def test_a_quote_never_closed_in_the_header_is_an_error():
    message = _raises_ingest_error(b'customer_id,"touchpoint\na1,Home\n', "events.csv")
    assert "never closed" in message


def test_quotes_inside_values_are_fine():
    df = ingest.read_table(b'customer_id,touchpoint\na1,5" screen\nb2,"say ""hi"""\n')
    assert df["touchpoint"].tolist() == ['5" screen', 'say "hi"']


def test_first_row_with_an_extra_field_does_not_shift_columns():
    # pandas would take the first column as the index here and shift every value left.
    text = (
        "customer_id,timestamp,touchpoint\n"
        "a1,2024-01-01,Home,extra\n"
        "b2,2024-01-02,Cart\n"
    )
    df = ingest.read_table(text.encode())
    assert df.to_dict(orient="records") == [
        {"customer_id": "b2", "timestamp": "2024-01-02", "touchpoint": "Cart"}
    ]
    assert df.attrs["bad_lines"] == [
        {"fields": 4, "raw": "a1,2024-01-01,Home,extra", "line": 2}]


def test_rows_with_extra_values_are_quarantined_not_shifted():
    df = ingest.read_table(b"customer_id,timestamp,touchpoint\na1,2024-01-01,Home,oops\n")
    result = _prepare_events(df) if len(df) else ingest.prepare(
        df, {c: c for c in EVENT_COLUMNS}, "events"
    )
    assert result.report.rows_read == 1
    assert result.report.reasons == {"malformed row (4 fields, header has 3)": 1}
    assert result.quarantine["_raw_line"].tolist() == ["a1,2024-01-01,Home,oops"]


def test_a_trailing_delimiter_is_not_an_extra_value():
    df = ingest.read_table(b"customer_id,timestamp,touchpoint\na1,2024-01-01,Home,\n")
    result = _prepare_events(df)
    assert result.report.rows_imported == 1 and result.report.rows_quarantined == 0
    assert result.data["touchpoint"].tolist() == ["Home"]


def test_short_rows_are_padded_and_checked():
    df = ingest.read_table(b"customer_id,timestamp,touchpoint,channel\na1,2024-01-01,Home\n")
    assert df.iloc[0].tolist()[:3] == ["a1", "2024-01-01", "Home"]
    assert pd.isna(df.iloc[0, 3])


def test_blank_lines_are_skipped():
    df = ingest.read_table(b"\n\ncustomer_id,touchpoint\r\n\r\na1,Home\r\n\r\nb2,Cart\r\n\r\n")
    assert df.to_dict(orient="list") == {
        "customer_id": ["a1", "b2"],
        "touchpoint": ["Home", "Cart"],
    }


def test_duplicate_column_names_are_made_unique():
    df = ingest.read_table(b"a, a,a_2,,column_4\n1,2,3,4,5\n")
    assert df.columns.is_unique
    assert df.iloc[0].tolist() == ["1", "2", "3", "4", "5"]
    assert df.columns[:3].tolist()[0] == "a"


def test_missing_required_mapping_names_the_column():
    df = pd.DataFrame({"user": ["a"], "when": ["2024-01-01"]})
    with pytest.raises(MappingError) as info:
        ingest.prepare(df, {"customer_id": "user", "timestamp": "when"}, "events")
    message = str(info.value)
    assert "touchpoint" in message
    assert "not mapped" in message
    assert "user" in message  # lists the columns to choose from


def test_feedback_needs_text_or_score():
    df = pd.DataFrame({"when": ["2024-01-01"]})
    with pytest.raises(MappingError, match="text or score"):
        ingest.prepare(df, {"timestamp": "when"}, "feedback")


def test_mapping_naming_a_column_the_table_lacks():
    with pytest.raises(MappingError) as info:
        ingest.prepare(EVENTS, {**{c: c for c in EVENT_COLUMNS}, "touchpoint": "page"}, "events")
    message = str(info.value)
    assert "does not have" in message
    assert "'page'" in message
    assert "customer_id" in message


def test_mapping_with_unknown_canonical_name_or_wrong_kind():
    with pytest.raises(MappingError, match="Unknown canonical"):
        ingest.prepare(EVENTS, {"customer_id": "customer_id", "wat": "timestamp"}, "events")
    with pytest.raises(MappingError, match="cannot be mapped"):
        ingest.prepare(EVENTS, {"customer_id": "customer_id", "text": "touchpoint"}, "customers")
    with pytest.raises(MappingError, match="kind"):
        ingest.prepare(EVENTS, {}, "orders")
    with pytest.raises(MappingError, match="ColumnMapping"):
        ingest.prepare(EVENTS, ["customer_id"], "events")


def test_prepare_on_an_empty_table():
    df = pd.DataFrame({"customer_id": [], "timestamp": [], "touchpoint": []}, dtype=object)
    with pytest.raises(IngestError, match="no rows"):
        ingest.prepare(df, {c: c for c in EVENT_COLUMNS}, "events")


def test_prepare_rejects_non_tables():
    with pytest.raises(IngestError, match="Cannot import"):
        ingest.prepare(object(), {}, "events")


def test_trailing_delimiters_on_data_rows_are_not_malformed():
    df = ingest.read_table(b"user,ts,page\nu1,2024-01-01,home,\nu2,2024-01-02,cart,,\n")
    assert df.attrs["bad_lines"] == []
    assert df.to_dict(orient="list") == {
        "user": ["u1", "u2"], "ts": ["2024-01-01", "2024-01-02"], "page": ["home", "cart"]
    }


def test_the_report_counts_events_tied_in_time():
    df = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b"],
        "timestamp": ["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-01", "2024-01-03"],
        "touchpoint": ["Visit", "Purchase", "Visit", "Visit", "Purchase"],
    })
    report = ingest.prepare(df, ingest.guess_mapping(df, "events"), "events").report
    assert report.tied_events == 2
    assert any("2 events (40.0%) share their customer and timestamp" in n for n in report.notes)
    exact = df.assign(timestamp=["2024-01-01 09:00", "2024-01-01 09:05", "2024-01-02",
                                 "2024-01-01", "2024-01-03"])
    assert ingest.prepare(exact, ingest.guess_mapping(exact, "events"), "events").report \
        .tied_events == 0


# ---------------------------------------------------------------- files named like workbooks
def _zip(files: dict[str, str]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return buffer.getvalue()


def _workbook_error(raw: bytes, filename: str) -> str:
    from analysis.schema import WorkbookError

    with pytest.raises(WorkbookError) as info:
        ingest.read_table(raw, filename=filename)
    message = str(info.value)
    # The reader's own words (engines, XML parts, zip internals) never reach the user.
    for leak in ("engine", "openpyxl", "zip file", "Content_Types", "xml'"):
        assert leak not in message
    return message


@pytest.mark.parametrize("filename", ["report.xlsx", "report.xls", "report.xlsm"])
def test_random_bytes_named_like_a_workbook(filename):
    message = _workbook_error(bytes(range(256)) * 16, filename)
    assert f"{filename} is not an Excel workbook" in message
    assert "Save it as .xlsx from Excel, or upload the data as CSV." in message


@pytest.mark.parametrize(
    ("raw", "delimiter", "words"),
    [
        (b"user,ts,page\na,2024-01-01,x\n", ",", "comma-separated"),
        (b"user\tts\tpage\na\t2024-01-01\tx\n", "\t", "tab-separated"),
        ("user;ts;page\na;2024-01-01;é\n".encode("utf-16"), ";", "semicolon-separated"),
    ],
)
def test_text_named_like_a_workbook_is_read_with_a_note(raw, delimiter, words):
    df = ingest.read_table(raw, filename="export.xls")
    assert list(df.columns) == ["user", "ts", "page"] and len(df) == 1
    assert df.attrs["delimiter"] == delimiter
    assert df.attrs["notes"] == [
        f"export.xls is not an Excel workbook but {words} text; it was read as such."
    ]


def test_json_named_like_a_workbook_is_read_with_a_note():
    df = ingest.read_table(b'[{"user": "a", "page": "x"}]', filename="export.xlsx")
    assert df.attrs["format"] == "json"
    assert "but JSON text" in df.attrs["notes"][0]


def test_real_files_carry_no_note():
    assert ingest.read_table(b"a,b\n1,2\n", filename="data.csv").attrs["notes"] == []
    buffer = io.BytesIO()
    EVENTS.to_excel(buffer, index=False, engine="openpyxl")
    assert ingest.read_table(buffer.getvalue(), filename="events.xlsx").attrs["notes"] == []


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"just some words\nand more\n", "text without columns"),
        (b"<html><body><table><tr><td>1</td></tr></table></body></html>", "web page"),
        (b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
         "XML"),
    ],
)
def test_text_that_is_no_table_named_like_a_workbook(raw, words):
    message = _workbook_error(raw, "export.xls")
    assert "export.xls is not an Excel workbook" in message and words in message


def test_zip_files_that_are_not_workbooks():
    csv_inside = _workbook_error(_zip({"data/export.csv": "a,b\n1,2\n"}), "export.xlsx")
    assert "ZIP archive, not an Excel workbook" in csv_inside
    assert "upload export.csv" in csv_inside
    ods = _zip({"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                "content.xml": "<x/>"})
    assert "OpenDocument spreadsheet (.ods)" in _workbook_error(ods, "sheet.xlsx")
    xlsb = _zip({"[Content_Types].xml": "<x/>", "xl/workbook.bin": "\x00"})
    assert ".xlsb" in _workbook_error(xlsb, "book.xlsx")


def test_damaged_workbook_says_damaged_in_plain_words():
    broken = _zip({"[Content_Types].xml": "<x/>", "xl/workbook.xml": "not xml"})
    message = _workbook_error(broken, "book.xlsx")
    assert "book.xlsx is a damaged Excel workbook" in message
    assert "save it again as .xlsx" in message


def test_encrypted_xlsx_is_told_apart_from_old_xls():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500
    assert "password-protected" in _workbook_error(ole, "secret.xlsx")
    assert "old-style .xls" in _workbook_error(ole, "old.xls")
