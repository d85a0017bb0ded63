"""Normalise police shorthand and common misspellings, and give every token a lower-case lemma.

`norm_` gets the canonical form of a listed variant ("assualt" -> "assault", "b/f" -> "boyfriend") and
`lemma_` the lemma of that form, so one rule pattern on LEMMA matches "Punched", "punching" and "punchd".
The lemmas come from the lookup table of spacy-lookups-data, as spaCy's lookup lemmatizer gives them (the
table's lemma of the text as written), which this component does itself.
"""

from __future__ import annotations

import functools

import srsly
from spacy.attrs import LEMMA, NORM, ORTH
from spacy.language import Language
from spacy.lookups import load_lookups
from spacy.tokens import Doc
from spacy.util import ensure_path

# How many forms are remembered (the most recently used), so a long scan's memory stays flat.
_MAX_FORMS = 50_000


@Language.factory(
    "log_normalizer",
    default_config={"lemma_table": "lemma_lookup"},
    assigns=["token.norm", "token.lemma"],
)
def make_log_normalizer(nlp: Language, name: str, *, lemma_table: str):
    return LogNormalizer(nlp, name, lemma_table=lemma_table)


class LogNormalizer:
    def __init__(self, nlp: Language, name: str, *, lemma_table: str):
        self.name = name
        self.nlp = nlp
        self.lemma_table = lemma_table
        self.norms: dict[str, str] = {}
        self._lemmas = None
        self._form = functools.lru_cache(maxsize=_MAX_FORMS)(self._work_out_form)

    def add_variants(self, pairs) -> None:
        """pairs: (variant, norm)."""
        for variant, norm in pairs:
            self.norms[variant.lower()] = norm.lower()
        self._form.cache_clear()

    def initialize(self, get_examples=None, *, nlp=None):
        self._lemma_lookup()

    def _lemma_lookup(self):
        if self._lemmas is None:
            # As spaCy's lemmatizer loads it: an error if spacy-lookups-data has no such table.
            self._lemmas = load_lookups(lang=self.nlp.lang, tables=[self.lemma_table]).get_table(self.lemma_table)
        return self._lemmas

    def __call__(self, doc: Doc) -> Doc:
        # What a token becomes depends only on its text (and a lemma set before, if any), so each form is
        # worked out once and the doc is read and written as arrays: a per-token Python loop over Token
        # objects was a tenth of a scan's time (#17).
        if not len(doc):
            return doc
        values = doc.to_array([ORTH, LEMMA, NORM])
        out = values[:, 1:].copy()
        for i, (orth, lemma, _) in enumerate(values.tolist()):
            form = self._form(orth, lemma)
            out[i, 0] = form[0]
            if form[1]:
                out[i, 1] = form[1]
        doc.from_array([LEMMA, NORM], out)
        return doc

    def _work_out_form(self, orth: int, lemma_id: int) -> tuple[int, int]:
        """(lemma, norm) string ids of a token with this text and this lemma from an earlier component (0 if
        none); norm 0: left as it is."""
        strings = self.nlp.vocab.strings
        text, lemma = strings[orth], strings[lemma_id] if lemma_id else ""
        lemmas = self._lemma_lookup()
        if not lemma:
            # spaCy's lookup lemmatizer: the table's lemma of the text as written, or the text.
            lemma = lemmas.get(text, text)
        if text.isspace():
            return strings.add(lemma), 0
        lower = text.lower()
        norm = self.norms.get(lower)
        if norm is not None:
            return strings.add(lemmas.get(norm, norm) if " " not in norm else norm), strings.add(norm)
        if not lemma or lemma == text:
            lemma = lemmas.get(lower, lower)
        return strings.add(lemma.lower()), 0

    def to_disk(self, path, *, exclude=tuple()):
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "norms.json", self.norms)

    def from_disk(self, path, *, exclude=tuple()):
        self.norms = dict(srsly.read_json(ensure_path(path) / "norms.json"))
        self._form.cache_clear()
        return self
