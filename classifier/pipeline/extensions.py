"""Custom attributes the pipeline sets on docs and tokens.

What belongs to one cue is kept on the doc, in lists and dicts beside the cue span group, never on the spans:
spaCy keys a span's `._` values by its character offsets, so two rules matching the same words would share
(and overwrite) each other's weight, kind and context.

A token's entry and scope are read from the doc too (`entry_starts`, `scopes`), not stored on every token, which
cost a tenth of a scan's time. spaCy does not carry a doc's `._` values into `Doc.from_docs` or
`Span.as_doc`: on such a doc every token reads entry 0 and no scope. Nothing here builds one.
"""

from __future__ import annotations

from bisect import bisect_right

from spacy.tokens import Doc, Token

CUES_KEY = "offence_cues"
TRIGGERS_KEY = "context_triggers"
ENTRIES_KEY = "entries"


def _entry(token: Token) -> int:
    """The number of the entry (classifier.pipeline.segmenter) the token is in; 0 before the log is segmented.
    Found from where the entries start, not stored on every token: few tokens are ever asked."""
    starts = token.doc._.entry_starts
    return max(bisect_right(starts, token.i) - 1, 0) if starts else 0


def _scope(token: Token) -> str | None:
    scopes = token.doc._.scopes
    return scopes.get(token.i) if scopes else None


def register() -> None:
    if not Token.has_extension("entry"):
        Token.set_extension("entry", getter=_entry)
    if not Token.has_extension("scope"):
        # The context category whose scope covers this token (negated, hypothetical), if any: read from the
        # doc's `scopes` (token index -> category), which the context component sets in one dict.
        Token.set_extension("scope", getter=_scope)
    # floor: the labels of active offence cues heavy enough that no model may overrule them.
    # cue_rules: rule id -> (kind, weight) of the cue rules that matched.
    # cue_triggers: for each cue of the span group, in order, the triggers that modified it:
    #   [{"category", "rule", "text", "start", "end"}].
    # scopes: token index -> the context category (negated, hypothetical) whose scope covers it.
    # entry_starts: the index of the first token of each entry (the span group `entries`), in order.
    for name in ("probabilities", "evidence", "label", "floor", "cue_rules", "cue_triggers", "scopes", "entry_starts"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


register()
