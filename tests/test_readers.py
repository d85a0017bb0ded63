from __future__ import annotations

import pytest

from classifier.errors import InputError
from classifier.io.readers import read_crimes, read_incidents

from helpers import write_csv, write_jsonl


def test_entries_of_one_incident_are_joined_in_entry_seq_order(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "entry_seq", "text", "closing_code"], [
        ["A-1", "2", "second entry", ""],
        ["A-1", "1", "first entry", ""],
        ["A-1", "10", "tenth entry", "ADVICE GIVEN"],
        ["B-2", "1", "only entry", ""],
    ])
    incidents = list(read_incidents(path))
    assert [i.incident_id for i in incidents] == ["A-1", "B-2"]
    assert incidents[0].text == "first entry\nsecond entry\ntenth entry"
    assert incidents[0].closing_code == "ADVICE GIVEN"


def test_entry_time_orders_entries_when_there_is_no_seq(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [
        {"incident_id": "A", "entry_time": "2026-01-01T10:05:00", "text": "later"},
        {"incident_id": "A", "entry_time": "2026-01-01T10:01:00", "text": "earlier"},
    ])
    assert [i.text for i in read_incidents(path)] == ["earlier\nlater"]


def test_interleaved_entries_are_grouped_in_order_of_first_appearance(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "entry_seq", "text"], [
        ["A", "1", "a1"], ["B", "1", "b1"], ["A", "2", "a2"], ["C", "1", "c1"], ["B", "2", "b2"],
    ])
    assert [(i.incident_id, i.text) for i in read_incidents(path)] == [("A", "a1\na2"), ("B", "b1\nb2"), ("C", "c1")]


def test_unknown_columns_are_kept_for_pass_through(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "text", "beat"], [["A", "hello", "7B"]])
    assert next(read_incidents(path)).extra == {"beat": "7B"}


def test_bom_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffincident_id,text\nA,hello\n".encode("utf-8"))
    assert [i.incident_id for i in read_incidents(path)] == ["A"]


def test_rows_without_id_or_text_are_rejected_with_reason_and_line(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "text"], [["", "text"], ["B", "   "], ["C", "fine"]])
    rejects = []
    incidents = list(read_incidents(path, on_reject=rejects.append))
    assert [i.incident_id for i in incidents] == ["C"]
    assert [(r.line, r.reason) for r in rejects] == [(2, "no incident_id"), (3, "blank text")]


def test_missing_required_column_names_file_line_and_column(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "narrative"], [["A", "x"]])
    with pytest.raises(InputError) as info:
        list(read_incidents(path))
    assert str(info.value) == f"{path}: line 1: missing required column 'text' (the header has: incident_id, narrative)"


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"line 1: the file is empty"):
        list(read_incidents(path))


def test_undecodable_bytes_name_the_line_and_suggest_an_encoding(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"incident_id,text\nA,fine\nB,caf\xe9 fight\n")
    with pytest.raises(InputError) as info:
        list(read_incidents(path))
    assert f"{path}: line 3: bytes at column 6 cannot be decoded as utf-8" in str(info.value)
    assert "--encoding" in str(info.value)


def test_other_encodings_are_read_when_named(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("incident_id,text\nB,caf\u00e9 \u2013 pushed her\n".encode("cp1252"))
    assert next(read_incidents(path, encoding="cp1252")).text == "caf\u00e9 \u2013 pushed her"


@pytest.mark.parametrize("name, content, message", [
    ("in.jsonl", '{"incident_id": "A", "text": "x"}\n{"incident_id": "B", "text": \n',
     r"in.jsonl: line 2: malformed JSON: Expecting value"),
    ("in.jsonl", '["A", "x"]\n', r"line 1: expected a JSON object, found list"),
    ("in.txt", "x", r"unknown file type '.txt'; use .csv, .jsonl or .parquet"),
])
def test_unreadable_input_is_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        list(read_incidents(path))


def test_header_only_file_has_no_incidents(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "text"], [])
    assert list(read_incidents(path)) == []


def test_crimes_are_indexed_by_linked_incident_and_bad_rows_rejected(tmp_path):
    path = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id", "label", "offence"], [
        ["20/1/26", "A", "violence_with_injury", ""],
        ["20/2/26", "", "rape", ""],
        ["", "A", "", "Common assault"],
        ["20/3/26", "B", "murder", ""],
    ])
    rejects = []
    linked = read_crimes(path, on_reject=rejects.append)
    assert {k: [c.crime_id for c in v] for k, v in linked.items()} == {"A": ["20/1/26"]}
    assert [(r.line, r.reason) for r in rejects] == [(4, "no crime_id"), (5, "unknown label 'murder'")]


