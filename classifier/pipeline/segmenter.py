"""Split a log into entries and sentences: line breaks, time stamps, `//`, ` / ` and sentence punctuation.

Context scope never crosses these boundaries, so a "no injuries" in one entry cannot cancel a "pushed
her" in the next.

A separator written with spaces round it (" / ") ends a sentence only where the log has spaces on both
sides: "no injuries / b/f pushed her" is two clauses, but "b/f", "s/he" and "punched/kicked" are not split.
"""

from __future__ import annotations

import re

import numpy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from classifier.pipeline.extensions import ENTRIES_KEY

DEFAULT_TIME = r"^(\d{1,2}[:.]\d{2}(:\d{2})?(hrs?)?|\d{4}(hrs?|h)|\[?\d{1,2}/\d{1,2}(/\d{2,4})?\]?)$"


@Language.factory(
    "log_segmenter",
    default_config={"separators": ["//", "||", "***", "**", " / "], "sentence_ends": [".", "!", "?", ";"], "time_pattern": DEFAULT_TIME},
    # The entries span group is set too, but spaCy's analysis has no name for span groups.
    assigns=["token.is_sent_start", "doc.sents", "token._.entry"],
)
def make_log_segmenter(nlp: Language, name: str, *, separators: list[str], sentence_ends: list[str], time_pattern: str):
    return LogSegmenter(name, separators=separators, sentence_ends=sentence_ends, time_pattern=time_pattern)


class LogSegmenter:
    def __init__(self, name: str, *, separators: list[str], sentence_ends: list[str], time_pattern: str):
        self.name = name
        # A separator with a space on each side (" / ") counts only as a token with whitespace on each side.
        self.separators = {s for s in separators if s == s.strip()}
        self.spaced = {s.strip() for s in separators if s != s.strip() and s.strip()}
        self.sentence_ends = set(sentence_ends)
        self.time = re.compile(time_pattern, re.IGNORECASE)

    def __call__(self, doc: Doc) -> Doc:
        entry_starts = [0] if len(doc) else []
        # Set in one array: Token.is_sent_start= checks the whole doc for a parse each time, which made an
        # incident of thousands of entries take minutes.
        sent_starts = numpy.full((len(doc), 1), -1, dtype="int32")
        new_sentence = True
        new_entry = False
        for token in doc:
            text = token.text
            if token.is_space:
                if token.i == 0 and new_sentence:
                    sent_starts[0, 0] = 1
                if "\n" in text:
                    new_sentence = new_entry = True
                continue
            # A time stamp mid-line after a full stop or separator starts a new entry as well.
            if not new_entry and new_sentence and token.i > 0 and self.time.match(text):
                new_entry = True
            if new_sentence or token.i == 0:
                sent_starts[token.i, 0] = 1
            if new_entry and token.i > 0:
                entry_starts.append(token.i)
            new_sentence = new_entry = False
            if text in self.separators:
                new_sentence = True
            elif text in self.spaced and token.whitespace_ and token.i > 0 and doc[token.i - 1].whitespace_:
                new_sentence = True
            elif text in self.sentence_ends:
                new_sentence = True
        if len(doc):
            doc.from_array([SENT_START], sent_starts.astype("uint64"))
        spans = []
        bounds = entry_starts + [len(doc)]
        for n, (start, end) in enumerate(zip(bounds, bounds[1:])):
            for token in doc[start:end]:
                token._.entry = n
            spans.append(doc[start:end])
        doc.spans[ENTRIES_KEY] = spans
        return doc
