"""Retraining behind the promotion gate, and the model registry commands."""

from __future__ import annotations

import getpass
import json
import shutil

from click.testing import CliRunner

import pytest

from classifier.cli import cli
from classifier.corpus import load_corpus
from classifier.io.readers import Incident
from classifier.review.store import FlagStore

from helpers import ROOT, sample_corpus, train_small, write_jsonl


@pytest.fixture(scope="module")
def gate_corpus(tmp_path_factory):
    """Drawn from every split, so the gate has test-split logs to judge on."""
    return sample_corpus(tmp_path_factory.mktemp("gate-corpus"), ("train", "dev", "test"), 400, 11)


@pytest.fixture(scope="module")
def gate_model(gate_corpus, rules, tmp_path_factory):
    return train_small(gate_corpus, rules, tmp_path_factory.mktemp("gate-models"))


def _registry(model, tmp_path):
    """A private copy of the model folder, so promotions here touch nothing else."""
    root = tmp_path / "models"
    shutil.copytree(model.folder.parent, root)
    return root


def _store_with(tmp_path, records):
    db = tmp_path / "flags.sqlite"
    with FlagStore(db) as store:
        for r in records:
            flag = {"label": r["label"] if r["label"] != "none" else "violence_without_injury", "confidence": 0.9,
                    "probabilities": {}, "evidence": [], "model": "m", "band": "likely", "reason": "no linked crime record",
                    "closing_code_conflict": None, "linked_crimes": [], "rules": "r", "scanned_at": "2026-11-26T00:00:00"}
            store.add_flag(flag, Incident(r["incident_id"], r["text"], 1))
    return db


