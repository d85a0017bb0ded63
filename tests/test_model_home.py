"""The models home: outside the package, the shipped model its read-only default, and an audit of every change."""

from __future__ import annotations

import getpass
import json
import shutil
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import ModelError
from classifier.model_versions import (audit_log, record, resolve, rollback, save_model, set_current,
                                       shipped_models_dir)
from classifier.resources import HOME_ENV, inside_package, models_home

from helpers import ROOT, write_jsonl

SHIPPED = json.loads((ROOT / "models" / "current.json").read_text())["version"]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))
            if "__pycache__" not in p.parts}


def _copy_into(home: Path, model, *, lineage: dict | None = None) -> str:
    """A trained version placed in a home, its lineage rewritten (the manifest is not what the hash covers)."""
    folder = home / model.version
    shutil.copytree(model.folder, folder)
    if lineage is not None:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["lineage"] = lineage
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return model.version


def test_the_home_is_the_option_else_the_variable_else_the_user_data_folder(monkeypatch, tmp_path):
    from platformdirs import user_data_dir

    assert models_home(tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "force"))
    assert models_home() == tmp_path / "force" / "models"
    monkeypatch.delenv(HOME_ENV)
    default = models_home()
    assert default == Path(user_data_dir("incident-classifier", appauthor=False)) / "models"
    assert not inside_package(default)
    assert inside_package(shipped_models_dir()) and shipped_models_dir() == ROOT / "models"


def test_the_shipped_model_is_current_until_the_home_has_one(small_model, models_home):
    assert resolve(None) == shipped_models_dir() / SHIPPED
    version = _copy_into(models_home, small_model)
    runner = CliRunner()
    listing = runner.invoke(cli, ["models", "list"]).output.splitlines()
    assert listing[0] == f"models home: {models_home}"
    assert any(line.startswith(f"* {SHIPPED}") and line.endswith("shipped") for line in listing)
    assert any(line.startswith(f"  {version}") and not line.endswith("shipped") for line in listing)

    promoted = runner.invoke(cli, ["models", "promote", version])
    assert promoted.exit_code == 0, promoted.output
    assert resolve(None) == models_home / version
    assert any(line.startswith(f"* {version}") for line in runner.invoke(cli, ["models", "list"]).output.splitlines())
    # The home returns to the shipped model: the shipped version is found by name, not copied.
    entry = rollback()
    assert (entry["from"], entry["version"]) == (version, SHIPPED)
    assert resolve(None) == shipped_models_dir() / SHIPPED and not (models_home / SHIPPED).exists()
    assert resolve(SHIPPED) == shipped_models_dir() / SHIPPED


def test_nothing_is_ever_written_into_the_package(small_model, small_corpus, tmp_path):
    shipped, package = shipped_models_dir(), ROOT / "classifier"
    before = (_snapshot(shipped), _snapshot(package))
    for root in (shipped, package / "models", shipped / SHIPPED):
        with pytest.raises(ModelError, match="part of the package, where the shipped model is kept read-only"):
            save_model(object(), {}, root=root)
        with pytest.raises(ModelError, match="read-only"):
            set_current(SHIPPED, root)
        with pytest.raises(ModelError, match="read-only"):
            rollback(root)
        with pytest.raises(ModelError, match="read-only"):
            record(root, {"action": "test"})
    runner = CliRunner()
    reviews = write_jsonl(tmp_path / "r.jsonl", [])
    for args in (["train", "--corpus", str(small_corpus)], ["models", "promote", SHIPPED], ["models", "rollback"],
                 ["retrain", "--reviews", str(reviews), "--corpus", str(small_corpus), "--db", str(tmp_path / "db")]):
        result = runner.invoke(cli, args + ["--models", str(shipped)])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.count("\n") == 1 and "read-only" in result.output and "Traceback" not in result.output
    assert (_snapshot(shipped), _snapshot(package)) == before


def test_a_version_the_gate_refused_needs_force_and_every_change_is_audited(small_model, models_home):
    failures = ["recall fell: the candidate misses 13 of the 220 offences judged on, the current model 12"]
    version = _copy_into(models_home, small_model, lineage={"parent": SHIPPED, "decision": "refused",
                                                            "gate_failures": failures})
    runner = CliRunner()
    refused = runner.invoke(cli, ["models", "promote", version, "--reviewer", "PS1234"])
    assert refused.exit_code == 1
    assert refused.output == (f"Error: {version}: the retraining gate refused it ({failures[0]}); promote it with "
                              "--force to make it current anyway (recorded in the audit log)\n")
    assert resolve(None) == shipped_models_dir() / SHIPPED and audit_log() == []

    forced = runner.invoke(cli, ["models", "promote", version, "--force", "--reviewer", "PS1234"])
    assert forced.exit_code == 0, forced.output
    assert f"forced over the retraining gate's refusal: {failures[0]}" in forced.output
    back = runner.invoke(cli, ["models", "rollback", "--reviewer", "DS99"])
    assert back.exit_code == 0 and back.output.strip() == f"rolled back from {version} to {SHIPPED}"
    again = runner.invoke(cli, ["models", "promote", SHIPPED])
    assert again.exit_code == 0, again.output

    log = audit_log()
    assert [(e["action"], e["version"], e["from"], e["by"]) for e in log] == [
        ("promote", version, SHIPPED, "PS1234"), ("rollback", SHIPPED, version, "DS99"),
        ("promote", SHIPPED, SHIPPED, getpass.getuser())]
    assert log[0]["forced"] is True and log[0]["gate_failures"] == failures and log[2]["forced"] is False
    assert all(e["at"].endswith("+00:00") for e in log)
    header, *history = runner.invoke(cli, ["models", "history"]).output.splitlines()
    assert header.split() == ["at", "action", "version", "from", "by", "outcome"] and len(history) == 3
    assert history[0].split()[1:5] == ["promote", version, SHIPPED, "PS1234"]
    assert history[0].endswith(f"forced over the gate: {failures[0]}")
    assert history[1].split()[1:5] == ["rollback", SHIPPED, version, "DS99"]
    as_csv = runner.invoke(cli, ["models", "history", "--csv"]).output.splitlines()
    assert as_csv[0] == "at,action,version,from,by,outcome" and len(as_csv) == 4
    assert json.loads(runner.invoke(cli, ["models", "history", "--json"]).output) == log


