"""From scores to flags: which incidents disclose an offence that no linked crime record covers."""

from __future__ import annotations

from classifier.clock import now
from classifier.io.readers import CrimeRecord, Incident
from classifier.labels import NONE, OFFENCE_LABELS, covers
from classifier.pipeline.ruleset import RuleSet

OTHER = "other"


def map_offence(offence: str | None, rules: RuleSet) -> str | None:
    """The label a recorded offence maps to, `other` for a known offence outside the five, None if unknown."""
    rule = _first_match(rules.crime_offences, offence)
    return rule.label if rule else None


def crime_covers(crime: CrimeRecord, label: str, rules: RuleSet) -> bool:
    if crime.label:
        return crime.label != NONE and covers(crime.label, label)
    mapped = map_offence(crime.offence, rules)
    if mapped is None:
        # Recorded, and classified by a person in words we cannot map: trust the record (formats.md).
        return True
    return mapped != OTHER and covers(mapped, label)


def closing_claims_no_offence(closing_code: str | None, rules: RuleSet) -> str | None:
    """The id of the closing-code rule that says "no offence", if the incident was closed that way."""
    rule = _first_match(rules.closing_codes, closing_code)
    return rule.id if rule else None


def _first_match(regex_rules, text: str | None):
    """Regex rules are tried in file order; the first that matches decides."""
    if not text:
        return None
    return next((rule for rule in regex_rules if rule.regex.search(text)), None)


def offence_label(score: dict) -> str:
    """The label a flag is judged by: the score's, or when that is none, the likeliest offence."""
    if score["label"] != NONE:
        return score["label"]
    return max(OFFENCE_LABELS, key=lambda name: score["probabilities"][name])


def is_covered(score: dict, crimes: list[CrimeRecord], rules: RuleSet) -> bool:
    label = offence_label(score)
    return any(crime_covers(c, label, rules) for c in crimes)


def make_flag(
    incident: Incident, score: dict, crimes: list[CrimeRecord], *, threshold: float, rules: RuleSet,
    likely: float | None = None, scanned_at: str | None = None,
) -> dict | None:
    """The flag for one scored incident, or None when it is below the threshold or already covered.

    A flag at or above `likely` is banded `likely`; between `threshold` and `likely`, `review`. An incident the
    rule floor holds (an evidence item marked `floor`) is flagged whatever threshold was asked for.
    """
    held_by_floor = any(e.get("floor") for e in score["evidence"])
    if (score["confidence"] < threshold and not held_by_floor) or is_covered(score, crimes, rules):
        return None
    label = offence_label(score)
    reason = f"linked crime record does not cover {label}" if crimes else "no linked crime record"
    conflict = None
    if closing_claims_no_offence(incident.closing_code, rules):
        conflict = f"closed as {incident.closing_code!r}, but the log discloses {label}"
    likely = threshold if likely is None else max(likely, threshold)
    decided_by = score.get("decided_by")
    if decided_by in (None, "none"):
        # Flagged at a threshold below the model's own: the model raised it.
        decided_by = "model"
    return {
        **score,
        "decided_by": decided_by,
        "band": "likely" if score["confidence"] >= likely else "review",
        "reason": reason,
        "closing_code_conflict": conflict,
        "linked_crimes": [c.crime_id for c in crimes],
        "rules": rules.version,
        "scanned_at": scanned_at or now(),
    }
