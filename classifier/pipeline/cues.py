"""Offence cues: spans of a log that point to one of the five offence labels, from `rules/offences.jsonl`."""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc, Span

from classifier.pipeline.extensions import CUES_KEY
from classifier.pipeline.patterns import RuleMatcherComponent
from classifier.pipeline.ruleset import CueRule


# The rules' patterns match on LEMMA, NORM and IS_SENT_START, and the pre-filter windows its search by sentence.
# The cue spans themselves go to a span group, which spaCy's analysis cannot name.
@Language.factory(
    "offence_cues",
    default_config={"spans_key": CUES_KEY},
    assigns=["doc._.cue_rules"],
    requires=["token.lemma", "token.norm", "token.is_sent_start"],
)
def make_offence_cues(nlp: Language, name: str, *, spans_key: str):
    return OffenceCues(nlp, name, spans_key=spans_key)


class OffenceCues(RuleMatcherComponent):
    rule_class = CueRule

    def __init__(self, nlp: Language, name: str, *, spans_key: str):
        super().__init__(nlp, name)
        self.spans_key = spans_key

    def __call__(self, doc: Doc) -> Doc:
        spans = []
        matched = {}
        for rule_id, start, end in self._patterns(doc):
            rule = self.rules[rule_id]
            spans.append(Span(doc, start, end, label=rule.label, span_id=rule_id))
            matched[rule_id] = (rule.kind, rule.weight)
        doc.spans[self.spans_key] = spans
        doc._.cue_rules = matched
        return doc
