"""Writers for scores, flags and rejects: JSON Lines or CSV by extension, `-` for stdout.

Files are written to a temporary name beside the target and renamed when complete, so a reader never
sees half a file. A resumable writer uses a fixed temporary name (`.NAME.partial`), can report a durable
position (`mark`) and can be reopened at one, so a run killed part-way can carry on where it was.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from classifier.errors import InputError
from classifier.labels import LABELS

STDOUT = "-"

# JSON leaves these raw in a string, but Python's splitlines() and some other tools end a line at them: escaped,
# a record stays on its one line for any reader (the value read back is the same).
_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")


def _one_line(text: str) -> str:
    if _LINE_BREAKS.search(text) is None:
        return text
    return _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class RecordWriter:
    """Write dict records; nested values are flattened for CSV by `flatten`."""

    def __init__(self, target: str | Path, *, columns: list[str] | None = None, resumable: bool = False,
                 resume_at: tuple[int, int] | None = None):
        """resume_at: (byte offset, records) from an earlier `mark` of the same resumable target."""
        self.target = str(target)
        self.columns = columns
        self.count = 0
        self._csv = None
        if self.target == STDOUT:
            self.format = "jsonl"
            self._fh = sys.stdout
            self._tmp = None
        else:
            suffix = Path(self.target).suffix.lower()
            if suffix not in (".jsonl", ".csv"):
                raise InputError(self.target, None, f"unknown output type {suffix or '(none)'!r}; use .jsonl or .csv")
            self.format = suffix[1:]
            folder = Path(self.target).resolve().parent
            if not folder.is_dir():
                raise InputError(self.target, None, f"the folder {folder} does not exist")
            with self._writing():
                if resumable:
                    self._tmp = str(partial_path(self.target))
                    if resume_at is None:
                        self._fh = io.open(self._tmp, "w", encoding="utf-8", newline="")
                    else:
                        self._reopen(*resume_at)
                else:
                    fd, self._tmp = tempfile.mkstemp(dir=folder, prefix=f".{Path(self.target).name}.",
                                                     suffix=".tmp")
                    self._fh = io.open(fd, "w", encoding="utf-8", newline="")

    @contextlib.contextmanager
    def _writing(self):
        """A full disk or a folder the user may not write to is the user's to fix: one line, naming the file."""
        try:
            yield
        except BrokenPipeError:
            raise  # standard output's reader went away; the command line ends quietly
        except OSError as exc:
            raise InputError(self.target, None, f"cannot write ({exc.strerror or type(exc).__name__})") from None

    def _reopen(self, offset: int, count: int) -> None:
        try:
            with open(self._tmp, "r+b") as raw:
                if raw.seek(0, os.SEEK_END) < offset:
                    raise InputError(self._tmp, None, "the partial output is shorter than its checkpoint says; "
                                                      "run again without --resume")
                raw.truncate(offset)
        except FileNotFoundError:
            raise InputError(self._tmp, None, "the partial output is missing; run again without --resume") from None
        self._fh = io.open(self._tmp, "a", encoding="utf-8", newline="")
        self.count = count
        if self.format == "csv" and offset > 0:
            # The header is already in the file.
            self._csv = csv.DictWriter(self._fh, fieldnames=self.columns, extrasaction="ignore")

    def mark(self) -> tuple[int, int]:
        """Make everything written so far durable; (byte offset, records) to resume at."""
        with self._writing():
            self._fh.flush()
            if self._tmp is not None:
                os.fsync(self._fh.fileno())
            return self._fh.tell(), self.count

    def write(self, record: dict) -> None:
        with self._writing():
            if self.format == "jsonl":
                self._fh.write(_one_line(json.dumps(record, ensure_ascii=False)) + "\n")
            else:
                flat = flatten(record)
                if self._csv is None:
                    fields = self.columns or list(flat)
                    self._csv = csv.DictWriter(self._fh, fieldnames=fields, extrasaction="ignore")
                    self._csv.writeheader()
                self._csv.writerow(flat)
        self.count += 1

    def close(self) -> None:
        with self._writing():
            if self._tmp is None:
                self._fh.flush()
                return
            if self.format == "csv" and self._csv is None and self.columns:
                csv.DictWriter(self._fh, fieldnames=self.columns).writeheader()
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self.target)
            self._tmp = None

    def abort(self) -> None:
        if self._tmp is not None:
            # Closing flushes: on a full disk that fails too, and the half-written file must still go.
            with contextlib.suppress(OSError):
                self._fh.close()
            Path(self._tmp).unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def partial_path(target: str | Path) -> Path:
    target = Path(target)
    return target.with_name(f".{target.name}.partial")


def flatten(record: dict) -> dict:
    """One CSV row: probabilities become `p_<label>` columns, lists and dicts become JSON text."""
    flat: dict = {}
    for key, value in record.items():
        if key == "probabilities" and isinstance(value, dict):
            for label in LABELS:
                flat[f"p_{label}"] = value.get(label)
        elif isinstance(value, (list, dict)):
            flat[key] = json.dumps(value, ensure_ascii=False)
        else:
            flat[key] = value
    return flat


SCORE_COLUMNS = ["incident_id", "label", "confidence", *[f"p_{label}" for label in LABELS], "evidence", "model",
                 "decided_by"]
FLAG_COLUMNS = [*SCORE_COLUMNS, "band", "reason", "closing_code_conflict", "linked_crimes", "rules", "scanned_at"]
REJECT_COLUMNS = ["file", "line", "reason", "row"]
