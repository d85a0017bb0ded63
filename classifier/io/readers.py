"""Streaming readers for incident logs and crime records, CSV or JSON Lines by extension.

Rows are read one at a time; several rows that share an incident_id are entries of one log. When an
export interleaves the entries of different incidents, the rows are spilled to a temporary SQLite file
and read back in incident order, so memory stays bounded either way.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from classifier.errors import InputError
from classifier.labels import LABELS

INCIDENT_REQUIRED = ("incident_id", "text")
INCIDENT_KNOWN = ("incident_id", "text", "opened_at", "opening_code", "closing_code", "entry_seq", "entry_time")
CRIME_REQUIRED = ("crime_id",)
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}

# The longest incident text scored (all its entries joined), spaCy's own default limit; longer ones are rejected.
MAX_TEXT_CHARS = 1_000_000

# CAD exports can carry very long narrative fields; the csv module's 128 KiB default would reject them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class Incident:
    incident_id: str
    text: str
    line: int
    opened_at: str | None = None
    opening_code: str | None = None
    closing_code: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class CrimeRecord:
    crime_id: str
    incident_id: str | None = None
    label: str | None = None
    offence: str | None = None
    recorded_at: str | None = None


@dataclass
class Reject:
    path: str
    line: int
    reason: str
    row: dict

    def to_dict(self) -> dict:
        return {"file": self.path, "line": self.line, "reason": self.reason, "row": self.row}


RejectSink = Callable[[Reject], None]


def file_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(path, None, f"unknown file type {suffix or '(none)'!r}; use .csv, .jsonl or .parquet")
    return FORMATS[suffix]


def _decoded_lines(path: Path, encoding: str) -> Iterator[str]:
    """Yield the file's lines decoded, naming the line of any byte that cannot be decoded."""
    name = codecs.lookup(encoding).name
    if name == "utf-8":
        encoding = "utf-8-sig"  # a BOM is common in Excel exports and is not part of the first field
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                raise InputError(
                    path, number,
                    f"bytes at column {exc.start + 1} cannot be decoded as {name}; "
                    f"give the file's encoding with --encoding (e.g. cp1252 or latin-1)",
                ) from None
            # NUL bytes appear in some exports as padding; they carry nothing and break downstream tools.
            yield text.replace("\x00", "")


def _check_not_empty(path: Path) -> None:
    if not path.exists():
        raise InputError(path, None, "no such file")
    if path.is_dir():
        raise InputError(path, None, "is a folder, not a file")
    if path.stat().st_size == 0:
        raise InputError(path, 1, "the file is empty; expected a header line (CSV) or JSON objects (JSON Lines)")


def read_rows(path: str | Path, required: Iterable[str], *, encoding: str = "utf-8") -> Iterator[tuple[int, dict]]:
    """Yield (line number, row) from a CSV, JSON Lines or Parquet file; the header must name the required columns.

    For Parquet, which has no lines, the number is the row's (1 for the first row).
    """
    path = Path(path)
    fmt = file_format(path)
    _check_not_empty(path)
    required = tuple(required)
    if fmt == "csv":
        yield from _csv_rows(path, required, encoding)
    elif fmt == "parquet":
        yield from _parquet_rows(path, required)
    else:
        yield from _jsonl_rows(path, encoding)


def _parquet_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(path, None, "reading Parquet needs pyarrow: pip install 'incident-classifier[dask]'") from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several types for a damaged file)
        raise InputError(path, None, f"not a readable Parquet file ({type(exc).__name__})") from None
    names = parquet.schema_arrow.names
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(path, None, f"missing required column{'s' if len(missing) > 1 else ''} "
                                     f"{', '.join(repr(m) for m in missing)} (the columns are: {', '.join(names)})")
    number = 0
    # Batches keep memory flat however large the file.
    for batch in parquet.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _csv_rows(path: Path, required: tuple[str, ...], encoding: str) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(_decoded_lines(path, encoding))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(path, 1, "the file is empty; expected a header line") from None
    except csv.Error as exc:
        raise InputError(path, reader.line_num, f"malformed CSV: {exc}") from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            path, 1,
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            f"(the header has: {', '.join(h for h in header if h) or 'nothing'})",
        )
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(path, start, f"malformed CSV: {exc}") from None
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        if len(values) > len(header):
            raise InputError(
                path, start, f"{len(values)} fields but the header has {len(header)}; check the quoting of this row"
            )
        row = dict(zip(header, values))
        yield start, row


