"""Compile rule patterns (a phrase string or a spaCy token pattern) into matchers keyed by rule id.

Patterns may also test `{"_": {"possessed": false}}`: whether the next token is a possessive 's or ', so "grabbed
the victim" is a person grabbed and "grabbed the victim's phone" is not. A Matcher token cannot look ahead,
and a following-token test fails at the end of the text ("he pushed the victim"), so this is a token attribute.
"""

from __future__ import annotations

import dataclasses
import json
from bisect import bisect_right

from spacy.attrs import SENT_START
from spacy.matcher import Matcher
from spacy.tokens import Doc, Token
from spacy.vocab import Vocab

from classifier.errors import RuleError
from classifier.pipeline.ruleset import Examples


def _possessed(token: Token) -> bool:
    """The token belongs to a possessor: "the victim's phone", "the victims' car", "a female officer's taser" (not a
    closing quote, as in "went for him'")."""
    doc = token.doc
    for i in (token.i + 1, token.i + 2):
        if i >= len(doc):
            break
        mark, before = doc[i], doc[i - 1]
        if not before.whitespace_ and (mark.lower_ in ("'s", "\u2019s")
                                       or (mark.lower_ in ("'", "\u2019") and before.lower_.endswith("s"))):
            return True
        if not mark.is_alpha:
            break
    return False


if not Token.has_extension("possessed"):
    Token.set_extension("possessed", getter=_possessed)


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


# spaCy's Matcher runs "{0,N}" as N optional tokens, and reaches a match that uses k of them by each of the
# C(N, k) choices of which: a "{0,22}" gap cost 0.6 s on a 29-token stretch. Gaps this long or longer are
# spelt out instead, one pattern for each length, which accept the same token sequences, so the same matches.
GAP_SPELT_OUT = 4


def spell_out_gaps(pattern: list[dict]) -> list[list[dict]]:
    """The pattern with each "{n,m}" token of m >= GAP_SPELT_OUT as one pattern per count n..m of that token."""
    variants: list[list[dict]] = [[]]
    for spec in pattern:
        op = spec.get("OP", "")
        low, comma, high = op.strip("{}").partition(",")
        if op.startswith("{") and comma and high and int(high) >= GAP_SPELT_OUT:
            token = {k: v for k, v in spec.items() if k != "OP"}
            variants = [v + [token] * count for v in variants for count in range(int(low or 0), int(high) + 1)]
        else:
            variants = [v + [spec] for v in variants]
    return variants


def _repeats(spec: dict) -> tuple[int, float]:
    """(fewest, most) tokens one token pattern matches; most is inf for "*", "+" and "{n,}"."""
    op = spec.get("OP")
    if op is None:
        return 1, 1
    if op == "?":
        return 0, 1
    if op == "!":
        return 0, 1  # it consumes no token; counting one keeps every bound an upper bound
    if op == "*":
        return 0, float("inf")
    if op == "+":
        return 1, float("inf")
    low, _, high = op.strip("{}").partition(",")
    if "," not in op:
        return int(low), int(low)
    return int(low or 0), int(high) if high else float("inf")


def chain(pattern: list[dict]) -> tuple[list[tuple[int, tuple]], list[float], float, float]:
    """The tokens a match cannot do without, in order, and how far apart they can be.

    Returns (mandatory, gaps, before, after): `mandatory` is each required token's index in the pattern and its
    requirements (as `requirements` gives them); gaps[k] the most positions from mandatory token k's first
    token to mandatory token k+1's; `before` the most tokens a match holds before the first mandatory token,
    `after` the most from that token to the match's end (inf where unbounded).
    """
    mandatory = []
    for index, spec in enumerate(pattern):
        need = requirements([spec])
        if need:
            mandatory.append((index, need))
    most = [_repeats(spec)[1] for spec in pattern]
    gaps = [sum(most[a:b]) for (a, _), (b, _) in zip(mandatory, mandatory[1:])]
    first = mandatory[0][0] if mandatory else 0
    return mandatory, gaps, sum(most[:first]), sum(most[first:])


