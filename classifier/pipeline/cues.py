"""Offence cues: spans of a log that point to one of the five offence labels, from `rules/offences.jsonl`."""

from __future__ import annotations

import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

from classifier.pipeline.extensions import CUES_KEY
from classifier.pipeline.patterns import PatternSet
from classifier.ruleset import CueRule, Examples


@Language.factory("offence_cues", default_config={"spans_key": CUES_KEY})
def make_offence_cues(nlp: Language, name: str, *, spans_key: str):
    return OffenceCues(nlp, name, spans_key=spans_key)


class OffenceCues:
    def __init__(self, nlp: Language, name: str, *, spans_key: str):
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.rules: dict[str, CueRule] = {}
        self._patterns = PatternSet(nlp.vocab, nlp.make_doc)

    def add_rules(self, rules: list[CueRule]) -> None:
        for rule in rules:
            self.rules[rule.id] = rule
            self._patterns.add(rule.id, rule.patterns)

    def __call__(self, doc: Doc) -> Doc:
        spans = []
        for rule_id, start, end in self._patterns(doc):
            rule = self.rules[rule_id]
            span = Span(doc, start, end, label=rule.label, span_id=rule_id)
            span._.rule_kind = rule.kind
            span._.weight = rule.weight
            spans.append(span)
        doc.spans[self.spans_key] = spans
        return doc

    def to_disk(self, path, *, exclude=tuple()):
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_jsonl(path / "rules.jsonl", [
            {"id": r.id, "label": r.label, "kind": r.kind, "weight": r.weight, "description": r.description,
             "patterns": list(r.patterns), "examples": {"positive": list(r.examples.positive), "negative": list(r.examples.negative)}}
            for r in self.rules.values()
        ])

    def from_disk(self, path, *, exclude=tuple()):
        self.rules = {}
        self._patterns = PatternSet(self.nlp.vocab, self.nlp.make_doc)
        self.add_rules([
            CueRule(d["id"], d["label"], d["kind"], d["weight"], d["description"], tuple(d["patterns"]),
                    Examples(tuple(d["examples"]["positive"]), tuple(d["examples"]["negative"])))
            for d in srsly.read_jsonl(ensure_path(path) / "rules.jsonl")
        ])
        return self