def _jsonl_rows(path: Path, encoding: str) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(_decoded_lines(path, encoding), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, number, f"malformed JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(row, dict):
            raise InputError(path, number, f"expected a JSON object, found {type(row).__name__}")
        yield number, row


def _text(value) -> str:
    if value is None:
        return ""
    # NUL is padding in some exports (raw in CSV, escaped as \u0000 in JSON): it carries nothing.
    return (value if isinstance(value, str) else str(value)).replace("\x00", "")


def _optional(value) -> str | None:
    text = _text(value).strip()
    return text or None


def _entry_key(path: Path, line: int, row: dict) -> tuple:
    seq = _text(row.get("entry_seq")).strip()
    if seq:
        try:
            return (0, float(seq), "")
        except ValueError:
            raise InputError(path, line, f"entry_seq must be a number, found {seq!r}") from None
    return (1, 0.0, _text(row.get("entry_time")).strip())


def read_incidents(
    path: str | Path, *, encoding: str = "utf-8", on_reject: RejectSink | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Iterator[Incident]:
    """Yield one Incident per incident_id, entries joined in entry_seq / entry_time order.

    on_total, if given, is told how many incidents the file holds (rejected rows included) once that is
    known: after the first pass over the file, before the first incident is yielded.
    """
    path = Path(path)
    contiguous, runs = _ids_are_contiguous(path, encoding)
    rows = _usable_incident_rows(path, encoding, on_reject)
    if contiguous:
        if on_total is not None:
            on_total(runs)
        groups = _contiguous_groups(rows)
    else:
        groups = _spilled_groups(rows, on_total)
    for group in groups:
        incident = _join_entries(path, group)
        if len(incident.text) > MAX_TEXT_CHARS:
            # A narrative this long is an attachment or a corrupt export, not a log: reading it would take
            # gigabytes. It goes to the rejects whole, so nothing is lost.
            if on_reject is not None:
                on_reject(Reject(str(path), incident.line,
                                 f"text of {len(incident.text):,} characters is over the limit of "
                                 f"{MAX_TEXT_CHARS:,} for one incident",
                                 {"incident_id": incident.incident_id, "entries": len(group), "text": incident.text}))
            continue
        yield incident


def _usable_incident_rows(path: Path, encoding: str, on_reject: RejectSink | None) -> Iterator[tuple[int, dict]]:
    for line, row in read_rows(path, INCIDENT_REQUIRED, encoding=encoding):
        reason = None
        if not _text(row.get("incident_id")).strip():
            reason = "no incident_id"
        elif not _text(row.get("text")).strip():
            reason = "blank text"
        if reason:
            if on_reject is not None:
                on_reject(Reject(str(path), line, reason, row))
            continue
        yield line, row


def _ids_are_contiguous(path: Path, encoding: str) -> tuple[bool, int]:
    """True when every incident's rows are adjacent, so the log can be streamed in one pass; and the runs.

    A fixed-size Bloom filter remembers the ids seen, so memory does not grow with the file. An id that
    the filter may have seen before becomes a suspect; a second pass checks the few suspects exactly.
    """
    seen = _BloomFilter()
    suspects: set[str] = set()
    runs = 0
    for key in _run_starts(path, encoding):
        runs += 1
        if key in seen:
            suspects.add(key)
            if len(suspects) > _MAX_SUSPECTS:
                return False, runs  # plainly interleaved: not worth proving, and the set must stay small
        seen.add(key)
    if not suspects:
        return True, runs
    started: set[str] = set()
    for key in _run_starts(path, encoding):
        if key in suspects:
            if key in started:
                return False, runs
            started.add(key)
    return True, runs


def _run_starts(path: Path, encoding: str) -> Iterator[str]:
    """The incident_id of each run of adjacent rows that share it."""
    previous = None
    for _, row in read_rows(path, INCIDENT_REQUIRED, encoding=encoding):
        key = _text(row.get("incident_id")).strip()
        if key and key != previous:
            yield key
            previous = key


_MAX_SUSPECTS = 10_000


class _BloomFilter:
    def __init__(self, bits: int = 2**27, hashes: int = 3):
        self.bits = bits
        self.hashes = hashes
        self.array = bytearray(bits // 8)

    def _positions(self, key: str):
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8 * self.hashes).digest()
        for i in range(self.hashes):
            yield int.from_bytes(digest[8 * i:8 * i + 8], "little") % self.bits

    def add(self, key: str) -> None:
        for pos in self._positions(key):
            self.array[pos >> 3] |= 1 << (pos & 7)

    def __contains__(self, key: str) -> bool:
        return all(self.array[pos >> 3] & (1 << (pos & 7)) for pos in self._positions(key))


def _contiguous_groups(rows: Iterator[tuple[int, dict]]) -> Iterator[list[tuple[int, dict]]]:
    group: list[tuple[int, dict]] = []
    current = None
    for line, row in rows:
        key = _text(row["incident_id"]).strip()
        if group and key != current:
            yield group
            group = []
        current = key
        group.append((line, row))
    if group:
        yield group


def _spilled_groups(
    rows: Iterator[tuple[int, dict]], on_total: Callable[[int], None] | None = None
) -> Iterator[list[tuple[int, dict]]]:
    fd, name = tempfile.mkstemp(prefix="incident-classifier-", suffix=".sqlite")
    os.close(fd)
    try:
        con = sqlite3.connect(name)
        # Keep the sort on disk: the point of spilling is that memory does not grow with the file.
        con.execute("PRAGMA temp_store = FILE")
        con.execute("PRAGMA cache_size = -8192")
        con.execute("CREATE TABLE rows (incident_id TEXT, ord INTEGER, line INTEGER, row TEXT)")
        con.executemany(
            "INSERT INTO rows VALUES (?, ?, ?, ?)",
            ((_text(r["incident_id"]).strip(), i, line, json.dumps(r)) for i, (line, r) in enumerate(rows)),
        )
        con.execute("CREATE INDEX rows_by_incident ON rows (incident_id, ord)")
        if on_total is not None:
            on_total(con.execute("SELECT COUNT(DISTINCT incident_id) FROM rows").fetchone()[0])
        # Incidents come out in the order of their first row, as a streamed file would give them.
        cursor = con.execute(
            "SELECT r.incident_id, r.line, r.row FROM rows r "
            "JOIN (SELECT incident_id, MIN(ord) AS first FROM rows GROUP BY incident_id) f USING (incident_id) "
            "ORDER BY f.first, r.ord"
        )
        group: list[tuple[int, dict]] = []
        current = None
        for key, line, raw in cursor:
            if group and key != current:
                yield group
                group = []
            current = key
            group.append((line, json.loads(raw)))
        if group:
            yield group
        con.close()
    finally:
        os.unlink(name)


def _join_entries(path: Path, group: list[tuple[int, dict]]) -> Incident:
    first_line, first = group[0]
    if len(group) > 1:
        group = sorted(group, key=lambda item: _entry_key(path, item[0], item[1]))
    text = "\n".join(_text(row["text"]).strip("\r\n") for _, row in group)
    extra = {k: v for k, v in first.items() if k not in INCIDENT_KNOWN}
    opened = [_optional(r.get("opened_at")) for _, r in group]
    closing = [_optional(r.get("closing_code")) for _, r in group]
    opening = [_optional(r.get("opening_code")) for _, r in group]
    return Incident(
        incident_id=_text(first["incident_id"]).strip(),
        text=text,
        line=first_line,
        opened_at=next((v for v in opened if v), None),
        # The closing code is the one the incident ended with: the last entry that carries one.
        closing_code=next((v for v in reversed(closing) if v), None),
        opening_code=next((v for v in opening if v), None),
        extra=extra,
    )


def read_crimes(
    path: str | Path, *, encoding: str = "utf-8", on_reject: RejectSink | None = None
) -> dict[str, list[CrimeRecord]]:
    """Crime records linked to an incident, by incident_id. Unlinked records cover nothing, so are not kept."""
    path = Path(path)
    linked: dict[str, list[CrimeRecord]] = {}
    for line, row in read_rows(path, CRIME_REQUIRED, encoding=encoding):
        crime_id = _text(row.get("crime_id")).strip()
        if not crime_id:
            if on_reject is not None:
                on_reject(Reject(str(path), line, "no crime_id", row))
            continue
        label = _optional(row.get("label"))
        if label is not None and label not in LABELS:
            if on_reject is not None:
                on_reject(Reject(str(path), line, f"unknown label {label!r}", row))
            continue
        record = CrimeRecord(
            crime_id=crime_id,
            incident_id=_optional(row.get("incident_id")),
            label=label,
            offence=_optional(row.get("offence")),
            recorded_at=_optional(row.get("recorded_at")),
        )
        if record.incident_id:
            linked.setdefault(record.incident_id, []).append(record)
    return linked
