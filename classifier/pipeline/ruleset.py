"""Rule files: loaded from `rules/`, validated against their schema, hashed into a version.

Every rule carries an id, a description and at least one positive and one negative example. A rule that
does not validate stops the load with the file, the line and the bad value named.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from classifier.errors import RuleError
from classifier.labels import LABELS, OFFENCE_LABELS
from classifier.resources import rules_dir

CUE_KINDS = ("offence", "injury")
# ConText categories. Exclusionary ones stop a cue from counting; the others only describe it.
EXCLUDING_CATEGORIES = ("negated", "hypothetical", "other_event", "non_literal")
DESCRIBING_CATEGORIES = ("third_party", "historic")
CONTEXT_CATEGORIES = EXCLUDING_CATEGORIES + DESCRIBING_CATEGORIES


def excluded_by(context) -> list[str]:
    """The excluding categories among a cue's context categories, in order: why the cue does not count."""
    return [c for c in context if c in EXCLUDING_CATEGORIES]


def is_excluded(context) -> bool:
    """Whether a cue with these context categories is excluded (negated, hypothetical, another event, ...)."""
    return any(c in EXCLUDING_CATEGORIES for c in context)
DIRECTIONS = ("forward", "backward", "bidirectional", "overlap", "incident", "pseudo", "termination")
CRIME_FAMILIES = (*OFFENCE_LABELS, "other")
OFFENCE_WORD = re.compile(r"[a-z]+")

FILES = {
    "offences": "offences.jsonl",
    "context": "context.jsonl",
    "normalisation": "normalisation.jsonl",
    "closing_codes": "closing_codes.jsonl",
    "crime_offences": "crime_offences.jsonl",
    "offence_words": "offence_words.jsonl",
}
# Files a rules folder may lack: one written before they existed still loads (and then has none of them).
OPTIONAL_FILES = ("offence_words",)


@dataclass(frozen=True)
class Examples:
    positive: tuple
    negative: tuple


@dataclass(frozen=True)
class CueRule:
    id: str
    label: str
    kind: str
    weight: float
    description: str
    patterns: tuple
    examples: Examples


@dataclass(frozen=True)
class ContextRule:
    id: str
    category: str | None
    direction: str
    max_scope: int | None
    description: str
    patterns: tuple
    examples: Examples
    targets: tuple = ()


@dataclass(frozen=True)
class Normalisation:
    norm: str
    variants: tuple
    keep_whole: bool


@dataclass(frozen=True)
class RegexRule:
    id: str
    label: str | None
    regex: re.Pattern
    description: str
    examples: Examples


@dataclass(frozen=True)
class OffenceWord:
    """A lemma that names an offence plainly: in the trained model it may only pull toward an offence."""
    word: str
    label: str


@dataclass
class RuleSet:
    cues: list[CueRule] = field(default_factory=list)
    context: list[ContextRule] = field(default_factory=list)
    normalisation: list[Normalisation] = field(default_factory=list)
    closing_codes: list[RegexRule] = field(default_factory=list)
    crime_offences: list[RegexRule] = field(default_factory=list)
    offence_words: list[OffenceWord] = field(default_factory=list)
    version: str = ""
    folder: Path | None = None

    @property
    def offence_lemmas(self) -> list[str]:
        """The offence words as the model reads them (classifier.model.build_estimator's `offence_words`)."""
        return [w.word for w in self.offence_words]

    @property
    def cue_kinds(self) -> dict[str, str]:
        """Each cue rule's kind by its id (classifier.model.build_estimator's `cue_kinds`)."""
        return {cue.id: cue.kind for cue in self.cues}


class _Line:
    """One JSON line being validated, so every error names its file and line."""

    def __init__(self, path: Path, number: int, data: dict):
        self.path, self.number, self.data = path, number, data

    def fail(self, problem: str) -> RuleError:
        rid = self.data.get("id")
        who = f" (rule {rid!r})" if isinstance(rid, str) else ""
        return RuleError(f"{self.path}: line {self.number}{who}: {problem}")

    def keys(self, required: tuple, optional: tuple = ()) -> None:
        missing = [k for k in required if k not in self.data]
        if missing:
            raise self.fail(f"missing key {missing[0]!r}")
        allowed = set(required) | set(optional)
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            raise self.fail(f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key!r} must be a non-empty string")
        return value

    def choice(self, key: str, allowed: tuple) -> str:
        value = self.data.get(key)
        if value not in allowed:
            raise self.fail(f"{key} {value!r} is not allowed; allowed: {', '.join(allowed)}")
        return value

    def examples(self) -> Examples:
        value = self.data.get("examples")
        if not isinstance(value, dict) or set(value) - {"positive", "negative"}:
            raise self.fail("'examples' must be an object with 'positive' and 'negative' lists")
        parts = []
        for side in ("positive", "negative"):
            items = value.get(side)
            if not isinstance(items, list) or not items:
                raise self.fail(f"needs at least one {side} example")
            for item in items:
                if isinstance(item, str) and item.strip():
                    continue
                if isinstance(item, dict) and isinstance(item.get("text"), str) and set(item) <= {"text", "label"}:
                    if "label" in item and item["label"] not in LABELS:
                        raise self.fail(f"example label {item['label']!r} is not one of: {', '.join(LABELS)}")
                    continue
                raise self.fail(f"{side} example {item!r} must be a string or {{'text': ..., 'label': ...}}")
            parts.append(tuple(items))
        return Examples(*parts)

    def patterns(self) -> tuple:
        value = self.data.get("patterns")
        if not isinstance(value, list) or not value:
            raise self.fail("'patterns' must be a non-empty list")
        for pattern in value:
            if isinstance(pattern, str) and pattern.strip():
                continue
            if isinstance(pattern, list) and pattern and all(isinstance(t, dict) and t for t in pattern):
                continue
            raise self.fail(f"pattern {pattern!r} must be a phrase (string) or a token pattern (list of objects)")
        return tuple(json.dumps(p, sort_keys=True) if isinstance(p, list) else p for p in value)

    def regex(self, key: str) -> re.Pattern:
        source = self.text(key)
        try:
            return re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise self.fail(f"{key} is not a valid regular expression: {exc}") from None


