"""Files real systems export: other encodings, BOMs, CRLF, embedded newlines, huge fields, NULs, control
characters, emoji and other scripts, thousands of entries, nothing at all. Each goes through `classify`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.cli import cli
from classifier.labels import LABELS

from helpers import read_jsonl

PUSH = "IP says he pushed her into the wall - no injuries"


def classify(tmp_path, path, *extra, ok=True):
    out = tmp_path / "scores.jsonl"
    result = CliRunner().invoke(cli, ["classify", str(path), "-o", str(out), "--rules-only", "--workers", "1",
                                      *map(str, extra)])
    assert "Traceback" not in result.output
    if ok:
        assert result.exit_code == 0, result.output
        return read_jsonl(out), result.output
    return result


def check_contract(score: dict, text: str) -> None:
    assert score["label"] in LABELS
    assert set(score["probabilities"]) == set(LABELS)
    assert abs(sum(score["probabilities"].values()) - 1.0) < 1e-5
    assert abs(score["confidence"] - (1.0 - score["probabilities"]["none"])) < 1e-5
    for item in score["evidence"]:
        assert 0 <= item["start"] < item["end"] <= len(text)
        assert text[item["start"]:item["end"]] == item["text"]
        for trigger in item["triggers"]:
            assert 0 <= trigger["start"] < trigger["end"] <= len(text)
            assert text[trigger["start"]:trigger["end"]] == trigger["text"]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_windows_and_latin_exports_are_read_with_encoding(tmp_path, encoding):
    text = "Caf\u00e9 owner: \u00abhe pushed her\u00bb; \u00a35 note taken" if encoding == "latin-1" \
        else "Caf\u00e9 owner says \u201che pushed her\u201d \u2013 \u00a35 note taken"
    path = tmp_path / "in.csv"
    path.write_bytes(f"incident_id,text\nA,{text}\n".encode(encoding))
    failed = classify(tmp_path, path, ok=False)
    assert failed.exit_code == 1 and "--encoding" in failed.output
    scores, _ = classify(tmp_path, path, "--encoding", encoding)
    assert scores[0]["label"] == "violence_without_injury"
    check_contract(scores[0], text)


def test_a_bom_and_crlf_line_ends_change_nothing(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_bytes(f"incident_id,text\nA,{PUSH}\nB,words only\n".encode("utf-8"))
    windows = tmp_path / "windows.csv"
    windows.write_bytes(f"\ufeffincident_id,text\r\nA,{PUSH}\r\nB,words only\r\n".encode("utf-8"))
    assert classify(tmp_path, windows)[0] == classify(tmp_path, plain)[0]


def test_quoted_fields_with_embedded_newlines_stay_one_entry(tmp_path):
    text = "2201 CH: caller says neighbour shouting\r\n2230 PC: IP states \"he slapped me\"\r\nNo injuries"
    path = tmp_path / "in.csv"
    path.write_bytes(("incident_id,text\r\nA,\"" + text.replace('"', '""') + "\"\r\nB,quiet night\r\n").encode())
    scores, _ = classify(tmp_path, path)
    assert [s["incident_id"] for s in scores] == ["A", "B"]
    assert scores[0]["label"] == "violence_without_injury"
    check_contract(scores[0], text)


def test_a_20_mb_field_is_rejected_whole_and_the_rest_is_scored(tmp_path):
    huge = "RP states ongoing dispute with neighbour over fence. " * 400_000
    assert len(huge) > 20_000_000
    path = tmp_path / "in.csv"
    path.write_text(f"incident_id,text\nA,{PUSH}\nHUGE,{huge}\nC,words only\n", encoding="utf-8")
    scores, output = classify(tmp_path, path, "--rejects", tmp_path / "rejects.jsonl")
    assert [s["incident_id"] for s in scores] == ["A", "C"]
    rejects = read_jsonl(tmp_path / "rejects.jsonl")
    assert len(rejects) == 1 and rejects[0]["line"] == 3
    assert "over the limit of 1,000,000" in rejects[0]["reason"]
    assert rejects[0]["row"]["text"] == huge
    assert "1 rows rejected" in output


def test_nul_bytes_control_characters_emoji_and_other_scripts(tmp_path):
    texts = {
        "NUL": "IP says he\x00 pushed her\x00\x00 into the door",
        "CTRL": "\x1b[31mIP\x07 says he pushed\x0b her\x0c; \x7f no injuries\x1f",
        "EMOJI": "\U0001F621\U0001F621 caller: \u2018he pushed me\u2019 \U0001F62D\U0001F3FD x2",
        "SCRIPTS": "\u0627\u0644\u0645\u062a\u0635\u0644 says \u0437\u0432\u043e\u043d\u0438\u0442 he pushed her \u4ed6\u63a8\u4e86\u5979",
    }
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"incident_id": k, "text": v}) + "\n" for k, v in texts.items()),
                    encoding="utf-8")
    scores, _ = classify(tmp_path, path)
    assert [s["incident_id"] for s in scores] == list(texts)
    for score in scores:
        text = texts[score["incident_id"]].replace("\x00", "")
        check_contract(score, text)
        assert any(e["rule"] == "hit-push-grab" for e in score["evidence"]), score["incident_id"]


def test_an_incident_with_5000_entries_is_one_incident(tmp_path):
    rows = "".join(f"BIG,{k},{k:04d} OP: update {k} - area search continues\n" for k in range(5000))
    path = tmp_path / "in.csv"
    path.write_text(f"incident_id,entry_seq,text\n{rows}BIG,5000,IP now says he pushed her\nOTHER,1,noise\n",
                    encoding="utf-8")
    scores, _ = classify(tmp_path, path)
    assert [s["incident_id"] for s in scores] == ["BIG", "OTHER"]
    assert scores[0]["label"] == "violence_without_injury"
    assert max(e["entry"] for e in scores[0]["evidence"]) == 5000


@pytest.mark.parametrize("name, content", [
    ("in.jsonl", "\n\n"),  # a file of 0 rows
    ("in.csv", "incident_id,text\n"),  # a header only
])
def test_no_rows_gives_an_empty_output_and_success(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    scores, output = classify(tmp_path, path)
    assert scores == [] and "scored 0 incidents" in output


def test_a_file_of_no_bytes_is_a_clear_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"")
    failed = classify(tmp_path, path, ok=False)
    assert failed.exit_code == 1
    assert f"{path}: line 1: the file is empty" in failed.output


# Text built from what logs are made of: cue words, shorthand, punctuation, line breaks, any character.
WORDS = st.sampled_from(["he", "pushed", "her", "no", "injuries", "not", "punched", "IP", "RP", "s47", "b/f",
                         "threatened", "to", "kill", "if", "raped", "denies", "\n", "2231", "PC", ":", "//",
                         "'", '"', "x2", "w/", "GBH", "split", "lip", "neck", "\U0001F621", "\u00e9"])
LOG_TEXT = st.one_of(st.text(max_size=300), st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=80).map(" ".join))


@pytest.fixture(scope="module")
def model_scorer(rules):
    from classifier.model_versions import resolve
    from classifier.scoring.scorers import ModelScorer

    return ModelScorer(rules, resolve(None))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=LOG_TEXT)
def test_any_text_gets_the_contract_and_offsets_that_index_it(scorer, model_scorer, text):
    from classifier.io.readers import Incident

    incident = Incident("P", text, 1)
    for which in (scorer, model_scorer):
        [(_, score)] = list(which.score([incident]))
        check_contract(score, text)
