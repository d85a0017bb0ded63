"""Compile rule patterns (a phrase string or a spaCy token pattern) into matchers keyed by rule id."""

from __future__ import annotations

import json

from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from classifier.errors import RuleError


class PatternSet:
    def __init__(self, vocab: Vocab, make_doc):
        self.vocab = vocab
        self.make_doc = make_doc
        self.matcher = Matcher(vocab, validate=True)
        self.phrases = PhraseMatcher(vocab, attr="LOWER")

    def add(self, rule_id: str, patterns) -> None:
        tokens, phrases = [], []
        for pattern in patterns:
            if isinstance(pattern, str) and pattern.startswith("["):
                pattern = json.loads(pattern)
            (tokens if isinstance(pattern, list) else phrases).append(pattern)
        if tokens:
            try:
                self.matcher.add(rule_id, tokens, greedy="LONGEST")
            except (ValueError, KeyError) as exc:
                raise RuleError(f"rule {rule_id!r}: invalid token pattern: {exc}") from None
        if phrases:
            self.phrases.add(rule_id, [self.make_doc(p) for p in phrases])

    def __call__(self, doc: Doc) -> list[tuple[str, int, int]]:
        strings = self.vocab.strings
        found = {(strings[m], s, e) for m, s, e in self.matcher(doc)}
        found.update((strings[m], s, e) for m, s, e in self.phrases(doc))
        return sorted(found, key=lambda x: (x[1], x[2], x[0]))
