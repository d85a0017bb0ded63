"""Split a log into entries and sentences: line breaks, time stamps, `//`, ` / ` and sentence punctuation.

Context scope never crosses these boundaries, so a "no injuries" in one entry cannot cancel a "pushed
her" in the next.

A separator written with spaces round it (" / ") ends a sentence only where the log has spaces on both
sides: "no injuries / b/f pushed her" is two clauses, but "b/f", "s/he" and "punched/kicked" are not split.
"""

from __future__ import annotations

import functools
import re

import numpy
from spacy.attrs import ORTH, SENT_START, SPACY
from spacy.language import Language
from spacy.tokens import Doc

from classifier.pipeline.extensions import ENTRIES_KEY

DEFAULT_TIME = r"^(\d{1,2}[:.]\d{2}(:\d{2})?(hrs?)?|\d{4}(hrs?|h)|\[?\d{1,2}/\d{1,2}(/\d{2,4})?\]?)$"


@Language.factory(
    "log_segmenter",
    default_config={"separators": ["//", "||", "***", "**", " / "], "sentence_ends": [".", "!", "?", ";"], "time_pattern": DEFAULT_TIME},
    # The entries span group is set too, but spaCy's analysis has no name for span groups.
    # token._.entry is read from doc._.entry_starts (classifier.pipeline.extensions).
    assigns=["token.is_sent_start", "doc.sents", "doc._.entry_starts", "token._.entry"],
)
def make_log_segmenter(nlp: Language, name: str, *, separators: list[str], sentence_ends: list[str], time_pattern: str):
    return LogSegmenter(nlp, name, separators=separators, sentence_ends=sentence_ends, time_pattern=time_pattern)


class LogSegmenter:
    def __init__(self, nlp: Language, name: str, *, separators: list[str], sentence_ends: list[str],
                 time_pattern: str):
        self.name = name
        self.strings = nlp.vocab.strings
        # A separator with a space on each side (" / ") counts only as a token with whitespace on each side.
        self.separators = {s for s in separators if s == s.strip()}
        self.spaced = {s.strip() for s in separators if s != s.strip() and s.strip()}
        self.sentence_ends = set(sentence_ends)
        self.time = re.compile(time_pattern, re.IGNORECASE)
        self._kind = functools.lru_cache(maxsize=_MAX_KINDS)(self._work_out_kind)

    def _work_out_kind(self, orth: int) -> int:
        """What a token of this text (its string id) can do to the segmentation (the _SPACE... bits)."""
        text = self.strings[orth]
        if text.isspace():
            return _SPACE | (_LINE_BREAK if "\n" in text else 0)
        kind = _TIME if self.time.match(text) else 0
        if text in self.separators:
            kind |= _SEPARATOR
        if text in self.spaced:
            kind |= _SPACED
        if text in self.sentence_ends:
            kind |= _SENTENCE_END
        return kind

    def __call__(self, doc: Doc) -> Doc:
        n = len(doc)
        entry_starts = [0] if n else []
        # Set in one array: Token.is_sent_start= checks the whole doc for a parse each time, which made an
        # incident of thousands of entries take minutes. The tokens are read as arrays, and what each text
        # can do is worked out once: a loop over Token objects was a tenth of a scan's time (#17).
        sent_starts = numpy.full((n, 1), -1, dtype="int32")
        values = doc.to_array([ORTH, SPACY]).tolist() if n else []
        new_sentence = True
        new_entry = False
        for i, (orth, spaced) in enumerate(values):
            kind = self._kind(orth)
            if kind & _SPACE:
                if i == 0 and new_sentence:
                    sent_starts[0, 0] = 1
                if kind & _LINE_BREAK:
                    new_sentence = new_entry = True
                continue
            # A time stamp mid-line after a full stop or separator starts a new entry as well.
            if not new_entry and new_sentence and i > 0 and kind & _TIME:
                new_entry = True
            if new_sentence or i == 0:
                sent_starts[i, 0] = 1
            if new_entry and i > 0:
                entry_starts.append(i)
            new_sentence = new_entry = False
            if kind & _SEPARATOR:
                new_sentence = True
            elif kind & _SPACED and spaced and i > 0 and values[i - 1][1]:
                new_sentence = True
            elif kind & _SENTENCE_END:
                new_sentence = True
        if n:
            doc.from_array([SENT_START], sent_starts.astype("uint64"))
        bounds = entry_starts + [n]
        doc.spans[ENTRIES_KEY] = [doc[start:end] for start, end in zip(bounds, bounds[1:])]
        doc._.entry_starts = entry_starts
        return doc


# What a token's text can do: a space (with or without a line break), a time stamp, a separator, a spaced
# separator (" / "), a sentence end.
_SPACE, _LINE_BREAK, _TIME, _SEPARATOR, _SPACED, _SENTENCE_END = 1, 2, 4, 8, 16, 32
_MAX_KINDS = 50_000
