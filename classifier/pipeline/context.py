"""ConText for offence cues: negated, hypothetical, another event, non-literal, third party, historic.

Triggers are data (`rules/context.jsonl`). A trigger's scope runs forward, backward or both from it, up to
`max_scope` tokens, and stops at the sentence or entry boundary and at a termination trigger ("but",
"however"). An `incident` trigger covers the whole log, every entry before and after it: a later entry that
explains the whole event ("2 drama students rehearsing a scene", "CCTV shows nobody touched him") answers a
cue written an hour earlier. A forward (backward) trigger that falls inside a cue after its first (before its
last) word is part of the cue's own phrasing and does not modify it ("had sex with her after she said no"). A
pseudo-trigger ("no longer", "said no") covers words that look like a trigger but are not one.
Each cue records every trigger that modified it.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc

from classifier.pipeline.extensions import CUES_KEY, TRIGGERS_KEY
from classifier.pipeline.patterns import RuleMatcherComponent
from classifier.pipeline.tokenizer import source_span
from classifier.pipeline.ruleset import ContextRule


# Scopes stop at sentence ends, and a trigger's `targets` are checked against the kind in doc._.cue_rules.
@Language.factory(
    "cue_context",
    default_config={"cues_key": CUES_KEY, "triggers_key": TRIGGERS_KEY},
    assigns=["doc._.cue_triggers", "doc._.scopes", "token._.scope"],
    requires=["token.lemma", "token.norm", "token.is_sent_start", "doc.sents", "doc._.cue_rules"],
)
def make_cue_context(nlp: Language, name: str, *, cues_key: str, triggers_key: str):
    return CueContext(nlp, name, cues_key=cues_key, triggers_key=triggers_key)


# Categories whose scope marks the words it covers (doc._.scopes, read as token._.scope), for the word n-grams.
MARKED_CATEGORIES = ("negated", "hypothetical")


class CueContext(RuleMatcherComponent):
    rule_class = ContextRule

    def __init__(self, nlp: Language, name: str, *, cues_key: str, triggers_key: str):
        super().__init__(nlp, name)
        self.cues_key = cues_key
        self.triggers_key = triggers_key

    def __call__(self, doc: Doc) -> Doc:
        cues = doc.spans[self.cues_key] if self.cues_key in doc.spans else []
        matches = self._patterns(doc)
        pseudo = [(self.rules[r], s, e) for r, s, e in matches if self.rules[r].direction == "pseudo"]
        stops = [(self.rules[r], s) for r, s, e in matches if self.rules[r].direction == "termination"]
        triggers = []
        for rule_id, start, end in matches:
            rule = self.rules[rule_id]
            if rule.direction in ("pseudo", "termination"):
                continue
            if any(s < end and start < e and p.category in (None, rule.category) for p, s, e in pseudo):
                continue
            triggers.append((rule, start, end))
        doc.spans[self.triggers_key] = [doc[s:e] for _, s, e in triggers]
        doc._.cue_triggers = [[] for _ in cues]
        if not triggers:
            return doc
        sent_of = [0] * len(doc)
        bounds = []
        for n, sent in enumerate(doc.sents):
            bounds.append((sent.start, sent.end))
            for i in range(sent.start, sent.end):
                sent_of[i] = n
        scopes = []
        marked = doc._.scopes = {}
        for rule, start, end in triggers:
            sent_start, sent_end = bounds[sent_of[start]]
            width = rule.max_scope or len(doc)
            lo, hi = start, end
            if rule.direction == "incident":
                scopes.append((rule, start, end, 0, len(doc)))
                continue
            if rule.direction in ("forward", "bidirectional"):
                hi = min(sent_end, end + width)
                for stop, s in stops:
                    if end <= s < hi and stop.category in (None, rule.category):
                        hi = s
            if rule.direction in ("backward", "bidirectional"):
                lo = max(sent_start, start - width)
                for stop, s in stops:
                    if lo <= s < start and stop.category in (None, rule.category):
                        lo = s + 1
            scopes.append((rule, start, end, lo, hi))
            if rule.category in MARKED_CATEGORIES and not rule.targets:
                # Words in scope are marked for the word features: "no injuries" -> neg_injury.
                for i in range(lo, hi):
                    if not start <= i < end:
                        marked[i] = rule.category
        cue_rules = doc._.cue_rules or {}
        for cue, found in zip(cues, doc._.cue_triggers):
            kind = cue_rules[cue.id_][0]
            for rule, start, end, lo, hi in scopes:
                if rule.targets and kind not in rule.targets and cue.label_ not in rule.targets:
                    continue
                if not (cue.start < hi and cue.end > lo):
                    continue
                # A one-way trigger inside the cue's own words is part of the cue's phrasing, not context for it:
                # "had sex with her after she said no", "CSE risk", "too drunk to stop him".
                if rule.direction == "forward" and start > cue.start:
                    continue
                if rule.direction == "backward" and end < cue.end:
                    continue
                first, last, text = source_span(doc, doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))
                found.append({"category": rule.category, "rule": rule.id, "text": text,
                              "start": first, "end": last})
        return doc
