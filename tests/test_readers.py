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
    monkeypatch.setattr(readers._BloomFilter, "__init__", lambda self: original(self, bits=8, hashes=1))
    rows = [[f"I{i}", str(k), f"entry {k}"] for i in range(50) for k in (1, 2)]
    path = write_csv(tmp_path / "in.csv", ["incident_id", "entry_seq", "text"], rows)
    assert readers._ids_are_contiguous(path, "utf-8")[0] is True
    assert [i.text for i in read_incidents(path)][:2] == ["entry 1\nentry 2", "entry 1\nentry 2"]