def test_bloom_false_positives_do_not_break_streaming(tmp_path, monkeypatch):
    from classifier.io import readers

    # A tiny filter makes every id a suspect; the exact second pass must still find the file contiguous.
    original = readers._BloomFilter.__init__
    monkeypatch.setattr(readers._BloomFilter, "__init__", lambda self, bits=0: original(self, bits=8, hashes=1))
    rows = [[f"I{i}", str(k), f"entry {k}"] for i in range(50) for k in (1, 2)]
    path = write_csv(tmp_path / "in.csv", ["incident_id", "entry_seq", "text"], rows)
    assert readers._ids_are_contiguous(path, "utf-8")[0] is True
    assert [i.text for i in read_incidents(path)][:2] == ["entry 1\nentry 2", "entry 1\nentry 2"]


# Rows that cannot be used go to the rejects with their reason; the rest of the file is read.

def read_all(path, **kwargs):
    rejects = []
    incidents = list(read_incidents(path, on_reject=rejects.append, **kwargs))
    return incidents, rejects


def test_a_lone_surrogate_is_replaced_so_the_row_is_still_scored(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"incident_id": "A", "text": "he punched her \\ud800"}\n'
                    '{"incident_id": "B\\udc00", "text": "pair \\ud83d\\ude00 kept", "beat": "\\udfff"}\n',
                    encoding="utf-8")
    incidents, rejects = read_all(path)
    assert [(i.incident_id, i.text) for i in incidents] == [("A", "he punched her \ufffd"),
                                                           ("B\ufffd", "pair \U0001F600 kept")]
    assert incidents[1].extra == {"beat": "\ufffd"}
    assert rejects == []


def test_a_line_nested_too_deep_is_rejected_whole(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "in.jsonl"
    path.write_text(f'{{"incident_id": "A", "text": "first"}}\n{deep}\n'
                    f'{{"incident_id": "B", "text": "x", "extra": {"[" * 70}1{"]" * 70}}}\n'
                    f'{{"incident_id": "C", "text": "last"}}\n', encoding="utf-8")
    incidents, rejects = read_all(path)
    assert [i.incident_id for i in incidents] == ["A", "C"]
    assert [(r.line, r.reason) for r in rejects] == [(2, "values nested more than 64 levels deep"),
                                                     (3, "values nested more than 64 levels deep")]
    assert rejects[0].row == deep  # the line as read: nothing is lost
    crimes = tmp_path / "crimes.jsonl"
    crimes.write_text(f'{deep}\n{{"crime_id": "C1", "incident_id": "A"}}\n', encoding="utf-8")
    crime_rejects = []
    linked = read_crimes(crimes, on_reject=crime_rejects.append)
    assert [c.crime_id for c in linked["A"]] == ["C1"]
    assert [(r.line, r.reason) for r in crime_rejects] == [(1, "values nested more than 64 levels deep")]


def test_without_a_reject_sink_a_bad_row_stops_read_rows_with_its_line(tmp_path):
    from classifier.io.readers import read_rows

    path = tmp_path / "reviews.jsonl"
    path.write_text('{"incident_id": "A"}\n' + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"reviews.jsonl: line 2: values nested more than 64 levels deep"):
        list(read_rows(path, ("incident_id",)))


@pytest.mark.parametrize("line, reason", [
    ('{"incident_id": 1e400, "text": "he punched her"}', "incident_id is a number, not text or a whole number"),
    ('{"incident_id": 12.5, "text": "x"}', "incident_id is a number, not text or a whole number"),
    ('{"incident_id": true, "text": "x"}', "incident_id is true or false, not text or a whole number"),
    ('{"incident_id": {"id": "A"}, "text": "x"}', "incident_id is an object, not text or a whole number"),
    ('{"incident_id": ["A"], "text": "x"}', "incident_id is a list, not text or a whole number"),
    ('{"incident_id": "A", "text": true}', "text is true or false, not a string"),
    ('{"incident_id": "A", "text": 12}', "text is a number, not a string"),
    ('{"incident_id": "A", "text": ["he", "hit", "her"]}', "text is a list, not a string"),
    ('{"incident_id": "A", "text": {"entry": "x"}}', "text is an object, not a string"),
    ('{"incident_id": "A", "text": "x", "closing_code": {"a": 1}}', "closing_code is an object, not text"),
    ('{"incident_id": "A", "text": "x", "entry_seq": "first"}', "entry_seq must be a number, found text"),
    ('{"incident_id": "A", "text": "x", "entry_seq": NaN}', "entry_seq must be a number, found a number"),
    ('{"incident_id": "A", "text": "x", "text": "y"}', "the key 'text' appears more than once in one object"),
    ('{"incident_id": "A", "text": "x", "n": ' + "9" * 5000 + "}", "a number too long to read"),
])
def test_ids_and_texts_that_are_not_text_are_rejected_not_scored_as_their_repr(tmp_path, line, reason):
    path = tmp_path / "in.jsonl"
    path.write_text(f'{line}\n{{"incident_id": "OK", "text": "fine"}}\n', encoding="utf-8")
    incidents, rejects = read_all(path)
    assert [i.incident_id for i in incidents] == ["OK"]
    assert [(r.line, r.reason) for r in rejects] == [(1, reason)]


def test_a_whole_number_id_is_read_as_its_digits(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"incident_id": 20260114412, "text": "x", "entry_seq": 2},
                                               {"incident_id": 20260114412, "text": "y", "entry_seq": 1}])
    assert [(i.incident_id, i.text) for i in read_incidents(path)] == [("20260114412", "y\nx")]


