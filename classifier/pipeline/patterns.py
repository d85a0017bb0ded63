"""Compile rule patterns (a phrase string or a spaCy token pattern) into matchers keyed by rule id."""

from __future__ import annotations

import dataclasses
import json

from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from classifier.errors import RuleError
from classifier.ruleset import Examples


# Token attributes whose values a pattern can require, under the attribute Doc.to_array reads them by.
ANCHOR_ATTRS = {"LOWER": "LOWER", "LEMMA": "LEMMA", "NORM": "NORM", "ORTH": "ORTH", "TEXT": "ORTH"}


def requirements(pattern: list[dict]) -> tuple[tuple[str, frozenset], ...]:
    """The words a token pattern cannot match without: (attribute, allowed values), one per mandatory token.

    Only tokens that must occur (no OP, or "+") with a plain value or an IN list count; anything else (REGEX,
    NOT_IN, optional tokens, extensions) could match any word, so it requires nothing.
    """
    found = []
    for spec in pattern:
        if spec.get("OP", "+") != "+":
            continue
        for attr, prop in ANCHOR_ATTRS.items():
            value = spec.get(attr)
            if isinstance(value, str):
                found.append((prop, frozenset([value])))
            elif isinstance(value, dict) and set(value) == {"IN"}:
                found.append((prop, frozenset(value["IN"])))
    return tuple(found)


# Whitespace beyond a single space (a double space, a tab, a vertical tab from a CAD export) is a token of its
# own in spaCy; logs are full of it, so a pattern allows any run of it between two of its tokens.
SPACES = {"IS_SPACE": True, "OP": "*"}


def _is_gap(spec: dict) -> bool:
    """A spec that already matches runs of any token, whitespace included."""
    op = spec.get("OP", "")
    return op == "*" or op.startswith("{0,")


def allow_spaces(pattern: list[dict]) -> list[dict]:
    """The pattern with runs of whitespace tokens allowed between its tokens."""
    spaced: list[dict] = []
    for spec in pattern:
        if spaced and not _is_gap(spaced[-1]) and not _is_gap(spec):
            spaced.append(SPACES)
        spaced.append(spec)
    return spaced


class PatternSet:
    """Token and phrase patterns keyed by rule id; a phrase is matched as the token pattern of its words.

    spaCy's Matcher calls a Python predicate for every IN list at every token a partial match reaches, which
    made it most of the pipeline's cost. So each rule has its own Matcher, and a rule runs on a doc only if one
    of its patterns has every word it requires somewhere in the doc: a cheap set test that skips most rules on
    most logs, with the same matches (greedy filtering is per rule in either case).
    """

    def __init__(self, vocab: Vocab, make_doc):
        self.vocab = vocab
        self.make_doc = make_doc
        self.matchers: dict[str, Matcher] = {}
        # rule id -> the requirements of each of its token patterns; a rule with an empty tuple always runs.
        self.needs: dict[str, list[tuple]] = {}
        self.attrs: list[str] = []

    def compile(self, patterns) -> list[list[dict]]:
        """A rule's patterns (phrases, token patterns or their JSON) as the token patterns the Matcher runs."""
        tokens = []
        for pattern in patterns:
            if isinstance(pattern, str) and pattern.startswith("["):
                pattern = json.loads(pattern)
            if isinstance(pattern, str):
                pattern = [{"LOWER": token.lower_} for token in self.make_doc(pattern) if not token.is_space]
            tokens.append(allow_spaces(pattern))
        return tokens

    def add(self, rule_id: str, patterns) -> None:
        tokens = self.compile(patterns)
        if tokens:
            matcher = self.matchers.setdefault(rule_id, Matcher(self.vocab, validate=True))
            try:
                matcher.add(rule_id, tokens, greedy="LONGEST")
            except (ValueError, KeyError) as exc:
                raise RuleError(f"rule {rule_id!r}: invalid token pattern: {exc}") from None
            needs = self.needs.setdefault(rule_id, [])
            strings = self.vocab.strings
            for pattern in tokens:
                # Compared as string hashes, the form Doc.to_array gives.
                need = tuple((attr, frozenset(strings.add(v) for v in values)) for attr, values in requirements(pattern))
                needs.append(need)
                self.attrs.extend(attr for attr, _ in need if attr not in self.attrs)

    def active(self, doc: Doc) -> list[str]:
        """The rules with a token pattern whose required words are all in doc."""
        columns = doc.to_array(self.attrs).reshape(len(doc), len(self.attrs)) if self.attrs else None
        present = {attr: set(columns[:, i].tolist()) for i, attr in enumerate(self.attrs)}
        return [
            rule_id for rule_id, needs in self.needs.items()
            if any(all(not present[attr].isdisjoint(values) for attr, values in need) for need in needs)
        ]

    def __call__(self, doc: Doc) -> list[tuple[str, int, int]]:
        strings = self.vocab.strings
        found = set()
        for rule_id in self.active(doc):
            found.update((strings[m], s, e) for m, s, e in self.matchers[rule_id](doc, allow_missing=True))
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
