"""The library API a data engineer calls without the command line: the same results as the commands."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from classifier.api import classify_texts, load_scorer
from classifier.batch.scan import Flagger, SettingsError, flag_thresholds, scan, scan_files
from classifier.batch.workers import Scoring, ScorerSpec
from classifier.cli import cli
from classifier.errors import InputError
from classifier.io.readers import CrimeRecord, Incident
from classifier.review.decisions import import_decisions
from classifier.review.store import FlagStore

from helpers import read_jsonl, score_record, write_csv

LOGS = [
    {"incident_id": "A", "text": "RP says her partner grabbed her by the throat and pushed her into the wall",
     "closing_code": "DOMESTIC - VERBAL ONLY"},
    {"incident_id": "B", "text": "IP says ex punched him in the face, black eye, bleeding nose"},
    {"incident_id": "C", "text": "noise complaint, music turned down, no offences"},
]
RECORDED_B = {"B": [CrimeRecord("20/1/26", "B", "violence_with_injury")]}


@pytest.fixture(scope="module")
def rules_scorer():
    return load_scorer(rules_only=True)


def test_scan_flags_what_no_crime_covers_and_says_why(rules_scorer):
    flags = list(scan(LOGS, RECORDED_B, scorer=rules_scorer))
    assert [f["incident_id"] for f in flags] == ["A"]
    (flag,) = flags
    assert flag["label"] == "violence_without_injury"
    assert flag["reason"] == "no linked crime record"
    assert "DOMESTIC - VERBAL ONLY" in flag["closing_code_conflict"]
    assert flag["decided_by"] == "rules"


def test_scan_in_memory_gives_the_flags_the_command_writes(tmp_path, rules_scorer):
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text", "closing_code"],
                     [[x["incident_id"], x["text"], x.get("closing_code", "")] for x in LOGS])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id", "label"],
                       [["20/1/26", "B", "violence_with_injury"]])
    result = CliRunner().invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(tmp_path / "f.jsonl"),
                                      "--rules-only", "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    written = read_jsonl(tmp_path / "f.jsonl")
    in_memory = list(scan(LOGS, RECORDED_B, scorer=rules_scorer))

    def comparable(flag):
        return {k: v for k, v in flag.items() if k not in ("scanned_at", "line")}

    assert [comparable(f) for f in in_memory] == [comparable(f) for f in written]


def test_scan_files_returns_its_counts_and_fills_the_store(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text"], [[x["incident_id"], x["text"]] for x in LOGS])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id"], [])
    scoring = Scoring(ScorerSpec(None, None))
    with FlagStore(tmp_path / "flags.sqlite") as store:
        summary = scan_files(logs, crimes, str(tmp_path / "flags.jsonl"), scoring=scoring, store=store)
        assert store.has_flag("A") and store.has_flag("B") and not store.has_flag("C")
    assert (summary.scored, summary.written, summary.rejected) == (3, 2, 0)
    assert summary.stored == {"added": 2}
    assert summary.threshold == 0.5 and summary.model.startswith("rules-")


def test_a_flag_is_closed_when_a_covering_crime_is_recorded_later(tmp_path, rules):
    incident = Incident("A", "he punched her", 1)
    with FlagStore(tmp_path / "flags.sqlite") as store:
        first = Flagger(rules, threshold=0.5, likely=0.9, store=store)
        assert first(incident, score_record(evidence=[{"floor": True}]), []) is not None
        later = Flagger(rules, threshold=0.5, likely=0.9, store=store)
        assert later(incident, score_record(confidence=0.1, label="none"),
                     [CrimeRecord("20/9/26", "A", "violence_without_injury")]) is None
        assert later.stored == {"closed as already recorded": 1}
        assert store.open_flag("A") is None


def test_thresholds_that_do_not_go_together_are_refused():
    with pytest.raises(SettingsError, match="not both"):
        flag_thresholds(None, threshold=0.3, target_recall=0.9)
    with pytest.raises(SettingsError, match="--rules-only"):
        flag_thresholds(None, target_recall=0.9)
    assert flag_thresholds(None) == (0.5, 0.9)


def test_thresholds_default_to_the_models_own(small_model):
    marks = small_model.manifest["thresholds"]
    assert flag_thresholds(small_model.manifest) == (marks["review"], max(marks["likely"], marks["review"]))
    low, likely = flag_thresholds(small_model.manifest, threshold=0.99)
    assert low == 0.99 and likely >= 0.99


def test_classify_texts_scores_each_text_in_order_with_the_model(small_model):
    scorer = load_scorer(model=small_model.folder)
    scores = list(classify_texts(["V1 was struck by S1 with a closed fist", "lost wallet on the bus"],
                                 scorer=scorer))
    assert [s["model"] for s in scores] == [small_model.version] * 2
    assert scores[0]["label"] != "none" and scores[0]["decided_by"] in ("rules", "both")
    # A model of a few hundred logs sets its threshold low (recall 0.98 out of fold), so whether the lost wallet
    # clears it depends on the sample; but no rule raises it, `none` stays more likely than every offence
    # together, and it stays out of the `likely` band. (How far above a half depends on the sample too: 0.74 with
    # batches 34-35 in the corpus, above 0.8 before.)
    assert scores[1]["decided_by"] in ("model", "none") and scores[1]["probabilities"]["none"] > 0.5
    assert scores[1]["confidence"] < scorer.manifest["thresholds"]["likely"]


def test_importing_decisions_is_all_or_nothing(tmp_path, rules):
    with FlagStore(tmp_path / "flags.sqlite") as store:
        Flagger(rules, threshold=0.5, likely=0.9, store=store)(Incident("A", "he punched her", 1), score_record(), [])
        good = write_csv(tmp_path / "good.csv", ["incident_id", "outcome", "label", "reviewer", "reviewed_at"],
                         [["A", "crime", "violence_without_injury", "QA1", "2026-12-01T10:00:00"]])
        bad = write_csv(tmp_path / "bad.csv", ["incident_id", "outcome", "label", "reviewer", "reviewed_at"],
                        [["A", "no_crime", "", "QA1", "2026-12-01T11:00:00"],
                         ["Z", "no_crime", "", "QA1", "2026-12-01T11:00:00"]])
        with pytest.raises(InputError, match=r"bad.csv: line 3: incident 'Z' has no flag.*nothing was imported"):
            import_decisions(bad, store)
        assert store.reviews() == []
        assert import_decisions(good, store).added == 1
        assert import_decisions(good, store).skipped == 1  # imported again: nothing added
        assert [r["outcome"] for r in store.reviews()] == ["crime"]
