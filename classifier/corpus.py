"""The labelled corpus in `corpora/incidents/`: loading and the fixed train / dev / test split.

The split is a hash of the incident_id, so it never changes as logs are added and no log moves between
parts. The test part is for final evaluation only: no rule or setting is chosen by looking at it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

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
    """Labelled logs from every `*.jsonl` file in folder, in file order, restricted to the given splits."""
    for path in sorted(Path(folder).glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if record.get("label") not in LABELS:
                    raise ValueError(f"{path}: line {number}: label {record.get('label')!r} is not one of {LABELS}")
                if split_of(record["incident_id"]) in splits:
                    yield record