def test_a_poisoned_batch_is_refused_and_force_is_recorded(gate_model, gate_corpus, tmp_path):
    small_model, small_corpus = gate_model, gate_corpus
    root = _registry(small_model, tmp_path)
    used = {r["incident_id"] for r in load_corpus(small_corpus)}
    fresh = [r for r in load_corpus(ROOT / "corpora" / "incidents", ("train",))
             if r["incident_id"] not in used and r["label"] != "none"][:150]
    db = _store_with(tmp_path, fresh)
    # Every one of these discloses an offence; the batch says none of them does.
    poison = write_jsonl(tmp_path / "poison.jsonl", [
        {"incident_id": r["incident_id"], "outcome": "no_crime", "reviewer": "mallory", "reviewed_at": "2026-11-26T10:00:00"}
        for r in fresh])
    runner = CliRunner()
    args = ["retrain", "--reviews", str(poison), "--db", str(db), "--corpus", str(small_corpus), "--models", str(root),
            "--held-out", "none"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "the batch contradicts the model too often" in result.output and ": refused" in result.output
    assert json.loads((root / "current.json").read_text())["version"] == small_model.version
    listing = runner.invoke(cli, ["models", "list", "--models", str(root)]).output
    assert f"* {small_model.version}" in listing

    forced = runner.invoke(cli, args + ["--force", "--held-out", "style"])
    assert ": forced" in forced.output
    assert "candidate, held out by style" in forced.output and "current model, worst held-out style" in forced.output
    current = json.loads((root / "current.json").read_text())
    assert current["version"] != small_model.version and current["note"] == "retrain forced"
    manifest = json.loads((root / current["version"] / "manifest.json").read_text())
    assert manifest["lineage"]["parent"] == small_model.version and manifest["lineage"]["decision"] == "forced"
    assert manifest["lineage"]["contradiction"]["suspicious"] is True
    assert manifest["lineage"]["gate_failures"][0] == "the batch contradicts the current model too often"
    assert "forced" in runner.invoke(cli, ["models", "list", "--models", str(root)]).output
    assert set(manifest["lineage"]["gate"]) == {"corpus_test", "held_out_reviews"}
    styles = {r["style"] for r in load_corpus(small_corpus)}
    for who in ("current", "candidate"):
        shift = manifest["lineage"]["held_out"]["style"][who]
        assert {g["group"] for g in shift["groups"]} == styles and shift["models_trained"] == len(styles)

    back = runner.invoke(cli, ["models", "rollback", "--models", str(root), "--reviewer", "PS1234", "--db", str(db)])
    assert back.exit_code == 0 and back.output.strip().endswith(f"to {small_model.version}")
    assert json.loads((root / "current.json").read_text())["version"] == small_model.version

    # A version the gate refused goes live again only with --force, and the audit log keeps every step.
    again = runner.invoke(cli, ["models", "promote", current["version"], "--models", str(root)])
    assert again.exit_code == 1 and "the retraining gate refused it (the batch contradicts" in again.output
    # The registry is a copy of a home whose first version was made current by the test helper.
    setup, *audit = [json.loads(line) for line in (root / "audit.jsonl").read_text().splitlines()]
    assert setup["action"] == "set current" and setup["version"] == small_model.version
    assert [(e["action"], e.get("decision"), e["version"], e["by"]) for e in audit] == [
        ("retrain", "refused", None, getpass.getuser()), ("retrain", "forced", current["version"], getpass.getuser()),
        ("rollback", None, small_model.version, "PS1234")]
    assert audit[1]["forced"] is True and audit[1]["gate_failures"] == manifest["lineage"]["gate_failures"]
    # The flag store the decisions came from keeps the same entries: retrains from it, the rollback given --db.
    stored = runner.invoke(cli, ["review", "audit-log", "--db", str(db), "--json"])
    assert stored.exit_code == 0 and json.loads(stored.output) == audit
    header, *history = runner.invoke(cli, ["models", "history", "--models", str(root)]).output.splitlines()
    assert header.split() == ["at", "action", "version", "from", "by", "outcome"]
    history = history[1:]  # the test helper's first "set current"
    assert "refused: the batch contradicts the current model too often" in history[0]
    assert f"{current['version']}" in history[1] and "forced over the gate: the batch contradicts" in history[1]


def test_promote_and_rollback_with_nothing_to_roll_back(small_model, tmp_path):
    root = _registry(small_model, tmp_path)
    runner = CliRunner()
    # The first version made current in a home replaced the shipped model: a rollback returns to that.
    shipped = json.loads((ROOT / "models" / "current.json").read_text())["version"]
    first = runner.invoke(cli, ["models", "rollback", "--models", str(root)])
    assert first.exit_code == 0 and first.output == f"rolled back from {small_model.version} to {shipped}\n"
    fresh = runner.invoke(cli, ["models", "rollback", "--models", str(root)])
    assert fresh.exit_code == 1 and "no earlier current model to roll back to" in fresh.output
    missing = runner.invoke(cli, ["models", "promote", "1999-01-01-000000", "--models", str(root)])
    assert missing.exit_code == 1 and "no such model version" in missing.output


def test_reviews_of_incidents_without_text_are_refused(gate_model, gate_corpus, tmp_path):
    small_model, small_corpus = gate_model, gate_corpus
    root = _registry(small_model, tmp_path)
    db = _store_with(tmp_path, [])
    reviews = write_jsonl(tmp_path / "r.jsonl", [{"incident_id": "X-1", "outcome": "no_crime", "reviewer": "a",
                                                  "reviewed_at": "2026-11-26T10:00:00"}])
    result = CliRunner().invoke(cli, ["retrain", "--reviews", str(reviews), "--db", str(db), "--corpus",
                                      str(small_corpus), "--models", str(root)])
    assert result.exit_code == 1
    assert f"Error: {reviews}: line 1: incident 'X-1' has no log text in the flag store" in result.output


def _pair(current, candidate):
    from classifier.training.retrain import Scores

    return {"current": Scores(**current), "candidate": Scores(**candidate)}


GOOD_TEST = dict(recall=0.99, f1=0.98, n=400, offences=200, caught=198, ece=0.02, likely_precision=0.96)


def test_the_gate_counts_missed_offences_over_both_sets():
    from classifier.training.retrain import gate_failures

    # One corpus offence lost, five force offences gained: fewer offences missed in all, so promoted.
    traded = {"corpus_test": _pair(GOOD_TEST, {**GOOD_TEST, "recall": 0.985, "caught": 197}),
              "held_out_reviews": _pair(dict(recall=0.5, f1=0.6, n=30, offences=20, caught=10, ece=0.2),
                                        dict(recall=0.75, f1=0.8, n=30, offences=20, caught=15, ece=0.1))}
    assert gate_failures(traded) == []
    # The same loss with nothing gained elsewhere: refused, whatever F1 does.
    lost = {"corpus_test": _pair(GOOD_TEST, {**GOOD_TEST, "recall": 0.985, "caught": 197, "f1": 0.99}),
            "held_out_reviews": _pair(dict(recall=0.5, f1=0.6, n=30, offences=20, caught=10, ece=0.2),
                                      dict(recall=0.5, f1=0.7, n=30, offences=20, caught=10, ece=0.1))}
    assert gate_failures(lost) == ["recall fell: the candidate misses 13 of the 220 offences judged on, the "
                                   "current model 12"]
    # No reviews held out: judged on the corpus alone.
    alone = {"corpus_test": _pair(GOOD_TEST, GOOD_TEST),
             "held_out_reviews": _pair(dict(recall=float("nan"), f1=float("nan"), n=0),
                                       dict(recall=float("nan"), f1=float("nan"), n=0))}
    assert gate_failures(alone) == []


def test_the_gate_refuses_an_f1_fall_on_either_set_and_a_candidate_below_the_targets():
    from classifier.training.retrain import gate_failures

    held = dict(recall=0.5, f1=0.6, n=30, offences=20, caught=10, ece=0.2)
    f1_fall = {"corpus_test": _pair(GOOD_TEST, {**GOOD_TEST, "f1": 0.965}),
               "held_out_reviews": _pair(held, {**held, "f1": 0.58})}
    assert gate_failures(f1_fall) == ["corpus_test: F1 fell from 0.980 to 0.965, more than 0.01",
                                      "held_out_reviews: F1 fell from 0.600 to 0.580, more than 0.01"]
    # A current model that meets the targets: a candidate may not miss them.
    below = {"corpus_test": _pair(GOOD_TEST, {**GOOD_TEST, "recall": 0.965, "likely_precision": 0.9, "ece": 0.07}),
             "held_out_reviews": _pair(held, held)}
    assert gate_failures(below) == [
        "corpus_test: the candidate's recall 0.965 misses the target 0.97, which the current model meets",
        "corpus_test: the candidate's precision in the likely band 0.900 misses the target 0.92, which the current "
        "model meets",
        "corpus_test: the candidate's calibration error 0.070 misses the target 0.05, which the current model meets"]
    # A target the current model misses is no bar; the relative rules still judge the candidate there.
    weak = dict(recall=0.94, f1=0.9, n=400, offences=200, caught=188, ece=0.06, likely_precision=0.95)
    assert gate_failures({"corpus_test": _pair(weak, {**weak, "ece": 0.07}), "held_out_reviews": _pair(held, held)}) == []
    assert gate_failures({"corpus_test": _pair(weak, {**weak, "recall": 0.93, "caught": 186}),
                          "held_out_reviews": _pair(held, held)}) == [
        "recall fell: the candidate misses 24 of the 220 offences judged on, the current model 22"]
