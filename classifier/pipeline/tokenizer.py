"""Tokenizer for police logs: the English defaults plus shorthand kept whole (`b/f`, `s.47`, `w/`).

Logs are full of odd whitespace (double spaces, tabs, vertical tabs and other control characters from CAD
exports). spaCy makes each run of it a token of its own, which would break every pattern across it ("pushed
 her"). So the text is tidied before tokenizing: every control character and every whitespace character
but the line break becomes a space, and runs of spaces become one. The original text and, for each
character of the tidied one, its position in the original are kept on the doc (`source_span` maps offsets
back), so evidence offsets still index the text as given. Clean text is left as it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import spacy
from spacy.attrs import ORTH
from spacy.tokens import Doc
from spacy.util import compile_infix_regex

SOURCE_KEY = "incident_classifier.source"
# Anything the tidying would change: whitespace other than a space or line break, control characters, runs of
# spaces.
_UNTIDY = re.compile(r"[^\S\n ]|[\x00-\x08\x0e-\x1f\x7f-\x9f]| {2,}")


def tidy(text: str) -> tuple[str, list[int] | None]:
    """(tidied text, position in text of each tidied character), or (text, None) if there is nothing to tidy."""
    if not _UNTIDY.search(text):
        return text, None
    out: list[str] = []
    origin: list[int] = []
    in_space = False
    for i, char in enumerate(text):
        if char != "\n" and (char.isspace() or unicodedata.category(char) == "Cc"):
            if in_space:
                continue
            char, in_space = " ", True
        else:
            in_space = False
        out.append(char)
        origin.append(i)
    return "".join(out), origin


def source_span(doc: Doc, start: int, end: int, doc_text: str | None = None) -> tuple[int, int, str]:
    """(start, end, text) in the text as given of the characters start:end of the doc's (tidied) text.

    doc_text: `doc.text`, if already at hand (it is made anew from the tokens at every call)."""
    source = doc.user_data.get(SOURCE_KEY)
    if source is None:
        if doc_text is not None:
            return start, end, doc_text[start:end]
        # Evidence starts and ends on token boundaries: the tokens' own text, not the whole log's made anew.
        span = doc.char_span(start, end)
        return start, end, span.text if span is not None else doc.text[start:end]
    text, origin = source
    start, end = origin[start], origin[end - 1] + 1
    return start, end, text[start:end]


class LogTokenizer:
    """spaCy's tokenizer, given tidied text; everything else (special cases, serialisation) is spaCy's."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> Doc:
        tidied, origin = tidy(text)
        doc = self.tokenizer(tidied)
        if origin is not None:
            doc.user_data[SOURCE_KEY] = (text, origin)
        return doc

    def pipe(self, texts: Iterable[str], batch_size: int = 1000):
        for text in texts:
            yield self(text)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


@spacy.registry.tokenizers("incident_classifier.log_tokenizer.v1")
def create_log_tokenizer():
    def make(nlp):
        tokenizer = spacy.util.registry.tokenizers.get("spacy.Tokenizer.v1")()(nlp)
        # Logs run sentences together: "hit her.She left", "pushed/shoved", "IP+SUSP". Split there.
        infixes = list(nlp.Defaults.infixes) + [r"(?<=[a-z])\.(?=[A-Z][a-z])", r"(?<=[A-Za-z])[/+](?=[A-Za-z]{3,})"]
        tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
        return LogTokenizer(tokenizer)

    return make


def add_special_cases(tokenizer, forms: Iterable[str]) -> None:
    """Keep each form (and its lower, upper and title case) as a single token."""
    for form in forms:
        for variant in {form, form.lower(), form.upper(), form.title()}:
            tokenizer.add_special_case(variant, [{ORTH: variant}])
