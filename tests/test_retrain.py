"""Retraining behind the promotion gate, and the model registry commands."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

import pytest

from classifier.cli import cli
from classifier.corpus import load_corpus
from classifier.io.readers import Incident
from classifier.store import FlagStore

from conftest import ROOT, sample_corpus, train_small, write_jsonl


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
    args = ["retrain", "--reviews", str(poison), "--db", str(db), "--corpus", str(small_corpus), "--models", str(root)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "the batch contradicts the model too often" in result.output and ": refused" in result.output
    assert json.loads((root / "current.json").read_text())["version"] == small_model.version
    listing = runner.invoke(cli, ["models", "list", "--models", str(root)]).output
    assert f"* {small_model.version}" in listing

    forced = runner.invoke(cli, args + ["--force"])
    assert ": forced" in forced.output
    current = json.loads((root / "current.json").read_text())
    assert current["version"] != small_model.version and current["note"] == "retrain forced"
    manifest = json.loads((root / current["version"] / "manifest.json").read_text())
    assert manifest["lineage"]["parent"] == small_model.version and manifest["lineage"]["decision"] == "forced"
    assert manifest["lineage"]["contradiction"]["suspicious"] is True
    assert "forced" in runner.invoke(cli, ["models", "list", "--models", str(root)]).output
    assert set(manifest["lineage"]["gate"]) == {"corpus_test", "held_out_reviews"}

    back = runner.invoke(cli, ["models", "rollback", "--models", str(root)])
    assert back.exit_code == 0 and back.output.strip().endswith(f"to {small_model.version}")
    assert json.loads((root / "current.json").read_text())["version"] == small_model.version


def test_promote_and_rollback_with_nothing_to_roll_back(small_model, tmp_path):
    root = _registry(small_model, tmp_path)
    runner = CliRunner()
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


def test_the_gate_rule():
    from classifier.retraining import Scores, passes

    current = Scores(recall=0.95, f1=0.90, n=100)
    assert passes(current, Scores(recall=0.95, f1=0.895, n=100))
    assert not passes(current, Scores(recall=0.94, f1=0.95, n=100))
    assert not passes(current, Scores(recall=0.96, f1=0.885, n=100))
    assert passes(current, Scores(recall=0.0, f1=0.0, n=0))  # nothing held out: judged on the corpus alone
