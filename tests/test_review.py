"""The review commands as reviewers use them (#15): imports that count once, decisions checked, stores that
must exist (and may be read-only), terminal output that a log cannot drive, and listings for scripts."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.review.store import MIGRATIONS, FlagStore
from classifier.training.retrain import reviewed_examples

from helpers import ROOT, read_jsonl, write_csv, write_jsonl

DECISION_A = {"incident_id": "A", "outcome": "crime", "label": "violence_without_injury", "reviewer": "ann",
              "reviewed_at": "2026-11-26T09:00:00"}
DECISION_B = {"incident_id": "B", "outcome": "already_recorded", "reviewer": "bob",
              "reviewed_at": "2026-11-26T09:01:00", "note": "20/9/26"}


def invoke(*args, code: int = 0, **kwargs):
    result = CliRunner().invoke(cli, [str(a) for a in args], **kwargs)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture()
def db(tmp_path):
    """A store holding the flags of A (violence without injury, closed as verbal only) and B; C is not flagged."""
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text", "closing_code", "opened_at"], [
        ["A", "RP says her partner grabbed her by the throat and pushed her into the wall", "DOMESTIC - VERBAL ONLY",
         "2026-01-02T10:00:00"],
        ["B", "IP says ex punched him in the face, black eye, bleeding nose", "ADVICE GIVEN", "2026-01-03T10:00:00"],
        ["C", "noise complaint, music turned down, no offences", "ADVICE GIVEN", "2026-01-04T10:00:00"],
    ])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id"], [])
    invoke("scan", logs, "--crimes", crimes, "-o", tmp_path / "flags.jsonl", "--db", tmp_path / "flags.sqlite",
           "--rules-only", "--workers", 1, "-q")
    return tmp_path / "flags.sqlite"


def stats(db) -> dict:
    return json.loads(invoke("review", "stats", "--db", db, "--json").stdout)


# -- 1. imports that count once; re-decisions kept as history -----------------------------------------------

def test_importing_the_same_file_twice_counts_each_decision_once(db, tmp_path):
    reviews = write_jsonl(tmp_path / "reviews.jsonl", [DECISION_A, DECISION_B])
    first = invoke("review", "import", reviews, "--db", db)
    assert f"2 decisions imported from {reviews}; 0 already recorded, skipped" in first.stdout
    again = invoke("review", "import", reviews, "--db", db)
    assert f"0 decisions imported from {reviews}; 2 already recorded, skipped" in again.stdout
    assert stats(db)["reviews"] == {"crime": 1, "already_recorded": 1}
    # An export imported back (its extra columns ignored) adds nothing either.
    exported = tmp_path / "export.csv"
    invoke("review", "export", "-o", exported, "--db", db)
    assert "0 decisions imported" in invoke("review", "import", exported, "--db", db).stdout
    with FlagStore(db) as store:
        assert len(store.reviews()) == 2


def test_a_re_decision_is_kept_as_history_and_the_latest_counts(db, tmp_path):
    invoke("review", "import", write_jsonl(tmp_path / "monday.jsonl", [DECISION_A]), "--db", db)
    later = {**DECISION_A, "outcome": "no_crime", "label": "", "reviewed_at": "2026-11-27T15:00:00+00:00",
             "note": "CCTV: no contact"}
    # Recorded after the re-decision, but decided before it: history, and it does not count.
    earlier = {**DECISION_A, "outcome": "already_recorded", "label": "", "reviewed_at": "2026-11-26"}
    result = invoke("review", "import", write_jsonl(tmp_path / "tuesday.jsonl", [later, earlier]), "--db", db)
    assert "2 decisions imported" in result.stdout and "2 of them are re-decisions" in result.stdout
    figures = stats(db)
    assert figures["reviews"] == {"no_crime": 1} and figures["replaced"] == 2
    assert sum(b["decided"] for b in figures["by_confidence"]) == 1
    assert "no_crime 1 (2 earlier decisions replaced" in invoke("review", "stats", "--db", db).stdout
    shown = invoke("review", "show", "A", "--db", db, "--no-colour").stdout.splitlines()
    history = [line for line in shown if line.startswith("review ")]
    assert len(history) == 3 and sum("[replaced by the reviewer's later decision]" in h for h in history) == 2
    assert "no_crime: CCTV: no contact" in history[1] and "replaced" not in history[1]

    # Retraining reads the export, where the history is kept: the latest decision is the one it learns.
    exported = tmp_path / "reviews.jsonl"
    invoke("review", "export", "-o", exported, "--db", db)
    assert [r["outcome"] for r in read_jsonl(exported)] == ["crime", "no_crime", "already_recorded"]
    with FlagStore(db, mode="read") as store:
        assert [(i, label) for i, _, label in reviewed_examples(exported, store)] == [("A", "none")]

    # A reviewer deciding again on the command line is told what happens to the first decision.
    decided = invoke("review", "decide", "B", "--outcome", "no_crime", "--reviewer", "bob", "--db", db)
    assert "had decided" not in decided.stdout
    again = invoke("review", "decide", "B", "--outcome", "already_recorded", "--reviewer", "bob", "--db", db)
    assert "bob had decided B before: that decision is kept as history, and the latest one counts" in again.stdout
    assert stats(db)["reviews"] == {"no_crime": 1, "already_recorded": 1}


def test_the_latest_decision_is_the_latest_instant_whatever_the_offset(db, tmp_path):
    path = write_jsonl(tmp_path / "reviews.jsonl", [
        {**DECISION_A, "reviewed_at": "2026-11-26T10:00:00Z"},  # 10:00 UTC: the later one
        {**DECISION_A, "outcome": "no_crime", "label": "", "reviewed_at": "2026-11-26T10:30:00+01:00"},  # 09:30 UTC
    ])
    invoke("review", "import", path, "--db", db)
    assert stats(db)["reviews"] == {"crime": 1}
    with FlagStore(db, mode="read") as store:
        assert [label for _, _, label in reviewed_examples(path, store)] == ["violence_without_injury"]


def test_another_version_of_a_recorded_decision_is_refused_and_nothing_is_imported(db, tmp_path):
    invoke("review", "import", write_jsonl(tmp_path / "one.jsonl", [DECISION_A]), "--db", db)
    relabelled = {**DECISION_A, "label": "violence_with_injury"}
    path = write_jsonl(tmp_path / "two.jsonl", [DECISION_B, relabelled])
    result = invoke("review", "import", path, "--db", db, code=1)
    assert (f"Error: {path}: line 2: 'ann' decided 'A' crime at 2026-11-26T09:00:00 already, with another label or "
            "note; a new decision needs its own reviewed_at; nothing was imported") in result.output
    with FlagStore(db) as store:
        assert [r["incident_id"] for r in store.reviews()] == ["A"]


# -- 2. decisions and options checked ------------------------------------------------------------------------

def test_a_label_goes_only_with_outcome_crime(db, tmp_path):
    result = invoke("review", "decide", "A", "--outcome", "no_crime", "--label", "rape", "--reviewer", "ann",
                    "--db", db, code=1)
    assert "Error: a label goes only with outcome crime (the offence confirmed); outcome no_crime takes no label" \
        in result.output
    path = write_jsonl(tmp_path / "reviews.jsonl", [{**DECISION_B, "label": "violence_with_injury"}])
    result = invoke("review", "import", path, "--db", db, code=1)
    assert f"{path}: line 1: a label goes only with outcome crime" in result.output
    assert "nothing was imported" in result.output
    with FlagStore(db) as store:
        assert store.reviews() == []


@pytest.mark.parametrize("when, valid", [
    ("not-a-date", False), ("2026-13-40", False), ("26/11/2026", False), ("", False),
    ("2026-11-26", True), ("2026-11-26T09:00:00Z", True), ("2026-11-26T09:00:00+01:00", True),
    ("2026-11-26 09:00", True),
])
def test_reviewed_at_must_be_an_iso_8601_date_or_time_and_is_stored_as_given(db, tmp_path, when, valid):
    path = write_jsonl(tmp_path / "reviews.jsonl", [DECISION_B, {**DECISION_A, "reviewed_at": when}])
    result = invoke("review", "import", path, "--db", db, code=0 if valid else 1)
    with FlagStore(db) as store:
        stored = [r["reviewed_at"] for r in store.reviews()]
    if valid:
        assert stored == [DECISION_B["reviewed_at"], when]
    else:
        problem = "a review needs reviewed_at" if not when else f"reviewed_at {when!r} is not an ISO 8601 date or time"
        assert f"{path}: line 2: {problem}" in result.output and stored == []


def test_every_label_option_takes_one_of_the_labels(db, tmp_path):
    for args in (["review", "queue"], ["report", "-o", tmp_path / "page.html"]):
        result = invoke(*args, "--db", db, "--label", "assault", code=1)
        assert "Invalid value for '--label': 'assault' is not one of 'rape', 'other_sexual'" in result.output
    assert not (tmp_path / "page.html").exists()
    result = invoke("review", "decide", "A", "--outcome", "crime", "--label", "assault", "--reviewer", "ann",
                    "--db", db, code=1)
    assert "label 'assault' is not one of: rape, other_sexual" in result.output
    assert invoke("review", "queue", "--db", db, "--label", "violence_with_injury").stdout.splitlines()[1:] != []
    result = invoke("review", "queue", "--db", db, "--since", "yesterday", code=1)
    assert "'yesterday' is not an ISO 8601 date or time" in result.output


# -- 3. stores that do not exist, are not stores, or may only be read ----------------------------------------

READERS = [["review", "queue"], ["review", "show", "A"], ["review", "stats"], ["review", "export", "-o", "x.jsonl"],
           ["report", "-o", "x.html"]]
WRITERS = [["review", "decide", "A", "--outcome", "no_crime", "--reviewer", "ann"]]


@pytest.mark.parametrize("args", READERS + WRITERS)
def test_a_mistyped_db_is_refused_and_not_created(tmp_path, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "flgas.sqlite"
    result = invoke(*args, "--db", missing, code=1)
    assert f"Error: {missing}: no flag store here; check --db (`scan --db` makes one)" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", READERS + WRITERS)
def test_a_file_that_is_not_a_flag_store_is_refused_in_one_line(tmp_path, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = tmp_path / "flags.csv"
    text.write_text("incident_id,text\nA,hello\n")
    result = invoke(*args, "--db", text, code=1)
    assert result.output.strip() == f"Error: {text}: not a flag store (not an SQLite database)"
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE things (x)")
    con.close()
    before = other.read_bytes()
    result = invoke(*args, "--db", other, code=1)
    assert f"Error: {other}: not a flag store (an SQLite database without its tables)" in result.output
    assert other.read_bytes() == before


def test_scan_refuses_a_db_that_is_not_a_flag_store(tmp_path):
    text = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id"], [])
    result = invoke("scan", text, "--crimes", text, "-o", tmp_path / "f.jsonl", "--db", text, "--rules-only", code=1)
    assert f"Error: {text}: not a flag store (not an SQLite database)" in result.output


def read_only(*paths):
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)


def test_read_only_commands_read_a_store_in_a_read_only_folder(db, tmp_path):
    invoke("review", "decide", "A", "--outcome", "crime", "--label", "violence_without_injury", "--reviewer", "ann",
           "--db", db)
    folder = tmp_path / "shared"
    folder.mkdir()
    store = folder / "flags.sqlite"
    shutil.copy(db, store)
    read_only(store, folder)
    before = store.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    try:
        assert invoke("review", "queue", "--db", store).stdout.split()[7] == "B"
        assert "review " in invoke("review", "show", "A", "--db", store, "--no-colour").stdout
        assert stats(store)["reviews"] == {"crime": 1}
        invoke("review", "export", "-o", out / "reviews.jsonl", "--db", store)
        assert [r["incident_id"] for r in read_jsonl(out / "reviews.jsonl")] == ["A"]
        assert "1 open flags written" in invoke("report", "-o", out / "page.html", "--db", store).stdout
        assert store.read_bytes() == before
    finally:
        folder.chmod(0o755)


STORE_READER = """
import sys
sys.path.insert(0, sys.argv[1])
from classifier.review.store import FlagStore
with FlagStore(sys.argv[2], mode="read") as store:
    print(len(store.open_flags()), store.schema_version)
