"""The flag store and the review commands: idempotent scans, decisions kept, bad input changes nothing."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import InputError
from classifier.io.readers import Incident
from classifier.review.store import MIGRATIONS, FlagStore

from helpers import flag_record, read_jsonl, write_csv, write_jsonl

@pytest.fixture()
def logs(tmp_path):
    return write_csv(tmp_path / "logs.csv", ["incident_id", "text", "closing_code", "opened_at"], [
        ["A", "RP says her partner grabbed her by the throat and pushed her into the wall", "DOMESTIC - VERBAL ONLY", "2026-01-02T10:00:00"],
        ["B", "IP says ex punched him in the face, black eye, bleeding nose", "ADVICE GIVEN", "2026-01-03T10:00:00"],
        ["C", "noise complaint, music turned down, no offences", "ADVICE GIVEN", "2026-01-04T10:00:00"],
    ])


def _scan(tmp_path, logs, crimes=None, db="flags.sqlite"):
    crimes = crimes or write_csv(tmp_path / "none.csv", ["crime_id", "incident_id"], [])
    result = CliRunner().invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(tmp_path / "f.jsonl"),
                                      "--db", str(tmp_path / db)])
    assert result.exit_code == 0, result.output
    return result.output


def _open(tmp_path, db="flags.sqlite"):
    with FlagStore(tmp_path / db) as store:
        return sorted(r["incident_id"] for r in store.open_flags())


def test_scanning_twice_adds_no_flag_and_a_changed_text_is_flagged_again(tmp_path, logs):
    _scan(tmp_path, logs)
    first = _open(tmp_path)
    assert first == ["A", "B"]
    assert "0 new, 0 flagged again after the text changed, 2 already held" in _scan(tmp_path, logs)
    assert _open(tmp_path) == first
    changed = write_csv(tmp_path / "logs2.csv", ["incident_id", "text"], [
        ["A", "RP says her partner grabbed her by the throat and pushed her into the wall. Update: he also slapped her"],
        ["B", "IP says ex punched him in the face, black eye, bleeding nose"],
    ])
    assert "0 new, 1 flagged again after the text changed, 1 already held" in _scan(tmp_path, changed)
    with FlagStore(tmp_path / "flags.sqlite") as store:
        assert store.status_counts() == {"open": 2, "superseded": 1}


def test_an_incident_linked_later_to_a_covering_crime_is_closed(tmp_path, logs):
    _scan(tmp_path, logs)
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id", "label"],
                       [["20/1/26", "B", "violence_with_injury"]])
    assert "1 closed as already recorded" in _scan(tmp_path, logs, crimes)
    assert _open(tmp_path) == ["A"]


def test_a_decided_incident_is_not_queued_again(tmp_path, logs):
    _scan(tmp_path, logs)
    with FlagStore(tmp_path / "flags.sqlite") as store:
        store.decide("A", "no_crime", reviewer="ann")
    changed = write_csv(tmp_path / "logs2.csv", ["incident_id", "text"], [["A", "he grabbed her throat again, she says"]])
    assert "1 already decided" in _scan(tmp_path, changed)
    assert _open(tmp_path) == ["B"]


def test_a_second_decision_is_a_second_review(tmp_path, logs):
    _scan(tmp_path, logs)
    runner = CliRunner()
    db = str(tmp_path / "flags.sqlite")
    for reviewer, outcome in (("ann", "crime"), ("bob", "no_crime")):
        args = ["review", "decide", "A", "--outcome", outcome, "--reviewer", reviewer, "--db", db]
        result = runner.invoke(cli, args + (["--label", "violence_without_injury"] if outcome == "crime" else []))
        assert result.exit_code == 0, result.output
    with FlagStore(db) as store:
        assert [(r["reviewer"], r["outcome"]) for r in store.reviews()] == [("ann", "crime"), ("bob", "no_crime")]
    stats = runner.invoke(cli, ["review", "stats", "--db", db]).output
    assert "1 incidents decided by two reviewers, 0 agree" in stats


@pytest.mark.parametrize("args, message", [
    (["Z", "--outcome", "no_crime"], "Error: incident 'Z' has no flag in"),
    (["A", "--outcome", "crime"], "Error: outcome crime needs --label"),
    (["A", "--outcome", "crime", "--label", "murder"], "Error: label 'murder' is not one of"),
])
def test_bad_decisions_change_nothing(tmp_path, logs, args, message):
    _scan(tmp_path, logs)
    db = str(tmp_path / "flags.sqlite")
    result = CliRunner().invoke(cli, ["review", "decide", *args, "--reviewer", "ann", "--db", db])
    assert result.exit_code == 1 and message in result.output
    with FlagStore(db) as store:
        assert store.reviews() == [] and _open(tmp_path) == ["A", "B"]


def test_unknown_outcome_is_refused_by_the_command(tmp_path, logs):
    _scan(tmp_path, logs)
    result = CliRunner().invoke(cli, ["review", "decide", "A", "--outcome", "maybe", "--reviewer", "a",
                                      "--db", str(tmp_path / "flags.sqlite")])
    assert result.exit_code == 1 and "'maybe' is not one of 'crime', 'no_crime', 'already_recorded'" in result.output


def test_import_is_all_or_nothing_and_export_follows_the_contract(tmp_path, logs):
    _scan(tmp_path, logs)
    db = str(tmp_path / "flags.sqlite")
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"incident_id": "A", "outcome": "crime", "label": "violence_without_injury", "reviewer": "ann", "reviewed_at": "2026-11-26T09:00:00"},
        {"incident_id": "B", "outcome": "crime", "reviewer": "ann", "reviewed_at": "2026-11-26T09:01:00"},
    ])
    result = CliRunner().invoke(cli, ["review", "import", str(bad), "--db", db])
    assert result.exit_code == 1
    assert f"Error: {bad}: line 2: outcome crime needs --label" in result.output and "nothing was imported" in result.output
    with FlagStore(db) as store:
        assert store.reviews() == []
    good = write_jsonl(tmp_path / "good.jsonl", [
        {"incident_id": "A", "outcome": "crime", "label": "violence_without_injury", "reviewer": "ann", "reviewed_at": "2026-11-26T09:00:00"},
        {"incident_id": "B", "outcome": "already_recorded", "reviewer": "bob", "reviewed_at": "2026-11-26T09:01:00", "note": "20/9/26"},
    ])
    assert CliRunner().invoke(cli, ["review", "import", str(good), "--db", db]).exit_code == 0
    out = tmp_path / "reviews.jsonl"
    assert CliRunner().invoke(cli, ["review", "export", "-o", str(out), "--db", db]).exit_code == 0
    exported = read_jsonl(out)
    # The contract's fields first, then what the flag predicted (an extension: docs/formats.md, reviews).
    assert [list(r) for r in exported] == [["incident_id", "outcome", "label", "reviewer", "reviewed_at", "note",
                                            "predicted_label", "confidence"]] * 2
    flagged_b = next(f for f in read_jsonl(tmp_path / "f.jsonl") if f["incident_id"] == "B")
    assert exported[1] == {"incident_id": "B", "outcome": "already_recorded", "label": None, "reviewer": "bob",
                           "reviewed_at": "2026-11-26T09:01:00", "note": "20/9/26",
                           "predicted_label": flagged_b["label"], "confidence": flagged_b["confidence"]}


def test_queue_filters_and_show_highlights(tmp_path, logs):
    _scan(tmp_path, logs)
    db = str(tmp_path / "flags.sqlite")
    queue = CliRunner().invoke(cli, ["review", "queue", "--db", db, "--code", "VERBAL"]).stdout.splitlines()
    assert queue[0].split() == ["incident_id", "label", "confidence", "band", "decided_by", "opened_at", "closing_code"]
    assert [line.split()[0] for line in queue[1:]] == ["A"]
    shown = CliRunner().invoke(cli, ["review", "show", "A", "--db", db, "--no-colour"]).output
    assert "[[grabbed her by the throat]]" in shown and "closed as 'DOMESTIC - VERBAL ONLY'" in shown


def _decide_many(db, ids, reviewer):
    with FlagStore(db) as store:
        for incident_id in ids:
            store.decide(incident_id, "no_crime", reviewer=reviewer)


def test_eight_processes_deciding_at_once_lose_nothing(tmp_path):
    db = tmp_path / "flags.sqlite"
    with FlagStore(db) as store:
        for n in range(1000):
            store.add_flag(flag_record(f"I{n}"), Incident(f"I{n}", f"text {n}", 1))
    ids = [f"I{n}" for n in range(1000)]
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_decide_many, args=(db, ids[k::8], f"r{k}")) for k in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 8
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT incident_id) FROM reviews").fetchone() == (1000, 1000)
    assert con.execute("SELECT COUNT(*) FROM flags WHERE status = 'decided'").fetchone() == (1000,)


def test_schema_is_versioned_and_a_newer_store_is_refused(tmp_path):
    db = tmp_path / "flags.sqlite"
    with FlagStore(db) as store:
        assert store.schema_version == len(MIGRATIONS)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 9")
    con.close()
    with pytest.raises(InputError, match="store schema version 9 is newer than this tool knows"):
        FlagStore(db)


def test_report_is_one_offline_page_with_the_evidence_marked(tmp_path, logs):
    _scan(tmp_path, logs)
    out = tmp_path / "flags.html"
    result = CliRunner().invoke(cli, ["report", "-o", str(out), "--db", str(tmp_path / "flags.sqlite")])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page and "https://" not in page
    assert '<mark class="cue"' in page and ">grabbed her by the throat</mark>" in page
    assert page.index('id="A"') < page.index('id="B"') or page.index('id="B"') < page.index('id="A"')
    assert "<script src" not in page and "<link" not in page


def test_audit_sample_draws_unflagged_incidents_and_stats_estimate_what_is_missed(tmp_path, logs):
    _scan(tmp_path, logs)
    db = str(tmp_path / "flags.sqlite")
    runner = CliRunner()
    drawn = runner.invoke(cli, ["review", "sample", str(logs), "--n", "5", "--seed", "7", "--db", db, "--rules-only"])
    assert drawn.exit_code == 0, drawn.output
    assert drawn.stdout.split() == ["C"]  # the only incident that was not flagged
    again = runner.invoke(cli, ["review", "sample", str(logs), "--n", "5", "--seed", "7", "--db", db, "--rules-only"])
    assert again.stdout.split() == []  # C is now in the store: a sampled incident is not drawn twice
    assert runner.invoke(cli, ["review", "decide", "C", "--outcome", "no_crime", "--reviewer", "ann", "--db", db]).exit_code == 0
    assert runner.invoke(cli, ["review", "decide", "A", "--outcome", "crime", "--label", "violence_without_injury",
                               "--reviewer", "ann", "--db", db]).exit_code == 0
    stats = runner.invoke(cli, ["review", "stats", "--db", db]).output
    assert "audit sample 1: 1 of 1 decided (population 1 unflagged); offences among unflagged 0.000 (95% 0.000-0.793)" in stats
    assert "0.5-0.7" in stats and "queue" not in stats


def test_an_older_store_is_migrated_on_open_and_keeps_its_flags(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    con.execute("INSERT INTO flags (incident_id, text_sha256, text, label, confidence, reason, linked_crimes, "
                "probabilities, evidence, model, rules, scanned_at) VALUES ('A','h','t','rape',0.9,'r','[]','{}','[]','m','r','s')")
    con.commit()
    con.close()
    with FlagStore(db) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert [r["incident_id"] for r in store.open_flags()] == ["A"]


def _version_3_store(path):
    """A store as version 3 of the schema left it, holding a decision imported twice (#15)."""
    con = sqlite3.connect(path)
    for migration in MIGRATIONS[:3]:
        con.executescript(migration)
    con.execute("PRAGMA user_version = 3")
    for incident_id in ("A", "B"):
        con.execute("INSERT INTO flags (incident_id, text_sha256, text, label, confidence, reason, linked_crimes, "
                    "probabilities, evidence, model, rules, scanned_at) VALUES (?,'h','t','rape',0.9,'r','[]','{}',"
                    "'[]','m','r','s')", (incident_id,))
    decision = ("crime", "rape", "ann", "2026-11-26T09:00:00", None)
    for incident_id, flag_id, (outcome, label, reviewer, reviewed_at, note) in [
            ("A", 1, decision), ("A", 1, decision), ("B", 2, ("no_crime", None, "ann", "2026-11-26T09:05:00", None)),
            ("A", 1, decision)]:
        con.execute("INSERT INTO reviews (incident_id, flag_id, outcome, label, reviewer, reviewed_at, note, source) "
                    "VALUES (?,?,?,?,?,?,?,'reviews.jsonl')", (incident_id, flag_id, outcome, label, reviewer,
                                                               reviewed_at, note))
    con.commit()
    con.close()


def test_a_version_3_store_is_migrated_and_a_decision_imported_twice_counts_once(tmp_path):
    db = tmp_path / "v3.sqlite"
    _version_3_store(db)
    runner = CliRunner()
    # A read-only command migrates an older store it may write (and says nothing of it).
    stats = json.loads(runner.invoke(cli, ["review", "stats", "--db", str(db), "--json"]).stdout)
    assert stats["reviews"] == {"crime": 1, "no_crime": 1} and stats["replaced"] == 0
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    # Nothing is deleted: the copies stay, marked as copies of the first.
    assert con.execute("SELECT id, duplicate_of FROM reviews ORDER BY id").fetchall() == [(1, None), (2, 1), (3, None),
                                                                                         (4, 1)]
    con.close()
    reviews = write_jsonl(tmp_path / "reviews.jsonl", [{"incident_id": "A", "outcome": "crime", "label": "rape",
                                                        "reviewer": "ann", "reviewed_at": "2026-11-26T09:00:00"}])
    result = runner.invoke(cli, ["review", "import", str(reviews), "--db", str(db)])
    assert "0 decisions imported" in result.output and "1 already recorded, skipped" in result.output
    out = tmp_path / "export.jsonl"
    assert runner.invoke(cli, ["review", "export", "-o", str(out), "--db", str(db)]).exit_code == 0
    assert [r["incident_id"] for r in read_jsonl(out)] == ["A", "B"]


def test_an_older_store_that_cannot_be_written_is_not_read_half_migrated(tmp_path, monkeypatch):
    db = tmp_path / "v3.sqlite"
    _version_3_store(db)

    def refuse(self):
        raise InputError(self.path, None, "cannot write this flag store here (readonly); check its permissions")

    monkeypatch.setattr(FlagStore, "_migrate", refuse)
    result = CliRunner().invoke(cli, ["review", "queue", "--db", str(db)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (f"store schema version 3 is older than this tool's ({len(MIGRATIONS)}) and cannot be migrated here: "
            "cannot write this flag store here") in result.output


def test_an_audit_sample_lists_ids_without_their_control_characters(tmp_path, logs):
    _scan(tmp_path, logs)
    hostile = write_csv(tmp_path / "more.csv", ["incident_id", "text"], [["Z\x1b[2J", "lost wallet on a bus"]])
    drawn = CliRunner().invoke(cli, ["review", "sample", str(hostile), "--n", "1", "--seed", "1",
                                     "--db", str(tmp_path / "flags.sqlite"), "--rules-only"])
    assert drawn.exit_code == 0, drawn.output
    assert drawn.stdout.split() == ["Z[2J"]  # the escape byte gone, so the id cannot drive the terminal
