"""What the model sees of a log: the rule pipeline's reading of it, as plain data.

The spaCy pipeline runs once per log; its cues, their context and the words marked by negation or
hypothetical scope become one record that the scikit-learn features read. Plain data keeps the trained
model independent of spaCy objects, and lets a batch be analysed once and scored many times.
"""

from __future__ import annotations

from spacy.attrs import IS_PUNCT, IS_SPACE, LEMMA, LOWER
from spacy.tokens import Doc

from classifier.pipeline.extensions import CUES_KEY
from classifier.pipeline.ruleset import DESCRIBING_CATEGORIES, excluded_by

SCOPE_PREFIX = {"negated": "neg_", "hypothetical": "hyp_"}
# The words of a cue the rules read as another event or as not literal ("choked on a sweet", "killing me
# with the noise") are marked too, so that the bare word "choke" in the word features means what it says.
# Unmarked, the word learnt its weight from the corpus's hard negatives and pulled away from an offence.
EXCLUDED_CUE_PREFIX = {"other_event": "oth_", "non_literal": "fig_"}


def _excluded_cue_tokens(doc: Doc) -> dict[int, str]:
    marks: dict[int, str] = {}
    cues = doc.spans[CUES_KEY] if CUES_KEY in doc.spans else []
    for cue, triggers in zip(cues, doc._.cue_triggers or []):
        categories = {t["category"] for t in triggers}
        for category, prefix in EXCLUDED_CUE_PREFIX.items():
            if category in categories:
                for i in range(cue.start, cue.end):
                    marks.setdefault(i, prefix)
    return marks


def marked_words(doc: Doc) -> list[tuple[str, int]]:
    """The words of the record's `marked` text, each with the index of the doc token it was made from.

    `marked` is these words joined by spaces; the index lets what the model read of a log be found in the text
    (classifier.scoring.model_terms).
    """
    words = []
    excluded = _excluded_cue_tokens(doc)
    scopes = doc._.scopes or {}
    strings = doc.vocab.strings
    # Read as arrays, not Token objects: this ran for every token of every log (#17).
    for i, (space, punct, lemma, lower) in enumerate(doc.to_array([IS_SPACE, IS_PUNCT, LEMMA, LOWER]).tolist()):
        if space or punct:
            continue
        prefix = SCOPE_PREFIX.get(scopes.get(i)) or excluded.get(i, "")
        words.append((prefix + strings[lemma or lower], i))
    return words


def analyse(doc: Doc) -> dict:
    words = [word for word, _ in marked_words(doc)]
    cues = []
    for e in doc._.evidence:
        excluded = excluded_by(e["context"])
        described = [c for c in e["context"] if c in DESCRIBING_CATEGORIES]
        cues.append({"rule": e["rule"], "label": e["label"], "kind": e["kind"],
                     "state": excluded[0] if excluded else "active", "described": described})
    return {"text": doc.text, "marked": " ".join(words), "cues": cues, "rule_probabilities": dict(doc._.probabilities),
            "floor": list(doc._.floor or [])}