def _lines(path: Path):
    if not path.is_file():
        raise RuleError(f"{path}: rule file not found")
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip() or raw.lstrip().startswith("//"):
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RuleError(f"{path}: line {number}: malformed JSON: {exc.msg} at column {exc.colno}") from None
            if not isinstance(data, dict):
                raise RuleError(f"{path}: line {number}: expected a JSON object")
            yield _Line(path, number, data)


def _unique(line: _Line, seen: set, rid: str) -> None:
    if rid in seen:
        raise line.fail(f"duplicate id {rid!r}")
    seen.add(rid)


def load_rules(folder: str | Path | None = None) -> RuleSet:
    folder = Path(folder) if folder else rules_dir()
    rs = RuleSet(folder=folder)
    seen: set[str] = set()
    for line in _lines(folder / FILES["offences"]):
        line.keys(("id", "label", "kind", "weight", "description", "patterns", "examples"))
        rid = line.text("id")
        _unique(line, seen, rid)
        weight = line.data["weight"]
        if not isinstance(weight, (int, float)) or not 0 < weight <= 1:
            raise line.fail(f"weight {weight!r} must be a number in (0, 1]")
        rs.cues.append(CueRule(
            rid, line.choice("label", OFFENCE_LABELS), line.choice("kind", CUE_KINDS), float(weight),
            line.text("description"), line.patterns(), line.examples(),
        ))
    for line in _lines(folder / FILES["context"]):
        line.keys(("id", "direction", "description", "patterns", "examples"), ("category", "max_scope", "targets"))
        rid = line.text("id")
        _unique(line, seen, rid)
        direction = line.choice("direction", DIRECTIONS)
        category = line.data.get("category")
        if direction in ("pseudo", "termination"):
            if category is not None and category not in CONTEXT_CATEGORIES:
                raise line.fail(f"category {category!r} is not allowed; allowed: {', '.join(CONTEXT_CATEGORIES)}")
        else:
            category = line.choice("category", CONTEXT_CATEGORIES)
        scope = line.data.get("max_scope")
        if scope is not None and (not isinstance(scope, int) or scope < 1):
            raise line.fail(f"max_scope {scope!r} must be a positive whole number of tokens")
        targets = line.data.get("targets", [])
        allowed_targets = CUE_KINDS + OFFENCE_LABELS
        if not isinstance(targets, list) or any(t not in allowed_targets for t in targets):
            raise line.fail(f"targets {targets!r} must be a list drawn from: {', '.join(allowed_targets)}")
        rs.context.append(ContextRule(
            rid, category, direction, scope, line.text("description"), line.patterns(), line.examples(), tuple(targets)
        ))
    norms_seen: set[str] = set()
    for line in _lines(folder / FILES["normalisation"]):
        line.keys(("norm", "variants"), ("keep_whole",))
        norm = line.text("norm")
        variants = line.data["variants"]
        if not isinstance(variants, list) or not variants or not all(isinstance(v, str) and v for v in variants):
            raise line.fail("'variants' must be a non-empty list of strings")
        for v in variants:
            if v.lower() in norms_seen:
                raise line.fail(f"variant {v!r} is listed twice")
            norms_seen.add(v.lower())
        keep = line.data.get("keep_whole", False)
        if not isinstance(keep, bool):
            raise line.fail("'keep_whole' must be true or false")
        rs.normalisation.append(Normalisation(norm, tuple(variants), keep))
    for key, target, labels in (("closing_codes", rs.closing_codes, None), ("crime_offences", rs.crime_offences, CRIME_FAMILIES)):
        for line in _lines(folder / FILES[key]):
            line.keys(("id", "pattern", "description", "examples"), ("label",) if labels else ())
            rid = line.text("id")
            _unique(line, seen, rid)
            label = line.choice("label", labels) if labels else None
            target.append(RegexRule(rid, label, line.regex("pattern"), line.text("description"), line.examples()))
    if (folder / FILES["offence_words"]).is_file():
        words_seen: set[str] = set()
        for line in _lines(folder / FILES["offence_words"]):
            line.keys(("word", "label"))
            word = line.text("word")
            if not OFFENCE_WORD.fullmatch(word):
                raise line.fail(f"word {word!r} must be one lower-case lemma (letters only), "
                                "as the word features read it")
            if word in words_seen:
                raise line.fail(f"word {word!r} is listed twice")
            words_seen.add(word)
            rs.offence_words.append(OffenceWord(word, line.choice("label", OFFENCE_LABELS)))
    rs.version = rules_version(folder)
    return rs


def rules_version(folder: Path) -> str:
    """A content hash of the rule files: a flag names the exact rules that raised it."""
    digest = hashlib.sha256()
    for key, name in sorted(FILES.items(), key=lambda item: item[1]):
        if key in OPTIONAL_FILES and not (folder / name).is_file():
            continue
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    return "sha256:" + digest.hexdigest()[:16]
