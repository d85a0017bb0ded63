"""The labelled corpus in `corpora/incidents/`: loading and the fixed train / dev / test split.

The split is a hash of the incident_id, so it never changes as logs are added and no log moves between
parts. The test part is for final evaluation only: no rule or setting is chosen by looking at it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from classifier.errors import InputError
from classifier.io.readers import read_rows
from classifier.labels import LABELS

SPLITS = ("train", "dev", "test")
_BOUNDS = ((70, "train"), (85, "dev"), (100, "test"))


def split_of(incident_id: str) -> str:
    bucket = int(hashlib.sha256(incident_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return next(name for bound, name in _BOUNDS if bucket < bound)


def writer_of(incident_id: str) -> str:
    """The writer (batch) of a corpus log: its incident_id's prefix, e.g. `MC` of `MC-20250107-2214`."""
    return incident_id.split("-", 1)[0]


def style_of(record: dict) -> str:
    """The writing style a corpus log is written in (its `style` field, e.g. `cad-shorthand`)."""
    return str(record.get("style") or "unnamed")


def load_corpus(folder: str | Path, splits: tuple[str, ...] = SPLITS) -> Iterator[dict]:
    """Labelled logs from every `*.jsonl` file in folder, in file order, restricted to the given splits.

    A log that cannot be trained on stops the load with an InputError naming its file and line: a model must
    not be trained on a corpus that was read only in part.
    """
    for path in sorted(Path(folder).glob("*.jsonl")):
        for record in read_logs(path):
            if split_of(record["incident_id"]) in splits:
                yield record


def read_logs(path: Path) -> Iterator[dict]:
    """The labelled logs of one corpus file, each checked; a log that cannot be trained on stops the read with an
    InputError naming the file and line."""
    # No reject sink: with one, the readers would let a bad line pass; here it must stop the load.
    for number, record in read_rows(path, ("incident_id", "text", "label"), encoding="utf-8"):
        _check_log(path, number, record)
        yield record


# Logs that no rule was written from, kept beside a corpus's own files (in its `rule-blind/` folder) and read
# only to place the `likely` band (classifier.training.train). Every other log of the corpus has been read to
# write or fix a rule, so the rules' precision on them is better than on logs they have not seen; a band placed
# there promises more than it keeps. Never read these logs' misses to write a rule: they would stop being blind.
RULE_BLIND = "rule-blind"


def load_rule_blind(folder: str | Path) -> Iterator[dict]:
    """The labelled logs in the corpus's `rule-blind/` folder (none if it has no such folder), checked as
    `load_corpus` checks its own; they are not split: every one of them is for placing the band."""
    for path in sorted((Path(folder) / RULE_BLIND).glob("*.jsonl")):
        yield from read_logs(path)


def _check_log(path: Path, number: int, record: dict) -> None:
    incident_id, text, label = record.get("incident_id"), record.get("text"), record.get("label")
    if not isinstance(incident_id, str) or not incident_id.strip():
        raise InputError(path, number, "no incident_id (a corpus log needs one, as text)")
    if not isinstance(text, str) or not text.strip():
        raise InputError(path, number, "no text (a corpus log needs its log text, as a string)")
    if label is None:
        raise InputError(path, number, f"no label (a corpus log needs one of: {', '.join(LABELS)})")
    if not isinstance(label, str) or label not in LABELS:
        shown = repr(label) if isinstance(label, str) and len(label) <= 40 else "given"
        raise InputError(path, number, f"label {shown} is not one of: {', '.join(LABELS)}")