with FlagStore(sys.argv[2], mode="write") as store:
    pass
"""


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or not shutil.which("setpriv")
                    or not Path("/usr/bin/python3").exists(),
                    reason="reads the store as another user: needs root, setpriv and a system python")
def test_a_user_without_write_access_reads_the_store(db, tmp_path):
    """As root the permission bits do not bind, so the store is read here as the unprivileged user `nobody`."""
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="ic-readonly-"))
    try:
        shutil.copytree(ROOT / "classifier", shared / "code" / "classifier",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(db, shared / "flags.sqlite")
        for path in [*shared.rglob("*"), shared]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                                 "-c", STORE_READER, str(shared / "code"), str(shared / "flags.sqlite")],
                                capture_output=True, text=True, timeout=60)
        assert result.stdout.split() == ["2", str(len(MIGRATIONS))], result.stderr
        # Writing it is refused in one line, not with a traceback from SQLite.
        assert "cannot write this flag store here" in result.stderr and "check its permissions" in result.stderr
        assert sorted(p.name for p in shared.iterdir()) == ["code", "flags.sqlite"]
    finally:
        for path in [shared, *shared.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(shared)


# -- 4. what reaches the terminal -----------------------------------------------------------------------------

HOSTILE = "IP says he punched her\x1b[2J\x1b[1;1H\x9b31m in the face\r\n\tall fine here\x07\u202e"


def test_show_and_queue_strip_control_characters_from_the_log(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text", "closing_code"],
                     [["E\x1b]0;owned\x07", HOSTILE, "ADVICE\x1b[8m GIVEN"]])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id"], [])
    db = tmp_path / "flags.sqlite"
    invoke("scan", logs, "--crimes", crimes, "-o", tmp_path / "f.jsonl", "--db", db, "--rules-only", "-q")
    shown = invoke("review", "show", "E\x1b]0;owned\x07", "--db", db, color=True).stdout
    # Only the command's own colours (SGR sequences it made) are left; the log's controls are gone.
    assert "\x1b[2J" not in shown and "\x1b]0" not in shown and "\x9b" not in shown and "\x07" not in shown
    assert "\r" not in shown and "\u202e" not in shown
    assert "\x1b[1m\x1b[22mpunched her\x1b[0m" in shown
    assert "punched her\x1b[0m[2J[1;1H31m in the face\n\tall fine here\n" in shown
    plain = invoke("review", "show", "E\x1b]0;owned\x07", "--db", db, "--no-colour").stdout
    assert "\x1b" not in plain and "E]0;owned  violence_without_injury" in plain
    for args in ([], ["--csv"]):
        listed = invoke("review", "queue", "--db", db, *args, color=True).stdout
        assert "\x1b" not in listed and "\x07" not in listed and "ADVICE[8m GIVEN" in listed
    assert json.loads(invoke("review", "queue", "--db", db, "--json").stdout)[0]["closing_code"] == "ADVICE[8m GIVEN"


# -- 6. listings ----------------------------------------------------------------------------------------------

def test_queue_lists_with_a_header_as_text_json_or_csv(db):
    text = invoke("review", "queue", "--db", db).stdout.splitlines()
    assert text[0].split() == ["incident_id", "label", "confidence", "band", "decided_by", "opened_at",
                               "closing_code"]
    assert [line.split()[0] for line in text[1:]] == ["A", "B"]
    rows = json.loads(invoke("review", "queue", "--db", db, "--json").stdout)
    assert [r["incident_id"] for r in rows] == ["A", "B"]
    assert set(rows[1]) == {"incident_id", "label", "confidence", "band", "decided_by", "opened_at", "opening_code",
                            "closing_code", "scanned_at"}
    assert rows[0]["label"] == "violence_without_injury" and rows[0]["closing_code"] == "DOMESTIC - VERBAL ONLY"
    table = list(csv.DictReader(invoke("review", "queue", "--db", db, "--csv").stdout.splitlines()))
    assert [r["incident_id"] for r in table] == ["A", "B"] and float(table[1]["confidence"]) == rows[1]["confidence"]
    assert "give --json or --csv, not both" in invoke("review", "queue", "--db", db, "--json", "--csv", code=1).output


def test_rules_list_with_a_header_as_text_json_or_csv():
    text = invoke("rules", "list").stdout.splitlines()
    assert text[0].split() == ["kind", "id", "label", "or", "category", "description"]
    assert text[-1].startswith("rules version sha256:")
    result = invoke("rules", "list", "--json")
    rules = json.loads(result.stdout)
    assert {r["kind"] for r in rules} == {"cue", "context", "closing", "offence"}
    assert all(set(r) == {"kind", "id", "label", "category", "description"} for r in rules)
    assert len(rules) == len(text) - 2 and "rules version" in result.stderr
    table = list(csv.DictReader(invoke("rules", "list", "--csv").stdout.splitlines()))
    assert [r["id"] for r in table] == [r["id"] for r in rules]


def test_models_list_with_a_header_as_text_json_or_csv(tmp_path):
    root = tmp_path / "models"
    for version, lineage in (("2026-11-01-aaaaaa", {}),
                             ("2026-12-01-bbbbbb", {"parent": "2026-11-01-aaaaaa", "decision": "promoted"})):
        (root / version).mkdir(parents=True)
        (root / version / "manifest.json").write_text(json.dumps({
            "version": version, "created_at": f"{version[:10]}T00:00:00+00:00", "dev_metrics": {"f1": 0.9},
            "lineage": lineage}))
    (root / "current.json").write_text(json.dumps({"version": "2026-12-01-bbbbbb"}))
    text = invoke("models", "list", "--models", root).stdout.splitlines()
    # The home's versions, then the shipped one, which stays the read-only default.
    assert text[0] == f"models home: {root}"
    assert text[1].split() == ["version", "created_at", "dev", "F1", "parent", "promotion", "where"]
    assert text[3].startswith("* 2026-12-01-bbbbbb") and text[2].startswith("  2026-11-01-aaaaaa")
    assert text[2].endswith("home") and text[4].endswith("shipped")
    rows = json.loads(invoke("models", "list", "--models", root, "--json").stdout)
    assert rows[1] == {"current": True, "version": "2026-12-01-bbbbbb", "created_at": "2026-12-01T00:00:00+00:00",
                       "dev_f1": 0.9, "parent": "2026-11-01-aaaaaa", "promotion": "promoted", "shipped": False}
    assert rows[2]["shipped"] is True
    csv_text = invoke("models", "list", "--models", root, "--csv").stdout.splitlines()
    assert csv_text[0] == "current,version,created_at,dev_f1,parent,promotion,shipped"
    assert csv_text[1] == "False,2026-11-01-aaaaaa,2026-11-01T00:00:00+00:00,0.9,,,False"
