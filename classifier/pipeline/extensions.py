"""Custom attributes the pipeline sets on docs, tokens and spans."""

from __future__ import annotations

from spacy.tokens import Doc, Span, Token

from classifier.ruleset import CONTEXT_CATEGORIES

# One place that says which span attribute each context category sets.
CONTEXT_ATTRS: dict[str, str] = {category: f"is_{category}" for category in CONTEXT_CATEGORIES}

CUES_KEY = "offence_cues"
TRIGGERS_KEY = "context_triggers"
ENTRIES_KEY = "entries"


def register() -> None:
    for attr in CONTEXT_ATTRS.values():
        if not Span.has_extension(attr):
            Span.set_extension(attr, default=False)
    if not Span.has_extension("triggers"):
        # Which trigger modified the cue: [{"category", "rule", "text", "start", "end"}]
        Span.set_extension("triggers", default=None)
    for name in ("rule_kind", "weight"):
        if not Span.has_extension(name):
            Span.set_extension(name, default=None)
    if not Token.has_extension("entry"):
        Token.set_extension("entry", default=0)
    if not Token.has_extension("scope"):
        # The context category whose scope covers this token (negated, hypothetical), if any.
        Token.set_extension("scope", default=None)
    # floor: the labels of active offence cues heavy enough that no model may overrule them.
    for name in ("probabilities", "evidence", "label", "floor"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


register()
