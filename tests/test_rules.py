"""Rule files are data: validated on load, and every rule proves itself on its examples."""

from __future__ import annotations

import json
import shutil

import pytest

from classifier.errors import RuleError
from classifier.resources import rules_dir
from classifier.pipeline.examples import run_examples
from classifier.pipeline.ruleset import load_rules


def test_every_rule_example_passes(scorer, rules):
    failures = [f"{r.rule} [{r.side}] {r.text!r}: {r.problem}" for r in run_examples(scorer, rules) if not r.passed]
    assert failures == []


def test_every_rule_has_a_positive_and_a_negative_example(rules):
    for rule in [*rules.cues, *rules.context, *rules.closing_codes, *rules.crime_offences]:
        assert rule.examples.positive and rule.examples.negative, rule.id


def test_all_five_offence_labels_have_rules(rules):
    assert {r.label for r in rules.cues} == {"rape", "other_sexual", "violence_with_injury", "violence_without_injury", "stalking_harassment"}


def test_the_rules_version_changes_with_the_content(tmp_path, rules):
    folder = tmp_path / "rules"
    shutil.copytree(rules_dir(), folder)
    assert load_rules(folder).version == rules.version
    with open(folder / "closing_codes.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "closing-extra", "pattern": "nothing to see", "description": "d",
                             "examples": {"positive": ["nothing to see"], "negative": ["crime"]}}) + "\n")
    assert load_rules(folder).version != rules.version


def _broken(tmp_path, name, line):
    folder = tmp_path / "rules"
    shutil.copytree(rules_dir(), folder)
    with open(folder / name, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    count = sum(1 for _ in open(folder / name, encoding="utf-8"))
    return folder, f"{folder / name}: line {count}"


def _cue(**changes):
    rule = {"id": "new-rule", "label": "violence_without_injury", "kind": "offence", "weight": 0.5, "description": "d",
            "patterns": ["shoved"], "examples": {"positive": ["he shoved her"], "negative": ["no shove"]}}
    rule.update(changes)
    return rule


@pytest.mark.parametrize("changes, problem", [
    ({"label": "murder"}, "label 'murder' is not allowed; allowed: rape, other_sexual, violence_with_injury, violence_without_injury, stalking_harassment"),
    ({"weight": 2}, "weight 2 must be a number in (0, 1]"),
    ({"examples": {"positive": ["he shoved her"], "negative": []}}, "needs at least one negative example"),
    ({"patterns": []}, "'patterns' must be a non-empty list"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"id": "push-against-wall-dup"}, None),
])
def test_a_bad_cue_rule_names_file_line_and_value(tmp_path, changes, problem):
    folder, where = _broken(tmp_path, "offences.jsonl", _cue(**changes))
    if problem is None:
        load_rules(folder)
        return
    with pytest.raises(RuleError) as info:
        load_rules(folder)
    assert str(info.value).startswith(f"{where} (rule ")
    assert problem in str(info.value)


def test_a_bad_context_direction_lists_the_allowed_ones(tmp_path):
    folder, where = _broken(tmp_path, "context.jsonl", {
        "id": "neg-x", "category": "negated", "direction": "sideways", "description": "d", "patterns": ["nope"],
        "examples": {"positive": ["nope"], "negative": ["yes"]}})
    with pytest.raises(RuleError) as info:
        load_rules(folder)
    assert str(info.value) == (f"{where} (rule 'neg-x'): direction 'sideways' is not allowed; "
                               "allowed: forward, backward, bidirectional, overlap, incident, pseudo, termination")


def test_a_duplicate_id_is_refused(tmp_path, rules):
    folder, where = _broken(tmp_path, "offences.jsonl", _cue(id=rules.cues[0].id))
    with pytest.raises(RuleError, match=f"duplicate id '{rules.cues[0].id}'"):
        load_rules(folder)


@pytest.mark.parametrize("line, problem", [
    ({"word": "Choked", "label": "violence_without_injury"}, "word 'Choked' must be one lower-case lemma"),
    ({"word": "hit out", "label": "violence_without_injury"}, "word 'hit out' must be one lower-case lemma"),
    ({"word": "choke", "label": "violence_without_injury"}, "word 'choke' is listed twice"),
    ({"word": "maim", "label": "none"}, "label 'none' is not allowed"),
    ({"word": "maim"}, "missing key 'label'"),
])
def test_a_bad_offence_word_names_file_line_and_value(tmp_path, line, problem):
    folder, where = _broken(tmp_path, "offence_words.jsonl", line)
    with pytest.raises(RuleError) as info:
        load_rules(folder)
    assert str(info.value).startswith(f"{where}: ") and problem in str(info.value)


def test_a_rules_folder_without_offence_words_still_loads(tmp_path, rules):
    assert "choke" in {w.word for w in rules.offence_words}
    folder = tmp_path / "rules"
    shutil.copytree(rules_dir(), folder)
    (folder / "offence_words.jsonl").unlink()
    older = load_rules(folder)
    assert older.offence_words == [] and older.version != rules.version
    # Its version is what it was before the file existed: the five other files, hashed in name order.
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(["offences.jsonl", "context.jsonl", "normalisation.jsonl", "closing_codes.jsonl",
                        "crime_offences.jsonl"]):
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    assert older.version == "sha256:" + digest.hexdigest()[:16]
