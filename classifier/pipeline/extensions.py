"""Custom attributes the pipeline sets on docs and tokens.

What belongs to one cue is kept on the doc, in lists and dicts beside the cue span group, never on the spans:
spaCy keys a span's `._` values by its character offsets, so two rules matching the same words would share
(and overwrite) each other's weight, kind and context.
"""

from __future__ import annotations

from spacy.tokens import Doc, Token

CUES_KEY = "offence_cues"
TRIGGERS_KEY = "context_triggers"
ENTRIES_KEY = "entries"


def register() -> None:
    if not Token.has_extension("entry"):
        Token.set_extension("entry", default=0)
    if not Token.has_extension("scope"):
        # The context category whose scope covers this token (negated, hypothetical), if any.
        Token.set_extension("scope", default=None)
    # floor: the labels of active offence cues heavy enough that no model may overrule them.
    # cue_rules: rule id -> (kind, weight) of the cue rules that matched.
    # cue_triggers: for each cue of the span group, in order, the triggers that modified it:
    #   [{"category", "rule", "text", "start", "end"}].
    for name in ("probabilities", "evidence", "label", "floor", "cue_rules", "cue_triggers"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


register()
