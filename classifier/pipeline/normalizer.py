"""Normalise police shorthand and common misspellings, and give every token a lower-case lemma.

`norm_` gets the canonical form of a listed variant ("assualt" -> "assault", "b/f" -> "boyfriend") and
`lemma_` the lemma of that form, so one rule pattern on LEMMA matches "Punched", "punching" and "punchd".
"""

from __future__ import annotations

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import ensure_path


# Requires the lemma because a token with no listed variant keeps the lemmatizer's, when it has one.
@Language.factory(
    "log_normalizer",
    default_config={"lemma_table": "lemma_lookup"},
    assigns=["token.norm", "token.lemma"],
    requires=["token.lemma"],
)
def make_log_normalizer(nlp: Language, name: str, *, lemma_table: str):
    return LogNormalizer(nlp, name, lemma_table=lemma_table)


class LogNormalizer:
    def __init__(self, nlp: Language, name: str, *, lemma_table: str):
        self.name = name
        self.nlp = nlp
        self.lemma_table = lemma_table
        self.norms: dict[str, str] = {}
        self._lemmas: dict | None = None

    def add_variants(self, pairs) -> None:
        """pairs: (variant, norm)."""
        for variant, norm in pairs:
            self.norms[variant.lower()] = norm.lower()

    def _lemma_lookup(self):
        if self._lemmas is None:
            self._lemmas = {}
            if "lemmatizer" in self.nlp.pipe_names:
                lookups = self.nlp.get_pipe("lemmatizer").lookups
                if lookups.has_table(self.lemma_table):
                    self._lemmas = lookups.get_table(self.lemma_table)
        return self._lemmas

    def __call__(self, doc: Doc) -> Doc:
        lemmas = self._lemma_lookup()
        norms = self.norms
        for token in doc:
            if token.is_space:
                continue
            lower = token.lower_
            norm = norms.get(lower)
            if norm is not None:
                token.norm_ = norm
                token.lemma_ = lemmas.get(norm, norm) if " " not in norm else norm
            else:
                lemma = token.lemma_
                if not lemma or lemma == token.text:
                    lemma = lemmas.get(lower, lower)
                token.lemma_ = lemma.lower()
        return doc

    def to_disk(self, path, *, exclude=tuple()):
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "norms.json", self.norms)

    def from_disk(self, path, *, exclude=tuple()):
        self.norms = dict(srsly.read_json(ensure_path(path) / "norms.json"))
        return self
