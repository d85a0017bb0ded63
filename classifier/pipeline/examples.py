"""Run every rule's examples through the full pipeline: a rule is only finished when they pass.

- cue rule: a positive example fires the rule with no excluding context; a negative one does not.
- context rule: a positive example has a cue that this trigger modifies; a negative one has none.
  Pseudo and termination rules change other triggers, so their examples are judged by the verdict.
- closing-code and crime-offence rules: the pattern matches a positive example and not a negative one.
An example given as {"text": ..., "label": ...} must also get that label.
"""

from __future__ import annotations

from dataclasses import dataclass

from classifier.flags import map_offence
from classifier.pipeline.ruleset import RuleSet, is_excluded
from classifier.scoring.scorers import RuleScorer


@dataclass
class ExampleResult:
    rule: str
    side: str
    text: str
    passed: bool
    problem: str = ""


def _split(example) -> tuple[str, str | None]:
    if isinstance(example, dict):
        return example["text"], example.get("label")
    return example, None


def run_examples(scorer: RuleScorer, rules: RuleSet) -> list[ExampleResult]:
    results: list[ExampleResult] = []
    texted = []
    for rule in [*rules.cues, *rules.context]:
        for side in ("positive", "negative"):
            for example in getattr(rule.examples, side):
                texted.append((rule, side, *_split(example)))
    docs = scorer.docs(text for _, _, text, _ in texted)
    for (rule, side, text, label), doc in zip(texted, docs):
        problem = _check_label(doc, label)
        if not problem:
            problem = (_check_cue if hasattr(rule, "kind") else _check_context)(rule, side, doc, label)
        results.append(ExampleResult(rule.id, side, text, not problem, problem))
    for rule in rules.closing_codes:
        for side in ("positive", "negative"):
            for example in getattr(rule.examples, side):
                text, _ = _split(example)
                hit = bool(rule.regex.search(text))
                ok = hit if side == "positive" else not hit
                results.append(ExampleResult(rule.id, side, text, ok, "" if ok else f"pattern {'missed' if hit is False else 'matched'}"))
    for rule in rules.crime_offences:
        for side in ("positive", "negative"):
            for example in getattr(rule.examples, side):
                text, _ = _split(example)
                mapped = map_offence(text, rules)
                if side == "positive":
                    ok, problem = mapped == rule.label, f"maps to {mapped!r}, expected {rule.label!r}"
                else:
                    ok, problem = not rule.regex.search(text), "pattern matched"
                results.append(ExampleResult(rule.id, side, text, ok, "" if ok else problem))
    return results


def _check_label(doc, label: str | None) -> str:
    if label is not None and doc._.label != label:
        return f"verdict {doc._.label}, expected {label}"
    return ""


def _active(item: dict) -> bool:
    return not is_excluded(item["context"])


def _check_cue(rule, side: str, doc, label) -> str:
    hits = [e for e in doc._.evidence if e["rule"] == rule.id]
    active = [e for e in hits if _active(e)]
    if side == "positive" and not active:
        if hits:
            return "fired, but context " + ", ".join(t["rule"] for t in hits[0]["triggers"]) + " excluded it"
        return "did not fire"
    if side == "negative" and active:
        return f"fired on {active[0]['text']!r}"
    return ""


def _check_context(rule, side: str, doc, label) -> str:
    if rule.direction in ("pseudo", "termination"):
        if label is None:
            return "pseudo and termination examples need a label to check"
        return ""
    modified = any(t["rule"] == rule.id for e in doc._.evidence for t in e["triggers"])
    if side == "positive" and not modified:
        return "modified no cue"
    if side == "negative" and modified:
        return "modified a cue"
    return ""
