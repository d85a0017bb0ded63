"""What the model sees of a log: the rule pipeline's reading of it, as plain data.

The spaCy pipeline runs once per log; its cues, their context and the words marked by negation or
hypothetical scope become one record that the scikit-learn features read. Plain data keeps the trained
model independent of spaCy objects, and lets a batch be analysed once and scored many times.
"""

from __future__ import annotations

from spacy.tokens import Doc

from classifier.ruleset import DESCRIBING_CATEGORIES, EXCLUDING_CATEGORIES

SCOPE_PREFIX = {"negated": "neg_", "hypothetical": "hyp_"}


def analyse(doc: Doc) -> dict:
    words = []
    for token in doc:
        if token.is_space or token.is_punct:
            continue
        prefix = SCOPE_PREFIX.get(token._.scope, "")
        words.append(prefix + (token.lemma_ or token.lower_))
    cues = []
    for e in doc._.evidence:
        excluded = [c for c in e["context"] if c in EXCLUDING_CATEGORIES]
        described = [c for c in e["context"] if c in DESCRIBING_CATEGORIES]
        cues.append({"rule": e["rule"], "label": e["label"], "kind": e["kind"],
                     "state": excluded[0] if excluded else "active", "described": described})
    return {"text": doc.text, "marked": " ".join(words), "cues": cues, "rule_probabilities": dict(doc._.probabilities),
            "floor": list(doc._.floor or [])}