class PatternSet:
    """Token and phrase patterns keyed by rule id; a phrase is matched as the token pattern of its words.

    spaCy's Matcher calls a Python predicate for every IN list at every token a partial match reaches, which
    made it most of the pipeline's cost. So each rule has its own Matcher, and a rule runs on a doc only if one
    of its patterns has every word it requires somewhere in the doc: a cheap set test that skips most rules on
    most logs, with the same matches (greedy filtering is per rule in either case).

    Within its window a rule is searched only where a match can be (`chain`): a match holds its pattern's
    required tokens in order, each within the pattern's reach of the one before, and spans at most so many
    tokens before and after the first. So only the stretches around a first required token from which the
    others can follow are searched, merged where they touch; a rule with no such token is not run at all.
    Matches in two stretches cannot overlap, so greedy filtering gives the same matches as over the whole
    window. A Matcher's cost grows with the tokens it walks; long gaps are spelt out (`spell_out_gaps`).
    """

    def __init__(self, vocab: Vocab, make_doc):
        self.vocab = vocab
        self.make_doc = make_doc
        self.matchers: dict[str, Matcher] = {}
        # rule id -> the requirements of each of its token patterns; a rule with an empty tuple always runs.
        self.needs: dict[str, list[tuple]] = {}
        # rule id -> `chain` of each of its token patterns, its values as string hashes.
        self.chains: dict[str, list[tuple]] = {}
        # Each distinct requirement (attribute, values) gets a number; rule id -> the numbers each of its
        # patterns needs; attribute -> value -> the requirements that value meets. A doc's values then say
        # which requirements it meets in one pass over them, not one set test per pattern and requirement.
        self.requirement_ids: dict[tuple, int] = {}
        self.need_ids: dict[str, list[frozenset]] = {}
        self.meets: dict[str, dict[int, list[int]]] = {}
        self.attrs: list[str] = []

    def compile(self, patterns) -> list[list[dict]]:
        """A rule's patterns (phrases, token patterns or their JSON) as the token patterns the Matcher runs."""
        tokens = []
        for pattern in patterns:
            if isinstance(pattern, str) and pattern.startswith("["):
                pattern = json.loads(pattern)
            if isinstance(pattern, str):
                pattern = [{"LOWER": token.lower_} for token in self.make_doc(pattern) if not token.is_space]
            tokens.append(pattern)
        return tokens

    def add(self, rule_id: str, patterns) -> None:
        tokens = self.compile(patterns)
        if tokens:
            matcher = self.matchers.setdefault(rule_id, Matcher(self.vocab, validate=True))
            try:
                matcher.add(rule_id, [v for pattern in tokens for v in spell_out_gaps(pattern) if v], greedy="LONGEST")
            except (ValueError, KeyError) as exc:
                raise RuleError(f"rule {rule_id!r}: invalid token pattern: {exc}") from None
            needs = self.needs.setdefault(rule_id, [])
            strings = self.vocab.strings
            for pattern in tokens:
                mandatory, gaps, before, after = chain(pattern)
                # Compared as string hashes, the form Doc.to_array gives.
                hashed = [tuple((attr, frozenset(strings.add(v) for v in values)) for attr, values in need)
                          for _, need in mandatory]
                self.chains.setdefault(rule_id, []).append((hashed, gaps, before, after))
                # The pattern's requirements are those of its mandatory tokens, in order (`requirements`).
                need = tuple(requirement for token in hashed for requirement in token)
                needs.append(need)
                self.attrs.extend(attr for attr, _ in need if attr not in self.attrs)
                self.need_ids.setdefault(rule_id, []).append(frozenset(self._requirement_id(r) for r in need))

    def _requirement_id(self, requirement: tuple) -> int:
        number = self.requirement_ids.get(requirement)
        if number is None:
            number = self.requirement_ids[requirement] = len(self.requirement_ids)
            attr, values = requirement
            index = self.meets.setdefault(attr, {})
            for value in values:
                index.setdefault(value, []).append(number)
        return number

    def active(self, doc: Doc) -> dict[str, list[tuple[int, int]]]:
        """The rules with a token pattern whose required words are all in doc, each with the stretches of
        tokens to search.

        A match must contain a token of each of its pattern's required sets. A pattern of bounded length is
        searched only within that length of those tokens (see the class), across any number of sentences. An
        unbounded one is searched from the sentence before the first such token (of the set found least often)
        to the sentence after the last one, so it still crosses a sentence boundary. A rule with a pattern that
        requires nothing is searched in the whole doc.
        """
        if not len(doc):
            return {}
        columns = doc.to_array(self.attrs).reshape(len(doc), len(self.attrs)).T.tolist() if self.attrs else []
        present = {attr: set(column) for attr, column in zip(self.attrs, columns)}
        met_requirements: set[int] = set()
        for attr, values in present.items():
            index = self.meets[attr]
            for value in values:
                numbers = index.get(value)
                if numbers:
                    met_requirements.update(numbers)
        where: dict[str, dict[int, list[int]]] = {}
        sentence: list[int] = []
        bounds: list[int] = []
        windows = {}
        for rule_id, needs in self.needs.items():
            met = [(need, steps) for need, numbers, steps in zip(needs, self.need_ids[rule_id], self.chains[rule_id])
                   if numbers <= met_requirements]
            if not met:
                continue
            if not all(need for need, _ in met):
                windows[rule_id] = [(0, len(doc))]
                continue
            if not where:
                # Built once per doc, and only for a doc where some rule may match.
                for attr, column in zip(self.attrs, columns):
                    index = where[attr] = {}
                    for i, value in enumerate(column):
                        index.setdefault(value, []).append(i)
                for i, flag in enumerate(doc.to_array([SENT_START]).tolist()):
                    if flag == 1 or i == 0:
                        bounds.append(i)
                    sentence.append(len(bounds) - 1)
                bounds.append(len(doc))
            lo, hi = len(doc), 0
            for need, (_, _, before, after) in met:
                if before != float("inf") and after != float("inf"):
                    continue
                anchor = min(
                    ([i for value in values & present[attr] for i in where[attr][value]] for attr, values in need),
                    key=len,
                )
                lo = min(lo, bounds[max(sentence[min(anchor)] - 1, 0)])
                hi = max(hi, bounds[min(sentence[max(anchor)] + 2, len(bounds) - 1)])
            stretches = []
            for _, (mandatory, gaps, before, after) in met:
                if before == float("inf") or after == float("inf"):
                    # Unbounded ("*"): the sentences around its required words are all that bounds it.
                    starts = _chain_starts(mandatory, gaps, where, present, lo, hi)
                    stretches.extend((lo, hi) for _ in starts[:1])
                else:
                    # Bounded: its own length bounds it, however many sentences that crosses (an incident trigger:
                    # "a collie ran out ... no person touched him").
                    starts = _chain_starts(mandatory, gaps, where, present, 0, len(doc))
                    stretches.extend((max(0, i - int(before)), min(len(doc), i + int(after))) for i in starts)
            if not stretches:
                continue
            stretches.sort()
            merged = [list(stretches[0])]
            for start, end in stretches[1:]:
                if start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            windows[rule_id] = [(start, end) for start, end in merged if start < end]
        return windows

    def __call__(self, doc: Doc) -> list[tuple[str, int, int]]:
        strings = self.vocab.strings
        found = set()
        for rule_id, stretches in self.active(doc).items():
            matcher = self.matchers[rule_id]
            for lo, hi in stretches:
                span = doc[lo:hi] if (lo, hi) != (0, len(doc)) else doc
                found.update((strings[m], lo + s, lo + e) for m, s, e in matcher(span, allow_missing=True))
        return sorted(found, key=lambda x: (x[1], x[2], x[0]))


def _chain_starts(mandatory, gaps, where, present, lo: int, hi: int) -> list[int]:
    """Positions in lo:hi of a pattern's first required token from which each later one can follow within its
    reach (`chain`): where a match of the pattern can begin its required tokens."""
    def positions(need) -> list[int]:
        found = None
        for attr, values in need:
            here = {i for value in values & present[attr] for i in where[attr][value] if lo <= i < hi}
            found = here if found is None else found & here
        return sorted(found)

    reachable = positions(mandatory[-1])
    for k in range(len(mandatory) - 2, -1, -1):
        if not reachable:
            return []
        gap = gaps[k]
        later = reachable
        reachable = [p for p in positions(mandatory[k])
                     if (j := bisect_right(later, p)) < len(later) and later[j] - p <= gap]
    return reachable


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