def test_a_bom_at_the_start_of_any_jsonl_line_is_ignored(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes('\ufeff{"incident_id": "A", "text": "x"}\n\ufeff{"incident_id": "B", "text": "y"}\n'.encode())
    assert [i.incident_id for i in read_incidents(path)] == ["A", "B"]


def test_a_duplicated_csv_column_is_a_file_error_naming_it(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "text", "text"], [["A", "he punched her", "other"]])
    with pytest.raises(InputError) as info:
        list(read_incidents(path))
    assert str(info.value) == (f"{path}: line 1: the column 'text' appears more than once in the header; "
                               "rename or remove the copies")


def test_blank_header_cells_are_not_duplicates(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("incident_id,text,,\nA,x,,\n", encoding="utf-8")
    assert [i.incident_id for i in read_incidents(path)] == ["A"]


def test_a_csv_row_with_too_many_fields_is_rejected_with_its_fields(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("incident_id,text\nA,he pushed her, then left\nB,fine\n", encoding="utf-8")
    incidents, rejects = read_all(path)
    assert [i.incident_id for i in incidents] == ["B"]
    assert [(r.line, r.reason, r.row) for r in rejects] == [
        (2, "3 fields but the header has 2; check the quoting of this row", ["A", "he pushed her", " then left"])]


def test_a_pipe_is_refused_not_read_as_empty(tmp_path):
    import os

    path = tmp_path / "in.csv"
    os.mkfifo(path)
    with pytest.raises(InputError, match=r"in.csv: is not a regular file \(a pipe, device or socket\)"):
        list(read_incidents(path))


def test_ungrouped_parquet_rows_with_times_and_bytes_are_grouped(tmp_path):
    import datetime

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    when = datetime.datetime(2026, 1, 14, 22, 31, 5, tzinfo=datetime.timezone.utc)
    table = pa.table({
        "incident_id": ["A", "B", "A", "C"],
        "text": ["a1", "b1", "a2", "c1"],
        "opened_at": pa.array([when] * 4, pa.timestamp("ns", tz="UTC")),
        "entry_time": pa.array([when + datetime.timedelta(minutes=m) for m in (1, 1, 0, 1)], pa.timestamp("us")),
        "blob": [b"\xff\xfe", b"plain", None, b""],
        "text_bytes": pa.array([b"ok", b"ok", b"ok", b"ok"], pa.binary()),
    })
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    incidents, rejects = read_all(path)
    assert [(i.incident_id, i.text) for i in incidents] == [("A", "a2\na1"), ("B", "b1"), ("C", "c1")]
    assert incidents[0].opened_at == "2026-01-14T22:31:05.000000000Z"
    assert incidents[0].extra["blob"] == "base64://4="  # kept, as text, for what passes it through
    assert rejects == []


def test_parquet_text_that_is_not_utf8_is_rejected_and_a_duplicated_column_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"incident_id": ["A", "B"], "text": pa.array([b"\xff he hit", b"fine"], pa.binary())}),
                   path)
    incidents, rejects = read_all(path)
    assert [i.incident_id for i in incidents] == ["B"]
    assert [(r.line, r.reason, r.row) for r in rejects] == [
        (1, "column 'text' holds bytes that are not UTF-8 text", {"incident_id": "A", "text": "base64:/yBoZSBoaXQ="})]
    dup = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array(["A"]), pa.array(["x"]), pa.array(["y"])], names=["incident_id", "text", "text"]),
                   dup)
    with pytest.raises(InputError, match="the column 'text' appears more than once in the file's columns"):
        list(read_incidents(dup))


def test_the_spilled_copy_goes_where_asked_and_is_removed_when_the_read_stops(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "text"], [["A", "a1"], ["B", "b1"], ["A", "a2"]])
    spill = tmp_path / ".out.jsonl.grouping.sqlite"
    stream = read_incidents(path, spill_to=spill)
    assert next(stream).incident_id == "A"
    assert spill.exists() and (spill.stat().st_mode & 0o777) == 0o600
    stream.close()
    assert not spill.exists()


def test_a_corpus_log_that_cannot_be_trained_on_names_its_file_and_line(tmp_path):
    from classifier.corpus import load_corpus

    (tmp_path / "a.jsonl").write_text('{"incident_id": "A-1", "text": "x", "label": "none"}\n'
                                      '{"incident_id": "A-2", "text": 5, "label": "none"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"a.jsonl: line 2: no text \(a corpus log needs its log text"):
        list(load_corpus(tmp_path))
