"""Compile rule patterns (a phrase string or a spaCy token pattern) into matchers keyed by rule id."""

from __future__ import annotations

import dataclasses
import json

from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from classifier.errors import RuleError
from classifier.ruleset import Examples


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


class RuleMatcherComponent:
    """A pipeline component whose state is a set of rules (dataclasses with patterns), saved as JSON lines."""

    rule_class: type

    def __init__(self, nlp, name: str):
        self.nlp = nlp
        self.name = name
        self.rules: dict = {}
        self._patterns = PatternSet(nlp.vocab, nlp.make_doc)

    def add_rules(self, rules) -> None:
        for rule in rules:
            self.rules[rule.id] = rule
            self._patterns.add(rule.id, rule.patterns)

    def to_disk(self, path, *, exclude=tuple()):
        from spacy.util import ensure_path

        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        # The json module, not srsly's ujson: floats must come back exactly as written.
        with open(path / "rules.jsonl", "w", encoding="utf-8") as fh:
            for rule in self.rules.values():
                fh.write(json.dumps(dataclasses.asdict(rule), ensure_ascii=False) + "\n")

    def from_disk(self, path, *, exclude=tuple()):
        from spacy.util import ensure_path

        self.rules = {}
        self._patterns = PatternSet(self.nlp.vocab, self.nlp.make_doc)
        rules = []
        lines = (ensure_path(path) / "rules.jsonl").read_text(encoding="utf-8").splitlines()
        for data in (json.loads(line) for line in lines if line.strip()):
            examples = data.pop("examples")
            data["examples"] = Examples(tuple(examples["positive"]), tuple(examples["negative"]))
            rules.append(self.rule_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}))
        self.add_rules(rules)
        return self
