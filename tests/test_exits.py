"""How a command ends, through the command line: bad rows to the rejects, a bad file or a missing one as one line
and exit 1, a fault of the tool as one line and exit 2, a stop by a signal with no temporary copy left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.review.store import FlagStore

from helpers import ROOT, read_jsonl, write_csv, write_jsonl

SAMPLE = ROOT / "corpora" / "sample"
SECRET = "he punched her"


def invoke(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output
    return result


def one_line_error(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert SECRET not in result.output
    return lines[0]


def classify(tmp_path, path, *extra):
    out = tmp_path / "scores.jsonl"
    result = invoke("classify", path, "-o", out, "--rules-only", "--workers", "1", *extra)
    return result, out, tmp_path / "scores.rejects.jsonl"


# Rows that used to stop a run.

def test_a_lone_surrogate_no_longer_stops_classify_or_scan(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"incident_id": "A", "text": "he punched her \\ud800"}\n'
                    '{"incident_id": "B\\udc00", "text": "quiet night"}\n', encoding="utf-8")
    result, out, rejects = classify(tmp_path, path)
    assert result.exit_code == 0, result.output
    scores = read_jsonl(out)
    assert [s["incident_id"] for s in scores] == ["A", "B\ufffd"]
    assert scores[0]["label"] != "none"  # still scored: the replacement character keeps the words
    assert read_jsonl(rejects) == []
    crimes = write_jsonl(tmp_path / "crimes.jsonl", [{"crime_id": "C\ud800", "incident_id": "Z\udfff"}])
    flags = invoke("scan", path, "--crimes", crimes, "-o", tmp_path / "flags.jsonl", "--rules-only")
    assert flags.exit_code == 0, flags.output
    assert [f["incident_id"] for f in read_jsonl(tmp_path / "flags.jsonl")] == ["A"]


def test_deep_nesting_is_a_reject_in_incidents_and_crimes(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    incidents = tmp_path / "in.jsonl"
    incidents.write_text(f'{{"incident_id": "A", "text": "{SECRET}"}}\n{deep}\n', encoding="utf-8")
    crimes = tmp_path / "crimes.jsonl"
    crimes.write_text(f'{deep}\n{{"crime_id": "C1", "incident_id": "Z"}}\n', encoding="utf-8")
    result = invoke("scan", incidents, "--crimes", crimes, "-o", tmp_path / "flags.jsonl", "--rules-only")
    assert result.exit_code == 0, result.output
    assert "2 rows rejected" in result.output
    rejects = read_jsonl(tmp_path / "flags.rejects.jsonl")
    too_deep = "values nested more than 64 levels deep"
    assert sorted((r["file"], r["line"], r["reason"]) for r in rejects) == [(str(crimes), 1, too_deep),
                                                                            (str(incidents), 2, too_deep)]


def test_deep_nesting_in_review_import_is_one_line(tmp_path):
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    FlagStore(tmp_path / "flags.sqlite").close()  # only `scan --db` makes a store; import needs one
    result = invoke("review", "import", reviews, "--db", tmp_path / "flags.sqlite")
    assert one_line_error(result) == f"Error: {reviews}: line 1: values nested more than 64 levels deep"


def test_numbers_booleans_and_objects_are_rejected_not_scored_as_their_repr(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"incident_id": 1e400, "text": "he punched her"}\n{"incident_id": "B", "text": true}\n'
                    '{"incident_id": true, "text": "x"}\n{"incident_id": "D", "text": {"a": 1}}\n'
                    '{"incident_id": 12, "text": "ok"}\n', encoding="utf-8")
    result, out, rejects = classify(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert [s["incident_id"] for s in read_jsonl(out)] == ["12"]
    assert [(r["line"], r["reason"]) for r in read_jsonl(rejects)] == [
        (1, "incident_id is a number, not text or a whole number"), (2, "text is true or false, not a string"),
        (3, "incident_id is true or false, not text or a whole number"), (4, "text is an object, not a string")]


def test_ungrouped_parquet_with_timestamps_and_bytes_is_scored(tmp_path):
    import datetime

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    when = datetime.datetime(2026, 1, 14, 22, 31)
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"incident_id": ["A", "B", "A"], "text": ["IP says", "quiet night", "he pushed her"],
                             "opened_at": [when] * 3, "blob": [b"\xff", b"x", b"y"]}), path)
    result, out, rejects = classify(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert [(s["incident_id"], s["label"]) for s in read_jsonl(out)] == [("A", "violence_without_injury"),
                                                                        ("B", "none")]
    assert read_jsonl(rejects) == []


# Files that cannot be read: one line, exit 1, nothing written.

def test_a_duplicated_column_scores_nothing(tmp_path):
    path = write_csv(tmp_path / "in.csv", ["incident_id", "text", "text"], [["A", SECRET, "other"]])
    result, out, _ = classify(tmp_path, path)
    assert one_line_error(result) == (f"Error: {path}: line 1: the column 'text' appears more than once in the "
                                      "header; rename or remove the copies")
    assert not out.exists()


def test_a_pipe_is_a_clear_error(tmp_path):
    path = tmp_path / "in.csv"
    os.mkfifo(path)
    result, out, _ = classify(tmp_path, path)
    assert "is not a regular file (a pipe, device or socket)" in one_line_error(result)
    assert not out.exists()


@pytest.mark.parametrize("missing", ["incidents", "crimes"])
def test_a_missing_input_of_scan_is_one_line_naming_it(tmp_path, missing):
    paths = {"incidents": SAMPLE / "incidents.csv", "crimes": SAMPLE / "crimes.csv"}
    paths[missing] = tmp_path / f"no-{missing}.csv"
    result = invoke("scan", paths["incidents"], "--crimes", paths["crimes"], "-o", tmp_path / "flags.jsonl",
                    "--rules-only", "--resume")
    assert one_line_error(result) == f"Error: {paths[missing]}: no such file"
    assert list(tmp_path.iterdir()) == []


def test_a_missing_input_of_classify_is_one_line_naming_it(tmp_path):
    path = tmp_path / "nightly.csv"
    result, out, _ = classify(tmp_path, path)
    assert one_line_error(result) == f"Error: {path}: no such file"


def test_train_on_a_corpus_with_bad_content_is_one_line(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text('{"incident_id": "A-1", "text": "x", "label": "none"}\n'
                                    f'{{"incident_id": "A-2", "text": "{SECRET}", "label": "murder"}}\n',
                                    encoding="utf-8")
    result = invoke("train", "--corpus", corpus, "--models", tmp_path / "models")
    assert one_line_error(result).startswith(f"Error: {corpus / 'a.jsonl'}: line 2: label 'murder' is not one of: ")
    (corpus / "a.jsonl").write_text('{"incident_id": "A-1", "text": "x", "label": "none"}\n{"incident_id": \n',
                                    encoding="utf-8")
    result = invoke("train", "--corpus", corpus, "--models", tmp_path / "models")
    assert one_line_error(result).startswith(f"Error: {corpus / 'a.jsonl'}: line 2: malformed JSON")


# The exit codes: 0 done, 1 the user's input or command line, 2 a fault of the tool.

def test_usage_errors_are_the_users_and_exit_1():
    assert invoke("classify", "--no-such-option").exit_code == 1
    assert invoke("scan", SAMPLE / "incidents.csv", "-o", "-").exit_code == 1  # --crimes missing
    assert invoke("review", "decide", "A", "--outcome", "maybe", "--reviewer", "a").exit_code == 1
    assert invoke("no-such-command").exit_code == 1
    for done in (["--help"], ["--version"], ["rules", "-h"]):
        assert invoke(*done).exit_code == 0


def test_settings_that_do_not_go_together_exit_1(tmp_path):
    result = invoke("scan", SAMPLE / "incidents.csv", "--crimes", SAMPLE / "crimes.csv", "-o", tmp_path / "f.jsonl",
                    "--rules-only", "--target-recall", "0.9")
    assert result.exit_code == 1 and "--target-recall needs a trained model" in result.output


def fail_inside(monkeypatch):
    import classifier.batch.scan

    def broken(*args, **kwargs):
        raise KeyError(SECRET)  # a fault whose message quotes incident text

    monkeypatch.setattr(classifier.batch.scan, "classify_files", broken)


def test_an_internal_error_is_one_line_naming_its_type_and_exit_2(tmp_path, monkeypatch):
    fail_inside(monkeypatch)
    monkeypatch.delenv("INCIDENT_CLASSIFIER_DEBUG", raising=False)
    result, _, _ = classify(tmp_path, SAMPLE / "incidents.csv")
    line = one_line_error(result, code=2)
    assert line.startswith("Error: internal error: KeyError at classifier/cli.py:")
    assert "INCIDENT_CLASSIFIER_DEBUG=1" in line


def test_the_traceback_of_an_internal_error_is_behind_an_environment_variable(tmp_path, monkeypatch):
    fail_inside(monkeypatch)
    result = CliRunner().invoke(cli, ["classify", str(SAMPLE / "incidents.csv"), "-o", str(tmp_path / "s.jsonl"),
                                      "--rules-only"], env={"INCIDENT_CLASSIFIER_DEBUG": "1"})
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr and "internal error: KeyError" in result.stderr


# Stopped by a signal: the temporary copy of every incident goes with the run.

def ungrouped_logs(tmp_path, n: int):
    """n corpus logs, each split in two entries, all first entries before all second ones: not grouped."""
    from classifier.corpus import load_corpus

    records = list(load_corpus(ROOT / "corpora" / "incidents", ("train", "dev", "test")))[:n]
    halves = [(r["incident_id"], r["text"][:len(r["text"]) // 2], r["text"][len(r["text"]) // 2:]) for r in records]
    rows = [{"incident_id": i, "entry_seq": 1, "text": a} for i, a, _ in halves]
    rows += [{"incident_id": i, "entry_seq": 2, "text": b} for i, _, b in halves]
    return write_jsonl(tmp_path / "logs.jsonl", rows)


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("signum, output", [(signal.SIGTERM, "-"), (signal.SIGTERM, "flags.jsonl"),
                                            (signal.SIGINT, "flags.jsonl")])
def test_a_stopped_scan_of_ungrouped_rows_leaves_no_temporary_copy(tmp_path, signum, output):
    logs = ungrouped_logs(tmp_path, 600)
    crimes = write_jsonl(tmp_path / "crimes.jsonl", [{"crime_id": "C1", "incident_id": "nothing-linked"}])
    temp = tmp_path / "tmp"
    temp.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "INCIDENT_CLASSIFIER_CHECKPOINT_SECONDS": "0.1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "from classifier.cli import main; main()", "scan", str(logs), "--crimes",
               str(crimes), "-o", output, "--rules-only", "--workers", "1"]
    # A shell starts a background job with SIGINT ignored, and Python then installs no KeyboardInterrupt for it:
    # the scan must be run as a terminal would run it, or a Ctrl-C cannot reach it when pytest runs with `&`.
    process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if output == "-":
            wait_for(lambda: any(p.name.endswith(".grouping.sqlite") for p in temp.iterdir()))
        else:
            wait_for(lambda: (work / f".{output}.checkpoint.json").exists())
            assert (work / f".{output}.grouping.sqlite").exists()  # beside the output, not in TMPDIR
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr.decode()
    assert list(temp.iterdir()) == []
    assert not any(p.name.endswith(".grouping.sqlite") for p in work.iterdir())
    if output != "-":
        # The partial output and its checkpoint stay for --resume, which carries on to the end.
        assert not (work / output).exists() and (work / f".{output}.partial").exists()
        resumed = subprocess.run([*command, "--resume"], cwd=work, env=env, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming after" in resumed.stderr and "scanned 600 incidents" in resumed.stderr
        assert sorted(os.listdir(work)) == [".flags.jsonl.finished.json", "flags.jsonl", "flags.rejects.jsonl"]
        assert json.loads((work / output).read_text().splitlines()[0])["incident_id"]