def test_a_promote_recorded_in_a_flag_store_and_the_store_log_is_append_only(small_model, models_home, tmp_path):
    import sqlite3

    from classifier.review.store import FlagStore

    version = _copy_into(models_home, small_model)
    runner = CliRunner()
    # A mistyped --db is refused before the model changes, not after.
    mistyped = runner.invoke(cli, ["models", "promote", version, "--db", str(tmp_path / "flgas.sqlite")])
    assert mistyped.exit_code == 1 and "no flag store here" in mistyped.output
    assert resolve(None) == shipped_models_dir() / SHIPPED and audit_log() == []

    db = tmp_path / "flags.sqlite"
    FlagStore(db).close()
    promoted = runner.invoke(cli, ["models", "promote", version, "--db", str(db), "--reviewer", "PS1234"])
    assert promoted.exit_code == 0, promoted.output
    listing = runner.invoke(cli, ["review", "audit-log", "--db", str(db), "--csv"]).output.splitlines()
    assert listing[0] == "at,action,version,from,by,outcome" and listing[1].split(",")[1:5] == [
        "promote", version, SHIPPED, "PS1234"]
    with FlagStore(db, mode="read") as store:
        assert store.audit_log() == audit_log()
    con = sqlite3.connect(db)
    for statement in ("UPDATE audit_log SET by = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(statement)
    con.close()


def test_scoring_commands_take_the_models_home(small_model, models_home, tmp_path):
    """--models on classify (as on scan, explain and review sample): that home's current model scores."""
    from helpers import read_jsonl

    other = tmp_path / "force-home"
    version = _copy_into(other, small_model)
    set_current(version, other)
    incidents = write_jsonl(tmp_path / "in.jsonl", [{"incident_id": "1", "text": "He punched her in the face."}])
    runner = CliRunner()
    for args, expected in (([], SHIPPED), (["--models", str(other)], version)):
        result = runner.invoke(cli, ["classify", str(incidents), "-o", str(tmp_path / "out.jsonl"), "--workers", "1",
                                     *args])
        assert result.exit_code == 0, result.output
        assert read_jsonl(tmp_path / "out.jsonl")[0]["model"] == expected
    explained = runner.invoke(cli, ["explain", "--text", "He punched her.", "--models", str(other)])
    assert explained.exit_code == 0 and version in explained.output
    # A home with no version of its own scores with the shipped default.
    empty = runner.invoke(cli, ["explain", "--text", "He punched her.", "--models", str(tmp_path / "none-here")])
    assert empty.exit_code == 0 and SHIPPED in empty.output


def test_a_corrupt_audit_log_is_one_line(models_home):
    models_home.mkdir(parents=True)
    (models_home / "audit.jsonl").write_text('{"action": "promote"}\n{"action"\n')
    result = CliRunner().invoke(cli, ["models", "history"])
    assert result.exit_code == 1
    assert result.output == f"Error: {models_home / 'audit.jsonl'}: line 2: malformed JSON: Expecting ':' delimiter\n"


@pytest.mark.parametrize("command", [["evaluate", "labelled.jsonl", "--held-out", "none"], ["train"],
                                     ["retrain", "--reviews", "r.jsonl"]])
def test_without_the_checkout_corpus_the_commands_ask_for_one(command, monkeypatch, tmp_path):
    """After `pip install .` the corpus is not beside the package: one line asking for --corpus."""
    import classifier.resources

    monkeypatch.setattr(classifier.resources, "corpus_dir", lambda: tmp_path / "site-packages" / "corpora")
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1
    assert result.output == ("Error: no labelled corpus: the corpus does not ship with the installed package; give "
                             "its folder with --corpus DIR\n")


def test_only_the_current_model_ships():
    """pyproject ships every folder of models/ (`*/*`): only the one current.json names may be there."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*/*" in package_data["classifier.models"]
    entries = {p.name for p in (ROOT / "models").iterdir()}
    assert entries == {"README.md", "current.json", SHIPPED}, (
        "models/ ships whole in the wheel: keep only the current version there (older ones live in a models home)")
