"""The commands as a user runs them: outputs on the data contract, clear errors, nothing lost."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from classifier import __version__
from classifier.cli import cli
from classifier.labels import LABELS

from helpers import ROOT, read_jsonl, write_csv, write_jsonl

SAMPLE = ROOT / "corpora" / "sample"


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.fixture()
def logs(tmp_path):
    return write_csv(tmp_path / "logs.csv", ["incident_id", "entry_seq", "text", "closing_code", "beat"], [
        ["A", "1", "21:49 caller states partner shouting, verbal only", "", "7B"],
        ["A", "2", "22:30 PC 1234: IP now says he grabbed her by the throat, no marks", "DOMESTIC - VERBAL ONLY", "7B"],
        ["B", "1", "noise complaint, music turned down, no offences", "ADVICE GIVEN", "2C"],
        ["C", "1", "RP says her ex punched her in the face last night, black eye", "", ""],
        ["D", "1", "", "", ""],
    ])


@pytest.fixture()
def crimes(tmp_path):
    return write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id", "label", "offence"], [
        ["20/100/26", "C", "violence_with_injury", ""],
    ])


def test_version_and_help(runner):
    assert runner.invoke(cli, ["--version"]).output.strip() == f"incident-classifier, version {__version__}"
    result = runner.invoke(cli, ["-h"])
    assert result.exit_code == 0
    for command in ("classify", "scan", "explain", "rules"):
        assert command in result.output


def test_classify_writes_the_contract(runner, logs, tmp_path):
    out = tmp_path / "scores.jsonl"
    result = runner.invoke(cli, ["classify", str(logs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    scores = {s["incident_id"]: s for s in read_jsonl(out)}
    assert set(scores) == {"A", "B", "C"}
    texts = {"A": "21:49 caller states partner shouting, verbal only\n22:30 PC 1234: IP now says he grabbed her by the throat, no marks",
             "C": "RP says her ex punched her in the face last night, black eye"}
    for score in scores.values():
        assert set(score) >= {"incident_id", "label", "confidence", "probabilities", "evidence", "model", "decided_by"}
        assert set(score["probabilities"]) == set(LABELS)
        assert sum(score["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        offences = {k: v for k, v in score["probabilities"].items() if k != "none"}
        if score["label"] != "none":
            assert score["label"] == max(offences, key=offences.get)
        assert score["confidence"] == pytest.approx(1 - score["probabilities"]["none"], abs=1e-6)
        for e in score["evidence"]:
            assert texts[score["incident_id"]][e["start"]:e["end"]] == e["text"]
    assert scores["A"]["label"] == "violence_without_injury"
    assert scores["B"]["label"] == "none" and scores["B"]["decided_by"] == "none"
    assert scores["C"]["label"] == "violence_with_injury"
    # A plain, not-excluded disclosure holds the floor whatever the model makes of it.
    assert scores["C"]["decided_by"] in ("rules", "both")
    assert any(e["floor"] for e in scores["C"]["evidence"])
    assert "scored 3 incidents; 1 rows rejected" in result.output


def test_rejects_are_written_beside_the_output_with_reason(runner, logs, tmp_path):
    runner.invoke(cli, ["classify", str(logs), "-o", str(tmp_path / "scores.jsonl")])
    (reject,) = read_jsonl(tmp_path / "scores.rejects.jsonl")
    assert reject["line"] == 6 and reject["reason"] == "blank text" and reject["row"]["incident_id"] == "D"


def test_classify_csv_output(runner, logs, tmp_path):
    out = tmp_path / "scores.csv"
    assert runner.invoke(cli, ["classify", str(logs), "-o", str(out)]).exit_code == 0
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == "incident_id,label,confidence," + ",".join(f"p_{l}" for l in LABELS) + ",evidence,model,decided_by"


def test_scan_leaves_out_covered_incidents_and_says_why(runner, logs, crimes, tmp_path):
    out = tmp_path / "flags.jsonl"
    result = runner.invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(out)])
    assert result.exit_code == 0, result.output
    flags = {f["incident_id"]: f for f in read_jsonl(out)}
    assert set(flags) == {"A"}
    assert flags["A"]["reason"] == "no linked crime record"
    assert flags["A"]["closing_code_conflict"].startswith("closed as 'DOMESTIC - VERBAL ONLY'")
    assert flags["A"]["rules"].startswith("sha256:")
    assert "scanned 3 incidents; flagged 1; 1 rows rejected" in result.output


def test_scan_flags_when_the_linked_crime_is_of_another_family(runner, logs, tmp_path):
    crimes = write_csv(tmp_path / "c.csv", ["crime_id", "incident_id", "offence"], [["20/5/26", "C", "Criminal damage"]])
    result = runner.invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", "-", "--rejects", str(tmp_path / "r.jsonl")])
    flags = {json.loads(l)["incident_id"]: json.loads(l) for l in result.stdout.splitlines() if l.startswith("{")}
    assert flags["C"]["reason"] == "linked crime record does not cover violence_with_injury"


def test_threshold_one_flags_only_what_the_rule_floor_holds(runner, logs, crimes, tmp_path):
    out = tmp_path / "flags.jsonl"
    runner.invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(out), "--threshold", "1"])
    flags = read_jsonl(out)
    # A grabbed throat is a plain disclosure: no threshold argues it away; it is kept for review.
    assert [f["incident_id"] for f in flags] == ["A"]
    assert flags[0]["band"] == "review" and any(e["floor"] for e in flags[0]["evidence"])
    runner.invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(out), "--threshold", "1",
                        "--rules-only"])
    assert [f["incident_id"] for f in read_jsonl(out)] == ["A"]


def test_scan_never_flags_a_covered_incident_on_the_sample(runner, tmp_path):
    out = tmp_path / "flags.jsonl"
    result = runner.invoke(cli, ["scan", str(SAMPLE / "incidents.csv"), "--crimes", str(SAMPLE / "crimes.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    from classifier.flags import crime_covers
    from classifier.io.readers import read_crimes
    from classifier.pipeline.ruleset import load_rules
    rules = load_rules()
    linked = read_crimes(SAMPLE / "crimes.csv")
    flags = read_jsonl(out)
    assert flags
    for flag in flags:
        assert not any(crime_covers(c, flag["label"], rules) for c in linked.get(flag["incident_id"], []))


@pytest.mark.parametrize("content, message", [
    (b"", "line 1: the file is empty"),
    (b"incident_id,narrative\nA,x\n", "line 1: missing required column 'text'"),
    (b"incident_id,text\nA,ok\nB,caf\xe9\n", "line 3: bytes at column 6 cannot be decoded as utf-8"),
])
def test_bad_input_is_one_clear_error_and_a_non_zero_exit(runner, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = runner.invoke(cli, ["classify", str(path), "-o", str(tmp_path / "s.jsonl")])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: {message}")
    assert "Traceback" not in result.output
    assert not (tmp_path / "s.jsonl").exists()


def test_malformed_json_line_error(runner, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"incident_id": "A", "text": "x"}])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"incident_id": "B", "text": "unterminated\n')
    result = runner.invoke(cli, ["scan", str(path), "--crimes", str(path), "-o", str(tmp_path / "f.jsonl")])
    assert result.exit_code == 1
    assert f"Error: {path}: line 2: malformed JSON" in result.output


def test_error_messages_do_not_quote_incident_text(runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"incident_id,text\nA,he punched her \xe9\n")
    result = runner.invoke(cli, ["classify", str(path), "-o", str(tmp_path / "s.jsonl")])
    assert "punched" not in result.output


def test_rules_test_command_passes(runner):
    result = runner.invoke(cli, ["rules", "test"])
    assert result.exit_code == 0, result.output
    assert " examples pass across " in result.output


def test_explain_shows_cues_triggers_and_verdict(runner):
    result = runner.invoke(cli, ["explain", "--text", "IP denies being hit. He pushed her, no injuries"])
    assert result.exit_code == 0
    assert "negated by neg-denies: 'denies'" in result.output
    assert "[counts] hit-push-grab -> violence_without_injury" in result.output
    assert "VERDICT\n  rules: violence_without_injury" in result.output
    assert "  model 20" in result.output


def test_explain_an_incident_from_a_file(runner, logs):
    result = runner.invoke(cli, ["explain", str(logs), "--id", "C"])
    assert "violence_with_injury" in result.output
    missing = runner.invoke(cli, ["explain", str(logs), "--id", "Z"])
    assert missing.exit_code == 1 and "no incident with incident_id 'Z'" in missing.output
