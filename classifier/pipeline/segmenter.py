"""Split a log into entries and sentences: line breaks, time stamps, `//` and sentence punctuation.

Context scope never crosses these boundaries, so a "no injuries" in one entry cannot cancel a "pushed
her" in the next.
"""

from __future__ import annotations

import re

from spacy.language import Language
from spacy.tokens import Doc

from classifier.pipeline.extensions import ENTRIES_KEY

DEFAULT_TIME = r"^(\d{1,2}[:.]\d{2}(:\d{2})?(hrs?)?|\d{4}(hrs?|h)|\[?\d{1,2}/\d{1,2}(/\d{2,4})?\]?)$"


@Language.factory(
    "log_segmenter",
    default_config={"separators": ["//", "||", "***", "**"], "sentence_ends": [".", "!", "?", ";"], "time_pattern": DEFAULT_TIME},
)
def make_log_segmenter(nlp: Language, name: str, *, separators: list[str], sentence_ends: list[str], time_pattern: str):
    return LogSegmenter(name, separators=separators, sentence_ends=sentence_ends, time_pattern=time_pattern)


class LogSegmenter:
    def __init__(self, name: str, *, separators: list[str], sentence_ends: list[str], time_pattern: str):
        self.name = name
        self.separators = set(separators)
        self.sentence_ends = set(sentence_ends)
        self.time = re.compile(time_pattern, re.IGNORECASE)

    def __call__(self, doc: Doc) -> Doc:
        entry_starts = [0] if len(doc) else []
        new_sentence = True
        new_entry = False
        for token in doc:
            text = token.text
            if token.is_space:
                token.is_sent_start = new_sentence if token.i == 0 else False
                if "\n" in text:
                    new_sentence = new_entry = True
                continue
            # A time stamp mid-line after a full stop or separator starts a new entry as well.
            if not new_entry and new_sentence and token.i > 0 and self.time.match(text):
                new_entry = True
            token.is_sent_start = new_sentence or token.i == 0
            if new_entry and token.i > 0:
                entry_starts.append(token.i)
            new_sentence = new_entry = False
            if text in self.separators:
                new_sentence = True
            elif text in self.sentence_ends:
                new_sentence = True
        spans = []
        bounds = entry_starts + [len(doc)]
        for n, (start, end) in enumerate(zip(bounds, bounds[1:])):
            for token in doc[start:end]:
                token._.entry = n
            spans.append(doc[start:end])
        doc.spans[ENTRIES_KEY] = spans
        return doc
