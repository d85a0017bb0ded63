"""Streaming readers for incident logs and crime records, CSV or JSON Lines by extension.

Rows are read one at a time; several rows that share an incident_id are entries of one log. When an
export interleaves the entries of different incidents, the rows are spilled to a temporary SQLite file
and read back in incident order, so memory stays bounded either way.

A file that is not what it claims to be (no header, a missing or duplicated column, bytes that are not the
encoding, a line that is not JSON) stops the read with an `InputError` naming the file and the line. A row
that cannot be used (no id, blank text, an id or text that is not text, a JSON line nested too deep or with a
key twice) goes to the caller's reject sink with its reason, and the rest of the file is read.
"""

from __future__ import annotations

import base64
import codecs
import csv
import datetime
import decimal
import hashlib
import json
import math
import os
import re
import sqlite3
import stat
import sys
import tempfile
from collections import Counter
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

# No log is nested: a value deeper than this is refused as a row, before a writer's own recursion meets it.
MAX_NESTING = 64

# A lone surrogate (a JSON escape like \ud800 with no pair) cannot be written as UTF-8; NUL is export padding.
_UNSAFE_CHARS = re.compile("[\x00\ud800-\udfff]")


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
    # The row as read: an object; for a line that cannot be read as one, its text; for a CSV row with more
    # fields than the header, the list of its fields.
    row: dict | list | str

    def to_dict(self) -> dict:
        # A file name may hold bytes that are not UTF-8 (os.fsdecode escapes them as lone surrogates).
        return {"file": clean_text(self.path), "line": self.line, "reason": self.reason, "row": self.row}


RejectSink = Callable[[Reject], None]


class _RowProblem(Exception):
    """A row that cannot be used; its reason goes to the rejects, never the row's own text."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _report_row(path: Path, line: int, problem: _RowProblem, row, on_reject: RejectSink | None) -> None:
    """A row that cannot be used: to the sink, or, without one, a stop naming the line."""
    if on_reject is None:
        raise InputError(path, line, problem.reason)
    on_reject(Reject(str(path), line, problem.reason, row))


def _skip(reject: Reject) -> None:
    """The sink of a pass that only looks: the pass that reads the rows reports them."""


def clean_text(value: str) -> str:
    """The string without NUL padding, each lone surrogate replaced by U+FFFD: writable as UTF-8, same offsets."""
    if not _UNSAFE_CHARS.search(value):
        return value
    return _UNSAFE_CHARS.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)


def _shown(name) -> str:
    """A column or key name fit for a one-line message: short, printable."""
    name = str(name)
    if name.isprintable() and len(name) <= 40:
        return name
    return repr(name[:40]) + ("..." if len(name) > 40 else "")


def _kind(value) -> str:
    """What a value is, for a reason; never the value itself (it may be incident text)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def file_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(path, None, f"unknown file type {suffix or '(none)'!r}; use .csv, .jsonl or .parquet")
    return FORMATS[suffix]


