"""The rules are a floor and the model ranks: plain disclosures are flagged whatever the model says."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.scoring.floor import apply_floor, floor_confidence, held_by_rules
from classifier.labels import LABELS, NONE
from classifier.scoring.scorers import ModelScorer

FLOOR_WEIGHT = 0.8


def _row(**probabilities) -> list[float]:
    row = [probabilities.get(label, 0.0) for label in LABELS]
    row[LABELS.index(NONE)] = 1.0 - sum(row)
    return row


def test_the_floor_raises_a_disclosure_the_model_doubts_to_at_least_the_threshold():
    model = np.array([_row(violence_without_injury=0.05), _row(violence_without_injury=0.05)])
    rules = np.array([_row(violence_without_injury=0.8), _row(violence_without_injury=0.4)])
    final, decided = apply_floor(model, rules, [["violence_without_injury"], []], threshold=0.3, confidence=0.2)
    assert decided == ["rules", "none"]
    assert 1 - final[0, LABELS.index(NONE)] == pytest.approx(0.3)
    assert LABELS[int(np.argmax(final[0, :-1]))] == "violence_without_injury"
    # No floor cue and the rules alone would not flag it: the model's probabilities stand.
    assert final[1] == pytest.approx(model[1])


def test_what_the_rules_alone_flag_is_held_without_a_floor_cue():
    """Lighter cues that add up to the rules' own flag (0.5) are flagged too; just below it, the model decides."""
    model = np.array([_row(violence_without_injury=0.05), _row(violence_without_injury=0.05)])
    rules = np.array([_row(violence_without_injury=0.3, violence_with_injury=0.2),
                      _row(violence_without_injury=0.3, violence_with_injury=0.19)])
    final, decided = apply_floor(model, rules, [[], []], threshold=0.3, confidence=0.2)
    assert decided == ["rules", "none"]
    assert 1 - final[0, LABELS.index(NONE)] == pytest.approx(0.3)
    assert LABELS[int(np.argmax(final[0, :-1]))] == "violence_without_injury"
    assert final[1] == pytest.approx(model[1])


def test_the_model_may_raise_the_confidence_and_add_what_no_rule_caught():
    model = np.array([_row(rape=0.9), _row(stalking_harassment=0.6), _row(other_sexual=0.1)])
    rules = np.array([_row(rape=0.9), _row(), _row()])
    final, decided = apply_floor(model, rules, [["rape"], [], []], threshold=0.3, confidence=0.8)
    assert decided == ["both", "model", "none"]
    assert 1 - final[0, LABELS.index(NONE)] == pytest.approx(0.9)
    assert np.allclose(final.sum(axis=1), 1.0)


def test_the_floor_confidence_is_the_share_of_offences_where_the_model_doubts_the_floor():
    floors = [["rape"], ["rape"], [], ["violence_with_injury"], ["rape"]]
    gold = ["rape", "none", "none", "rape", "rape"]
    # Every floor log: 3 offences of 4, with one log of each kind added.
    assert floor_confidence(floors, gold) == pytest.approx(4 / 6)
    # Only those the model (out of fold) would not flag at 0.5: 1 offence of 2.
    assert floor_confidence(floors, gold, [0.1, 0.2, 0.1, 0.9, 0.8], 0.5) == pytest.approx(2 / 4)
    assert floor_confidence([[], []], ["none", "rape"]) == 0.5


@pytest.fixture(scope="module")
def shipped(rules):
    """The current model version, as `classify` loads it."""
    from classifier.model_versions import resolve

    return ModelScorer(rules, resolve(None))


def _example_texts(rule):
    return [e["text"] if isinstance(e, dict) else e for e in rule.examples.positive]


def test_every_positive_example_of_a_floor_rule_is_flagged_by_the_full_model(shipped, rules):
    floor_rules = [r for r in rules.cues if r.kind == "offence" and r.weight >= FLOOR_WEIGHT]
    assert len(floor_rules) >= 20
    texts = [(rule.id, text) for rule in floor_rules for text in _example_texts(rule)]
    scores = shipped.score_docs(list(shipped.rule_scorer.docs(t for _, t in texts)))
    missed = [(rule_id, text, s["confidence"]) for (rule_id, text), s in zip(texts, scores)
              if s["label"] == NONE or s["decided_by"] not in ("rules", "both")]
    assert missed == []
    assert all(s["confidence"] >= shipped.threshold for s in scores)


