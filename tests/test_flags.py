from __future__ import annotations

import pytest

from classifier.flags import crime_covers, make_flag, map_offence
from classifier.io.readers import CrimeRecord, Incident
from classifier.labels import covers

from helpers import score_record


@pytest.mark.parametrize("recorded, disclosed, expected", [
    ("rape", "rape", True),
    ("rape", "other_sexual", True),
    ("other_sexual", "rape", False),
    ("violence_with_injury", "violence_without_injury", True),
    ("violence_without_injury", "violence_with_injury", False),
    ("violence_with_injury", "stalking_harassment", False),
    ("stalking_harassment", "violence_without_injury", False),
])
def test_covers_same_or_more_serious_in_family(recorded, disclosed, expected):
    assert covers(recorded, disclosed) is expected


@pytest.mark.parametrize("offence, label", [
    ("Assault occasioning actual bodily harm", "violence_with_injury"),
    ("S39 common assault", "violence_without_injury"),
    ("Criminal damage to a dwelling", "other"),
    ("Rape of a female aged 16 and over", "rape"),
    ("Controlling or coercive behaviour", "stalking_harassment"),
    ("Exposure", "other_sexual"),
    ("Offence code 9ZZ", None),
])
def test_offences_map_to_labels(rules, offence, label):
    assert map_offence(offence, rules) == label


def test_a_crime_of_another_family_does_not_cover(rules):
    assert not crime_covers(CrimeRecord("1", "A", None, "Criminal damage"), "violence_without_injury", rules)


def test_a_crime_a_person_classified_in_unmapped_words_covers(rules):
    assert crime_covers(CrimeRecord("1", "A", None, "Offence code 9ZZ"), "violence_with_injury", rules)


def test_flag_reasons_and_closing_conflict(rules):
    incident = Incident("A", "text", 2, closing_code="DOMESTIC - VERBAL ONLY")
    flag = make_flag(incident, score_record(), [], threshold=0.5, rules=rules, scanned_at="t")
    assert flag["reason"] == "no linked crime record"
    assert flag["closing_code_conflict"] == "closed as 'DOMESTIC - VERBAL ONLY', but the log discloses violence_without_injury"
    damage = CrimeRecord("20/1/26", "A", None, "Criminal damage")
    flag = make_flag(incident, score_record(), [damage], threshold=0.5, rules=rules, scanned_at="t")
    assert flag["reason"] == "linked crime record does not cover violence_without_injury"
    assert flag["linked_crimes"] == ["20/1/26"]


def test_no_flag_below_threshold_or_when_covered(rules):
    incident = Incident("A", "text", 2)
    assert make_flag(incident, score_record(confidence=0.4), [], threshold=0.5, rules=rules) is None
    abh = CrimeRecord("20/1/26", "A", "violence_with_injury")
    assert make_flag(incident, score_record(), [abh], threshold=0.5, rules=rules) is None


def test_a_floor_flag_holds_whatever_threshold_scan_is_given(rules):
    incident = Incident("A", "he punched her", 2)
    floor_cue = {"rule": "punch-kick-slap", "label": "violence_without_injury", "text": "punched her", "start": 3,
                 "end": 14, "context": [], "triggers": [], "kind": "offence", "entry": 0, "floor": True}
    held = {**score_record(confidence=0.35), "evidence": [floor_cue], "decided_by": "rules"}
    flag = make_flag(incident, held, [], threshold=0.9, likely=0.95, rules=rules, scanned_at="t")
    assert flag is not None and flag["band"] == "review" and flag["decided_by"] == "rules"
    # The same confidence without a floor cue is below the threshold asked for.
    assert make_flag(incident, {**held, "evidence": [{**floor_cue, "floor": False}]}, [], threshold=0.9,
                     rules=rules) is None
    # Flagged at a threshold below the model's own, the model raised it.
    lowered = {**score_record(confidence=0.35), "label": "none", "decided_by": "none"}
    assert make_flag(incident, lowered, [], threshold=0.3, rules=rules, scanned_at="t")["decided_by"] == "model"
