"""Label-preserving rewrites (classifier.training.augment): what each one does, and that the rules still read them."""

from __future__ import annotations

import json

import pytest

from classifier.training.augment import KINDS, rewrite, variants
from classifier.labels import NONE
from helpers import ROOT


def test_each_rewrite_retells_the_same_event():
    assert rewrite("He punched her and took her phone.", "gender") == "She punched him and took his phone."
    assert rewrite("my ex grabbed me by the throat", "person") == "the caller's ex grabbed the caller by the throat"
    assert rewrite("I/P hit by S1", "person") == "I/P hit by S1"  # "I/P" is the injured party, not "I"
    assert rewrite("the victim was kicked by her boyfriend", "shorthand") == "IP WAS KICKED BY HER BF"
    assert (rewrite("RP STS SUSP ASSLTD HER W/ A BAT", "shorthand")
            == "Reporting person states the suspect assltd her with a bat")
    assert rewrite("Caller says he hit her in the car park", "us_uk") == "RP says he struck her in the parking lot"
    assert rewrite("V1 was struck by S1 in the parking lot", "us_uk") == "the IP was hit by the suspect in the car park"
    assert variants("nothing to change here 123", ["person"]) == []
    with pytest.raises(ValueError, match="is not one of"):
        rewrite("text", "pig-latin")


@pytest.mark.parametrize("kind", KINDS)
def test_the_rules_still_find_the_offences_of_their_own_examples_after_a_rewrite(kind, scorer):
    examples = [e["text"] if isinstance(e, dict) else e
                for line in (ROOT / "rules" / "offences.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip() for e in json.loads(line)["examples"]["positive"]]
    found = [1.0 - doc._.probabilities[NONE] >= 0.5 for doc in scorer.docs(examples)]
    kept = [1.0 - doc._.probabilities[NONE] >= 0.5 for doc in scorer.docs(rewrite(t, kind) for t in examples)]
    before = sum(found)
    still = sum(1 for f, k in zip(found, kept) if f and k)
    # A rewrite is word for word; the few it loses are rules that read one voice only (e.g. negation in shorthand).
    assert still / before >= 0.95, f"{kind}: {still} of {before}"