def test_the_full_model_flags_every_rule_example_that_the_rules_alone_flag(shipped, rules):
    """Its flags are the rules' flags and more: on every example of every offence rule, positive or negative."""
    offence_rules = [r for r in rules.cues if r.kind in ("offence", "injury")]
    texts = [text for rule in offence_rules
             for text in _example_texts(rule) + [e["text"] if isinstance(e, dict) else e
                                                 for e in rule.examples.negative]]
    docs = list(shipped.rule_scorer.docs(texts))
    by_rules = shipped.rule_scorer.score_docs(docs)
    by_model = shipped.score_docs(docs)
    rules_flagged = [k for k, s in enumerate(by_rules) if s["label"] != NONE]
    # Lighter cues are among them, not only floor cues, and the rules alone decide some of them (else this says
    # no more than the floor test).
    assert any(not any(e["floor"] for e in by_rules[k]["evidence"]) for k in rules_flagged)
    assert any(by_model[k]["decided_by"] == "rules" and not any(e["floor"] for e in by_rules[k]["evidence"])
               for k in rules_flagged)
    missed = [(texts[k], by_model[k]["confidence"]) for k in rules_flagged if by_model[k]["label"] == NONE]
    assert missed == []


def test_who_writes_it_does_not_change_the_score(shipped):
    """The same act, as three writers put it, scores within 0.1 (the rules give all three the same)."""
    texts = ["He pushed her", "The suspect pushed the victim", "Male subject pushed an acquaintance"]
    scores = shipped.score_docs(list(shipped.rule_scorer.docs(texts)))
    confidence = [s["confidence"] for s in scores]
    assert all(s["label"] == "violence_without_injury" for s in scores), scores
    assert max(confidence) - min(confidence) <= 0.1, confidence


def test_labels_follow_the_threshold_and_the_likely_band_sits_above_it(shipped):
    marks = shipped.manifest["thresholds"]
    assert marks["likely"] > marks["review"]
    texts = ["Caller reports a noise complaint, music off on arrival, no offences",
             "IP states her partner punched her in the face last night"]
    for score in shipped.score_docs(list(shipped.rule_scorer.docs(texts))):
        assert (score["label"] == NONE) == (score["confidence"] < marks["review"])
        assert score["decided_by"] in ("rules", "model", "both", "none")
        assert (score["decided_by"] == "none") == (score["label"] == NONE)


def test_explain_says_when_the_rules_alone_hold_a_log_without_a_floor_cue(shipped):
    from classifier.scoring.explain import explain_text

    text = "Officers responded to a report of a man waving a machete around in the car park"
    doc = next(iter(shipped.rule_scorer.docs([text])))
    assert not doc._.floor
    out = explain_text(shipped, text)
    floor_section = out.split("FLOOR\n", 1)[1].split("VERDICT", 1)[0]
    assert "the rules alone flag it" in floor_section
    assert "decided by rules" in out.split("with the floor", 1)[1]


def test_what_the_rules_hold_counts_a_light_cue_that_the_rules_alone_flag():
    """Thresholds and the floor's confidence are chosen over this set: a floor label, or the rules' own flag."""
    def record(floor, vwi):
        probabilities = dict(zip(LABELS, _row(violence_without_injury=vwi)))
        return {"floor": floor, "rule_probabilities": probabilities}

    records = [record([], 0.6), record([], 0.3), record(["rape"], 0.0), record([], 0.5)]
    assert held_by_rules(records).tolist() == [True, False, True, True]
    # The floor's confidence over them: the held logs the model doubts (all here), 2 offences of 3, plus the prior.
    assert floor_confidence(held_by_rules(records), ["violence_without_injury", "none", "rape", "none"]) == \
        pytest.approx(3 / 5)
