"""Reviewers' decisions read from a file (the reviews contract of docs/formats.md): checked, then imported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from classifier.errors import InputError
from classifier.io.readers import read_rows
from classifier.review.store import ImportSummary, check_review

REQUIRED = ("incident_id", "outcome", "reviewer", "reviewed_at")


def read_decisions(path: str | Path, *, encoding: str = "utf-8", note: str = "") -> Iterator[tuple[int, dict]]:
    """(line, decision) for each row, its values stripped; the first bad row stops it with its file and line
    (and `note` after the problem)."""
    for line, row in read_rows(path, REQUIRED, encoding=encoding):
        row = {k: (str(v).strip() if v is not None else "") for k, v in row.items()}
        try:
            if not row.get("reviewed_at"):
                raise InputError(None, None, "a review needs reviewed_at")
            check_review(row["incident_id"], row["outcome"], row.get("label") or None, row["reviewer"],
                         reviewed_at=row["reviewed_at"])
        except InputError as exc:
            raise InputError(path, line, exc.problem + note) from None
        yield line, row


def import_decisions(path: str | Path, store, *, encoding: str = "utf-8") -> ImportSummary:
    """Add every decision of the file to the flag store, all of them or (on any bad row) none.

    Importing a file again adds nothing: a decision already in the store is skipped (`ImportSummary.skipped`).
    """
    rows, lines = [], []
    for line, row in read_decisions(path, encoding=encoding, note="; nothing was imported"):
        if not store.has_flag(row["incident_id"]):
            raise InputError(path, line, f"incident {row['incident_id']!r} has no flag in {store.path}; "
                                         "nothing was imported")
        rows.append(row)
        lines.append(line)
    return store.import_reviews(rows, source=str(path), lines=lines)