def check_input(path: str | Path) -> str:
    """The format of an input file; refuses, in one line, a file that cannot be read as rows.

    Missing, a folder, a pipe or device (the readers read a file more than once, and an empty pipe looks like
    an empty file), no bytes at all, or a name that is not .csv, .jsonl or .parquet.
    """
    path = Path(path)
    fmt = file_format(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(path, None, "is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, None, "is not a regular file (a pipe, device or socket); the file is read more "
                                     "than once, so save the export to a file and give that")
    if info.st_size == 0:
        raise InputError(path, 1, "the file is empty; expected a header line (CSV) or JSON objects (JSON Lines)")
    return fmt


def _open_binary(path: Path):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(path, None, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def _decoded_lines(path: Path, encoding: str) -> Iterator[str]:
    """Yield the file's lines decoded, naming the line of any byte that cannot be decoded."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(path, None, f"unknown encoding {_shown(encoding)!r}; give one Python knows, "
                                     "e.g. utf-8, cp1252 or latin-1") from None
    if name == "utf-8":
        encoding = "utf-8-sig"  # a BOM is common in Excel exports and is not part of the first field
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    number = 0
    with _open_binary(path) as fh:
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
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        # A file cut short in the middle of a character: without this, its last bytes would vanish unsaid.
        raise InputError(path, number, f"the file ends inside a character that cannot be decoded as {name}; "
                                       "is it complete?") from None


def read_rows(path: str | Path, required: Iterable[str], *, encoding: str = "utf-8",
              on_reject: RejectSink | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row) from a CSV, JSON Lines or Parquet file; the header must name the required columns.

    For Parquet, which has no lines, the number is the row's (1 for the first row). Every value is JSON-safe
    (strings, numbers, booleans, None, lists and objects, never deeper than MAX_NESTING) and every string
    writable as UTF-8. A row that cannot be read so goes to `on_reject`; without it, it stops the read.
    """
    path = Path(path)
    fmt = check_input(path)
    required = tuple(required)
    if fmt == "csv":
        yield from _csv_rows(path, required, encoding, on_reject)
    elif fmt == "parquet":
        yield from _parquet_rows(path, required, on_reject)
    else:
        yield from _jsonl_rows(path, encoding, on_reject)


def _duplicates(names: list[str]) -> list[str]:
    return [name for name, count in Counter(n for n in names if n).items() if count > 1]


def _refuse_duplicates(path: Path, line: int | None, names: list[str], where: str) -> None:
    dupes = _duplicates(names)
    if dupes:
        # Which copy holds the data cannot be told; taking either would score or drop it silently.
        raise InputError(path, line, f"the column{'s' if len(dupes) > 1 else ''} "
                                     f"{', '.join(repr(_shown(d)) for d in dupes)} "
                                     f"appear{'' if len(dupes) > 1 else 's'} more than once in {where}; "
                                     "rename or remove the copies")


def _header_names(names: list[str]) -> str:
    shown = [_shown(n) for n in names if n]
    more = f" and {len(shown) - 20} more" if len(shown) > 20 else ""
    return ", ".join(shown[:20]) + more or "nothing"


def _safe(value, depth: int = 0):
    """A JSON value with every string writable; a problem for values too deep to be a log's."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= MAX_NESTING:
        raise _RowProblem(f"values nested more than {MAX_NESTING} levels deep")
    if isinstance(value, dict):
        safe = {clean_text(str(k)): _safe(v, depth + 1) for k, v in value.items()}
        if len(safe) != len(value):
            raise _RowProblem("two keys differ only in characters that are not text")
        return safe
    if isinstance(value, (list, tuple)):
        return [_safe(v, depth + 1) for v in value]
    return _python_value(value)


def _python_value(value):
    """A value of a Parquet column that JSON has no type for, as text (times as ISO 8601)."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _iso_duration(decimal.Decimal(value.days * 86400 + value.seconds) + decimal.Decimal(value.microseconds)
                             .scaleb(-6))
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    raise _RowProblem(f"a value of type {type(value).__name__} that is not text")


def _iso_duration(seconds: decimal.Decimal) -> str:
    text = format(seconds.normalize(), "f")
    return f"-PT{text[1:]}S" if text.startswith("-") else f"PT{text}S"


class _Undecodable(str):
    """Bytes that are not UTF-8, kept as `base64:` text so that nothing is lost."""


def _bytes_text(raw: bytes) -> str:
    try:
        return clean_text(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _Undecodable("base64:" + base64.b64encode(raw).decode("ascii"))


def _parquet_rows(path: Path, required: tuple[str, ...], on_reject: RejectSink | None) -> Iterator[tuple[int, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(path, None, "reading Parquet needs pyarrow: pip install 'incident-classifier[dask]'") from None
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several types for a damaged file)
        raise InputError(path, None, f"not a readable Parquet file ({type(exc).__name__})") from None
    names = parquet.schema_arrow.names
    _refuse_duplicates(path, None, names, "the file's columns")
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(path, None, f"missing required column{'s' if len(missing) > 1 else ''} "
                                     f"{', '.join(repr(m) for m in missing)} (the columns are: {_header_names(names)})")
    number = 0
    batches = parquet.iter_batches(batch_size=1024)
    while True:
        # Batches keep memory flat however large the file.
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001  (a damaged page: pyarrow raises several types)
            raise InputError(path, None, f"damaged Parquet data after row {number} ({type(exc).__name__})") from None
        columns = [_arrow_values(column) for column in batch.columns]
        for values in zip(*columns):
            number += 1
            row = dict(zip(names, values))
            try:
                yield number, _parquet_row(row, required)
            except _RowProblem as problem:
                _report_row(path, number, problem, _lenient(row), on_reject)


class _Unreadable:
    """A Parquet value pyarrow cannot turn into Python (say, text that is not UTF-8 in a string column)."""

    def __init__(self, raw: bytes | None, error: str):
        self.raw = raw
        self.error = error


def _arrow_values(column) -> list:
    """A column's values as Python, times as ISO 8601 text; a value that cannot be read as an _Unreadable."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        return _arrow_values(column.dictionary_decode())
    try:
        if pa.types.is_timestamp(kind):
            # pyarrow gives no datetime for nanoseconds without pandas; Arrow's own text has them all.
            return [None if v is None else _ISO_TIME.sub(_iso_time, v)
                    for v in pc.cast(column, pa.string()).to_pylist()]
        if pa.types.is_date(kind) or pa.types.is_time(kind):
            return pc.cast(column, pa.string()).to_pylist()
        if pa.types.is_duration(kind):
            digits = {"s": 0, "ms": 3, "us": 6, "ns": 9}[kind.unit]
            return [None if v is None else _iso_duration(decimal.Decimal(v).scaleb(-digits))
                    for v in pc.cast(column, pa.int64()).to_pylist()]
        return column.to_pylist()
    except Exception:  # noqa: BLE001  (a value pyarrow cannot convert: find which, keep the others)
        values = []
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except Exception as exc:  # noqa: BLE001
                raw = None
                if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                    raw = column.slice(i, 1).cast(pa.large_binary())[0].as_py()
                values.append(_Unreadable(raw, type(exc).__name__))
        return values


# Arrow writes `2026-01-14 22:31:05.123456789+0100`; ISO 8601 as Python writes it has a T and `+01:00`.
_ISO_TIME = re.compile(r"^(-?\d+-\d\d-\d\d) ([\d:.]+)(?:([+-]\d\d)(\d\d))?")


def _iso_time(match: re.Match) -> str:
    date, time, hours, minutes = match.groups()
    return f"{date}T{time}" + (f"{hours}:{minutes}" if hours else "")


def _parquet_row(row: dict, required: tuple[str, ...]) -> dict:
    for name, value in row.items():
        if isinstance(value, _Unreadable):
            if value.raw is None:
                raise _RowProblem(f"column {_shown(name)!r} holds a value that cannot be read ({value.error})")
            row[name] = _bytes_text(value.raw)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            row[name] = _bytes_text(bytes(value))
        if isinstance(row[name], _Undecodable) and name in required:
            raise _RowProblem(f"column {_shown(name)!r} holds bytes that are not UTF-8 text")
    return _safe(row)


def _lenient(row: dict) -> dict:
    """A rejected Parquet row, JSON-safe whatever it holds, for the rejects file."""
    out = {}
    for name, value in row.items():
        if isinstance(value, _Unreadable):
            value = None if value.raw is None else _bytes_text(value.raw)
        try:
            out[name] = _safe(value)
        except _RowProblem as problem:
            out[name] = f"({problem.reason})"
    return out


def _csv_rows(path: Path, required: tuple[str, ...], encoding: str,
             on_reject: RejectSink | None) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(_decoded_lines(path, encoding))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(path, 1, "the file is empty; expected a header line") from None
    except csv.Error as exc:
        raise InputError(path, reader.line_num, f"malformed CSV: {exc}") from None
    header = [h.strip() for h in header]
    _refuse_duplicates(path, 1, header, "the header")
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            path, 1,
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            f"(the header has: {_header_names(header)})",
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
            # Which field is which cannot be told (an unquoted comma in the text, most often): the row goes
            # whole to the rejects, as its list of fields, and the rest of the file is read.
            problem = _RowProblem(f"{len(values)} fields but the header has {len(header)}; "
                                  "check the quoting of this row")
            _report_row(path, start, problem, values, on_reject)
            continue
        row = dict(zip(header, values))
        yield start, row


def _jsonl_rows(path: Path, encoding: str, on_reject: RejectSink | None) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(_decoded_lines(path, encoding), start=1):
        # Files joined end to end keep each one's BOM at the start of a line; it carries nothing.
        line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        too_deep = _RowProblem(f"values nested more than {MAX_NESTING} levels deep")
        if _nesting(line) > MAX_NESTING:
            # Refused before json.loads, whose own limit moves with the interpreter's recursion limit.
            _report_row(path, number, too_deep, line.rstrip("\r\n"), on_reject)
            continue
        try:
            row = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise InputError(path, number, f"malformed JSON: {exc.msg} at column {exc.colno}") from None
        except RecursionError:
            _report_row(path, number, too_deep, line.rstrip("\r\n"), on_reject)
            continue
        except _RowProblem as problem:
            _report_row(path, number, problem, line.rstrip("\r\n"), on_reject)
            continue
        except ValueError:
            # Python refuses to read an integer of more than 4,300 digits.
            _report_row(path, number, _RowProblem("a number too long to read"), line.rstrip("\r\n"), on_reject)
            continue
        if not isinstance(row, dict):
            raise InputError(path, number, f"expected a JSON object, found {type(row).__name__}")
        try:
            row = _safe(row)
        except _RowProblem as problem:
            _report_row(path, number, problem, line.rstrip("\r\n"), on_reject)
            continue
        yield number, row


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _nesting(line: str) -> int:
    """How deep the arrays and objects of a JSON line go (0 when plainly shallow)."""
    if line.count("[") + line.count("{") <= MAX_NESTING:
        return 0
    depth = deepest = 0
    for char in _JSON_STRING.sub("", line):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    row = dict(pairs)
    if len(row) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        # json.loads would keep the last silently; which one the export meant cannot be told.
        raise _RowProblem(f"the key {_shown(clean_text(key))!r} appears more than once in one object")
    return row


def _text(value) -> str:
    if value is None:
        return ""
    # NUL padding is gone already: raw from CSV lines as they are decoded, escaped from JSON and Parquet values
    # by clean_text.
    return value if isinstance(value, str) else str(value)


def _optional(value) -> str | None:
    text = _text(value).strip()
    return text or None


def _id_text(value, name: str) -> str:
    """An id as text: a string stripped, or a whole number's digits (JSON and Parquet ids may be numbers)."""
    if value is None or isinstance(value, str):
        return _text(value).strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    # Never a float's or a boolean's Python spelling ("inf", "1e+20", "True"): that is not the force's id.
    raise _RowProblem(f"{name} is {_kind(value)}, not text or a whole number")


def _log_text(value) -> str:
    if value is None or isinstance(value, str):
        return _text(value)
    raise _RowProblem(f"text is {_kind(value)}, not a string")


def _optional_text(value, name: str) -> str | None:
    """An optional field as text: a number as JSON writes it; true, false, a list or an object refused."""
    if value is None or isinstance(value, str):
        return _optional(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise _RowProblem(f"{name} is {_kind(value)}, not text")


def _entry_seq(value) -> str | None:
    """entry_seq as text that float() reads, or None when blank."""
    # Without a number the entries of this incident have no order; the row goes, not the file.
    problem = _RowProblem("entry_seq must be a number, found " + ("text" if isinstance(value, str) else _kind(value)))
    if isinstance(value, bool):
        raise problem
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise problem
        return str(value)
    if value is not None and not isinstance(value, str):
        raise problem
    text = _optional(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise problem from None
    if not math.isfinite(number):
        raise problem
    return text


def _incident_fields(row: dict) -> dict:
    """The known fields of an incident row as text; raises _RowProblem for one that is not."""
    fields = {"incident_id": _id_text(row.get("incident_id"), "incident_id"), "text": _log_text(row.get("text"))}
    for name in ("opened_at", "opening_code", "closing_code", "entry_time"):
        if name in row:
            fields[name] = _optional_text(row[name], name)
    if "entry_seq" in row:
        fields["entry_seq"] = _entry_seq(row["entry_seq"])
    return fields


def _entry_key(row: dict) -> tuple:
    seq = row.get("entry_seq")
    if seq:
        return (0, float(seq), "")
    return (1, 0.0, row.get("entry_time") or "")


def read_incidents(
    path: str | Path, *, encoding: str = "utf-8", on_reject: RejectSink | None = None,
    on_total: Callable[[int], None] | None = None, spill_to: str | Path | None = None,
) -> Iterator[Incident]:
    """Yield one Incident per incident_id, entries joined in entry_seq / entry_time order.

    on_reject receives each row that cannot be used, with its reason (without it, such rows are skipped).
    on_total, if given, is told how many incidents the file holds (rejected rows included) once that is
    known: after the first pass over the file, before the first incident is yielded.
    spill_to: where to keep the temporary copy of the rows if the file's entries are not grouped by incident
    (default: a file in the system's temporary folder); it is removed when the read ends, however it ends.
    """
    path = Path(path)
    sink = on_reject or _skip
    contiguous, runs = _ids_are_contiguous(path, encoding)
    rows = _usable_incident_rows(path, encoding, sink)
    if contiguous:
        if on_total is not None:
            on_total(runs)
        groups = _contiguous_groups(rows)
    else:
        groups = _spilled_groups(rows, on_total, spill_to)
    try:
        for group in groups:
            incident = _join_entries(group)
            if len(incident.text) > MAX_TEXT_CHARS:
                # A narrative this long is an attachment or a corrupt export, not a log: reading it would take
                # gigabytes. It goes to the rejects whole, so nothing is lost.
                sink(Reject(str(path), incident.line,
                            f"text of {len(incident.text):,} characters is over the limit of "
                            f"{MAX_TEXT_CHARS:,} for one incident",
                            {"incident_id": incident.incident_id, "entries": len(group), "text": incident.text}))
                continue
            yield incident
    finally:
        # Now, not when the garbage collector gets to it: the spilled copy holds every incident's text.
        groups.close()


def _usable_incident_rows(path: Path, encoding: str, on_reject: RejectSink) -> Iterator[tuple[int, dict]]:
    for line, row in read_rows(path, INCIDENT_REQUIRED, encoding=encoding, on_reject=on_reject):
        try:
            fields = _incident_fields(row)
        except _RowProblem as problem:
            on_reject(Reject(str(path), line, problem.reason, row))
            continue
        reason = None
        if not fields["incident_id"]:
            reason = "no incident_id"
        elif not fields["text"].strip():
            reason = "blank text"
        if reason:
            on_reject(Reject(str(path), line, reason, row))
            continue
        yield line, {**row, **fields}


def _ids_are_contiguous(path: Path, encoding: str) -> tuple[bool, int]:
    """True when every incident's rows are adjacent, so the log can be streamed in one pass; and the runs.

    A fixed-size Bloom filter remembers the ids seen, so memory does not grow with the file. An id that
    the filter may have seen before becomes a suspect; a second pass checks the few suspects exactly.
    """
    # A file of N bytes has fewer than N runs: eight bits each keeps false positives rare, and a small file's
    # filter small (the full size, 16 MiB, is for files of millions of rows).
    seen = _BloomFilter(bits=max(1024, min(2**27, 8 * path.stat().st_size)))
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
    for _, row in read_rows(path, INCIDENT_REQUIRED, encoding=encoding, on_reject=_skip):
        try:
            key = _id_text(row.get("incident_id"), "incident_id")
        except _RowProblem:
            continue  # rejected by the pass that reads the rows
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
        key = row["incident_id"]
        if group and key != current:
            yield group
            group = []
        current = key
        group.append((line, row))
    if group:
        yield group


def _spilled_groups(
    rows: Iterator[tuple[int, dict]], on_total: Callable[[int], None] | None = None,
    spill_to: str | Path | None = None,
) -> Iterator[list[tuple[int, dict]]]:
    name = _spill_file(spill_to)
    con = None
    try:
        try:
            con = sqlite3.connect(name)
        except sqlite3.Error as exc:
            raise InputError(name, None, f"cannot write the temporary copy of the rows ({exc})") from None
        # A scratch copy: no journal beside it, and no waiting for the disk.
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        # Keep the sort on disk: the point of spilling is that memory does not grow with the file.
        con.execute("PRAGMA temp_store = FILE")
        con.execute("PRAGMA cache_size = -8192")
        con.execute("CREATE TABLE rows (incident_id TEXT, ord INTEGER, line INTEGER, row TEXT)")
        try:
            con.executemany(
                "INSERT INTO rows VALUES (?, ?, ?, ?)",
                ((r["incident_id"], i, line, json.dumps(r)) for i, (line, r) in enumerate(rows)),
            )
            con.execute("CREATE INDEX rows_by_incident ON rows (incident_id, ord)")
        except sqlite3.OperationalError as exc:
            # A full disk, most often; SQLite's message names no data.
            raise InputError(name, None, f"cannot write the temporary copy of the rows ({exc})") from None
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
    finally:
        if con is not None:
            con.close()
        Path(name).unlink(missing_ok=True)


def _spill_file(spill_to: str | Path | None) -> str:
    """A new, empty file only this user can read, for the spilled copy of the rows."""
    if spill_to is None:
        fd, name = tempfile.mkstemp(prefix="incident-classifier-", suffix=".grouping.sqlite")
        os.close(fd)
        return name
    name = str(spill_to)
    # A run killed outright (SIGKILL) leaves its copy; this run's takes its place.
    Path(name).unlink(missing_ok=True)
    try:
        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise InputError(name, None, f"cannot write the temporary copy of the rows ({exc.strerror})") from None
    return name


def _join_entries(group: list[tuple[int, dict]]) -> Incident:
    first_line, first = group[0]
    if len(group) > 1:
        group = sorted(group, key=lambda item: _entry_key(item[1]))
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
    sink = on_reject or _skip
    for line, row in read_rows(path, CRIME_REQUIRED, encoding=encoding, on_reject=sink):
        try:
            crime_id = _id_text(row.get("crime_id"), "crime_id")
            incident_id = _id_text(row.get("incident_id"), "incident_id") or None
            label = _optional_text(row.get("label"), "label")
            offence = _optional_text(row.get("offence"), "offence")
            recorded_at = _optional_text(row.get("recorded_at"), "recorded_at")
        except _RowProblem as problem:
            sink(Reject(str(path), line, problem.reason, row))
            continue
        if not crime_id:
            sink(Reject(str(path), line, "no crime_id", row))
            continue
        if label is not None and label not in LABELS:
            sink(Reject(str(path), line, f"unknown label {_shown(label)!r}", row))
            continue
        record = CrimeRecord(crime_id=crime_id, incident_id=incident_id, label=label, offence=offence,
                             recorded_at=recorded_at)
        if record.incident_id:
            linked.setdefault(record.incident_id, []).append(record)
    return linked
