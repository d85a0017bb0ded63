"""Property-based fuzzing of what a force's export can hold, through the readers and through `classify`.

Each case is a whole file: JSON Lines, CSV or Parquet rows with hostile ids and texts (lone surrogates, NULs,
control characters, BOMs, emoji, other scripts, whitespace, numbers, booleans, objects, lists, nesting too deep,
a key twice, numbers too long, texts over the limit), the entries of one incident apart, and now and then a fault
of the whole file (a malformed line, a line that is not an object, a byte that is not UTF-8, a column twice or
missing) or damaged bytes (stray quotes, NULs, cut short, another encoding). The properties:

- nothing raises but `InputError`, whose message is one line naming the file;
- a file with a fault is refused at its first fault, naming its line, with nothing read;
- otherwise every row is scored (in its incident) or rejected with a reason, none twice and none lost, and the
  generator, which knows which rows are unusable, agrees on which; every reject can be written as UTF-8.

The texts come from hypothesis; the rest of each row (its kind, the decorations round its id, its other
fields) from a random generator seeded by hypothesis, which keeps a case to a few draws and the run under two
minutes. The number of cases is printed at the end of the module ("hostile-input fuzz: N cases, 0 crashes").
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import json
import random
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.errors import InputError
from classifier.io.readers import MAX_TEXT_CHARS, read_incidents

CASES: Counter = Counter()
# Cases each property runs (hypothesis runs exactly this many unless a strategy runs out of new examples).
TARGETS = {"jsonl": 3600, "csv": 3300, "damaged": 2000, "parquet": 500, "cli": 600}
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
INT_BASE = 1_000_000  # a numeric id is INT_BASE + its incident's number


@pytest.fixture(scope="module", autouse=True)
def report_cases(request):
    failed_before = request.session.testsfailed
    yield
    failed = request.session.testsfailed - failed_before
    line = (f"hostile-input fuzz: {sum(CASES.values())} cases, "
            f"{f'{failed} properties FAILED (above)' if failed else '0 crashes'} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(CASES.items()))})")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # shown even without -s
        reporter.write_line("\n" + line)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        yield Path(name)


# What fields are made of. Decorations round an id have no digits, so its core `R<incident>Z` is found in
# whatever a reader makes of it.
WORDS = ["he", "pushed", "her", "punched", "no", "injuries", "not", "IP", "RP", "b/f", "x2", "threatened", "to",
         "kill", "if", "denies", "2231", "PC", ":", "//", "neck", "GBH", "s.47", "w/", "V1", "S1"]
NASTY = ["\x00", "\ufeff", "\u202e", "\u200b", "\r", "\n", "\r\n", "\t", "\x0b", "\x0c", "\x1b[31m", "\x7f", "\x85",
         '"', "'", ",", ";", "\\", "{", "}", "[", "]", "\u2028", "\u2029", "\U0001F621", "\U0001F3FD", "e\u0301",
         "\u00e9", "\u0627\u0644", "\u4ed6", " ", "\u3000", "\ufffd", "\uffff", "\ud800", "\udfff", "\udbff\udc00",
         "\\u0000", "\\ud800", "NaN", "null", "true", "1e400", "\U000E0001"]
BLANKS = ["", " ", "   ", "\t", "\x00", "\x00 \x00", "\u3000", "\r", "\x85", "\x1c\x1d", " \n "]
DECORATIONS = ["", "", "", " ", "  ", "\t", "\x00", "\ufeff", "\u200b", "\ud800", " \udfff", " \x00 ", "\u00e9",
               "\U0001F621", '"', ",", "\n", "\r\n", "\u202e", "x", "R", "Z", "'", "\\", "-", "/", "\u3000"]
# CSV and Parquet hold no lone surrogate (JSON holds one as an escape).
TEXT_DECORATIONS = [d for d in DECORATIONS if not re.search("[\ud800-\udfff]", d)]
# The rest of a case comes from a generator seeded by hypothesis: one draw, where hypothesis's own take a
# millisecond each.
SEEDS = st.integers(0, 2**64)
TEXTS = st.one_of(
    st.text(st.characters(codec=None, categories=["L", "M", "N", "P", "S", "Z", "C"]), max_size=12),
    st.lists(st.sampled_from(WORDS + NASTY), max_size=10).map(" ".join),
    st.sampled_from(BLANKS),
)


def random_value(rnd: random.Random, depth: int = 0):
    """A value an unknown column may hold: anything JSON can say, a little nested."""
    choice = rnd.randrange(8 if depth < 3 else 6)
    if choice == 6:
        return [random_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]
    if choice == 7:
        return {rnd.choice(["a", "", "\ud800", "k k", "0"]): random_value(rnd, depth + 1)
                for _ in range(rnd.randrange(3))}
    return [None, rnd.choice([True, False]), rnd.randint(-10**20, 10**20),
            rnd.choice([0.5, -0.0, 1e308, float("inf"), float("nan")]), rnd.choice(NASTY),
            rnd.choice(WORDS) * rnd.randrange(3)][choice]


def random_text(rnd: random.Random) -> str:
    """A log text from the generator: words, nasty characters and any code point, surrogates included."""
    pieces = [rnd.choice([rnd.choice(WORDS), rnd.choice(NASTY), chr(rnd.randrange(0x110000)), rnd.choice(BLANKS)])
              for _ in range(rnd.randrange(12))]
    return rnd.choice([" ", "", "\n"]).join(pieces)


def blank(text: str) -> bool:
    return not text.replace("\x00", "").strip()


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@dataclass
class Row:
    group: int
    line: int = 0
    bad: bool = False


@dataclass
class Case:
    """A file, and what a reader must make of it."""

    data: bytes = b""
    rows: list[Row] = field(default_factory=list)
    fault_line: int | None = None  # the first fault of the whole file, if any
    damaged: bool = False  # bytes damaged in ways whose effect on each row is not predicted


# JSON Lines

ROW_KINDS = ["good"] * 8 + ["bad_id", "bad_text", "deep_value", "deep_line", "twice", "long_number",
                            "bad_optional"]


def json_row(rnd: random.Random, group: int, numeric_id: bool, text: str) -> tuple[str, bool]:
    """One row of incident `group`: its line of JSON, and whether it cannot be used."""
    kind = rnd.choice(ROW_KINDS)
    if kind == "good" and rnd.randrange(80) == 0:
        kind = "huge"
    if kind == "deep_line":
        return nested(rnd.randrange(65, 3000)), True
    bad = kind != "huge" and (kind != "good" or blank(text))
    incident_id = INT_BASE + group if numeric_id else rnd.choice(DECORATIONS) + f"R{group}Z" + rnd.choice(DECORATIONS)
    value = text
    if kind == "bad_id":
        incident_id = rnd.choice([None, True, False, 1.5, float("inf"), float("nan"), [f"R{group}Z"], {"id": group},
                                  "", "  ", "\x00", "\u3000\x00", "MISSING"])
    elif kind == "bad_text":
        value = rnd.choice([None, True, 0, 12.5, float("nan"), ["he", "hit"], {"entry": "x"}, "MISSING"])
    elif kind == "huge":
        value = "RP states dispute over fence. " * (MAX_TEXT_CHARS // 29 + 1)
    pairs: list[tuple[str, object]] = []
    if incident_id != "MISSING":
        pairs.append(("incident_id", incident_id))
    if isinstance(value, str) and value == "MISSING":
        pass
    elif kind == "deep_value":
        pairs.append(("text", nested(rnd.randrange(65, 900))))
    else:
        pairs.append(("text", value))
    for name in rnd.sample(["beat", "style", "officer", "note"], rnd.randrange(3)):
        pairs.append((name, random_value(rnd)))
    optional = rnd.choice([None, "closing_code", "opening_code", "opened_at", "entry_seq", "entry_time"])
    if kind == "bad_optional":
        optional = optional or "closing_code"
        pairs.append((optional, rnd.choice([{"a": 1}, [1], True] + (["first", float("inf")] if optional == "entry_seq"
                                                                    else []))))
    elif optional == "entry_seq":
        pairs.append((optional, rnd.choice([1, 2, 10, 2.5, "3", " 4 ", "", None])))
    elif optional:
        pairs.append((optional, rnd.choice([rnd.choice(NASTY), rnd.choice(WORDS), 7, 0.25, None, ""])))
    if kind == "twice":
        pairs.append((rnd.choice(["text", "incident_id"]), "again"))
    ascii_only = rnd.random() < 0.5
    parts = []
    for key, item in pairs:
        if kind == "deep_value" and key == "text":
            parts.append(f'"text": {item}')
            continue
        written = json.dumps(item, ensure_ascii=ascii_only)
        try:
            written.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot be written raw: JSON writes it as an escape
            written = json.dumps(item)
        parts.append(f"{json.dumps(key)}: {written}")
    if kind == "long_number":
        parts.append('"n": ' + "7" * rnd.randrange(4301, 6000))
    return "{" + ", ".join(parts) + "}", bad


@st.composite
def jsonl_cases(draw, faults: bool = True) -> Case:
    rnd = random.Random(draw(SEEDS))
    texts = draw(st.lists(TEXTS, min_size=1, max_size=2))
    lines: list[tuple[str, Row | None]] = []
    for group in range(draw(st.integers(1, 5))):
        numeric_id = rnd.random() < 0.25
        for _ in range(rnd.choice([1, 1, 2, 3])):
            text = rnd.choice(texts) if rnd.random() < 0.5 else random_text(rnd)
            text, bad = json_row(rnd, group, numeric_id, text)
            lines.append((rnd.choice(["", "", "", "\ufeff"]) + text, Row(group, bad=bad)))
    rnd.shuffle(lines)  # the entries of one incident apart: they must be grouped
    for _ in range(rnd.choice([0, 0, 1, 2])):
        lines.insert(rnd.randrange(len(lines) + 1), (rnd.choice(BLANKS[:4]), None))
    fault = rnd.choice([None] * 8 + ["malformed", "not_object", "bad_byte"]) if faults else None
    if fault:
        lines.insert(rnd.randrange(len(lines) + 1), ({
            "malformed": rnd.choice(['{"incident_id": "R0Z", "text": ', "{'incident_id': 'R0Z'}", "{,}", "NaN,"]),
            "not_object": rnd.choice(['["R0Z", "x"]', '"text"', "12", "null", "true", "[[[1]]]"]),
            "bad_byte": "BYTE"}[fault], None))
    case = Case()
    chunks = [b"\xef\xbb\xbf"] if rnd.random() < 0.2 else []
    for number, (text, row) in enumerate(lines, start=1):
        if row is None and text.strip() and case.fault_line is None:
            case.fault_line = number
        if row is not None:
            row.line = number
            case.rows.append(row)
        raw = b'{"incident_id": "R0Z", "text": "caf\xe9"}' if text == "BYTE" else text.encode("utf-8")
        chunks.append(raw + rnd.choice([b"\n", b"\r\n"]))
    case.data = b"".join(chunks)
    return case


# CSV

@st.composite
def csv_cases(draw, faults: bool = True) -> Case:
    rnd = random.Random(draw(SEEDS))
    texts = draw(st.lists(TEXTS, min_size=1, max_size=2))
    header = ["incident_id", "text", *rnd.sample(["beat", "closing_code", "opening_code", "", "notes"],
                                                  rnd.randrange(4))]
    rnd.shuffle(header)
    fault = rnd.choice([None] * 8 + ["duplicate", "missing", "bad_byte"]) if faults else None
    if fault == "duplicate":
        header.insert(rnd.randrange(len(header) + 1), rnd.choice(["text", "incident_id"]))
    elif fault == "missing":
        header.remove(rnd.choice(["text", "incident_id"]))
    quoting = rnd.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])

    def record(fields: list[str]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, quoting=quoting).writerow(fields)
        return buffer.getvalue().encode("utf-8")

    case = Case(fault_line=1 if fault in ("duplicate", "missing") else None)
    records = [record(header)]
    line = 1 + records[0].count(b"\n")
    for group in range(draw(st.integers(1, 5))):
        for _ in range(rnd.choice([1, 1, 2, 3])):
            kind = rnd.choice(["good"] * 6 + ["blank_id", "too_many", "too_few"])
            text = rnd.choice(texts) if rnd.random() < 0.5 else random_text(rnd)
            text = text.encode("utf-8", "replace").decode("utf-8")
            values = {name: rnd.choice(WORDS + TEXT_DECORATIONS) for name in header}
            values["text"] = text
            values["incident_id"] = rnd.choice(TEXT_DECORATIONS) + f"R{group}Z" + rnd.choice(TEXT_DECORATIONS)
            bad = blank(text)
            if kind == "blank_id":
                values["incident_id"] = rnd.choice(["", " ", "\x00", "\t", "\u3000"])
                bad = True
            fields = [values[name] for name in header]
            if kind == "too_many":
                fields += rnd.sample(WORDS, rnd.randrange(1, 4))
                bad = True
            elif kind == "too_few" and {"text", "incident_id"} <= set(header) and \
                    header.index("text") > header.index("incident_id"):
                fields = fields[:header.index("incident_id") + 1]
                bad = True
            raw = record(fields)
            if fault == "bad_byte" and case.fault_line is None and rnd.random() < 0.5:
                at = rnd.randrange(len(raw))
                raw = raw[:at] + b"\xff" + raw[at:]
                case.fault_line = line + raw[:at].count(b"\n")
            case.rows.append(Row(group, line=line, bad=bad))
            records.append(raw)
            line += raw.count(b"\n")
    if rnd.random() < 0.2:
        records.insert(0, b"\xef\xbb\xbf")
    case.data = b"".join(records)
    return case


# Damaged bytes: the well-formed files above, hurt in ways whose effect on each row is not predicted.

@st.composite
def damaged_cases(draw) -> tuple[str, Case]:
    name = draw(st.sampled_from(["in.jsonl", "in.csv"]))
    case = draw(jsonl_cases(faults=False) if name == "in.jsonl" else csv_cases(faults=False))
    rnd = random.Random(draw(SEEDS))
    data = bytearray(case.data)
    for _ in range(rnd.randrange(1, 5)):
        at = rnd.randrange(len(data) + 1)
        data[at:at] = rnd.choice([b'"', b"\x00", b"\xff", b"\xe9", b"\r", b"\n", b",", b"\xef\xbb\xbf", b"\x93",
                                  b"\xc3", b"\xe2\x80", b"{", b"}", b"\\", b"\\u", b"\\ud800", b"]"])
    if rnd.random() < 0.1:
        data = data[:rnd.randrange(len(data) + 1)]  # cut short
    case.data = bytes(data)
    case.damaged = True
    return name, case


# Parquet

@st.composite
def parquet_cases(draw):
    import pyarrow as pa

    rnd = random.Random(draw(SEEDS))
    samples = draw(st.lists(TEXTS, min_size=1, max_size=2))
    count = draw(st.integers(1, 12))
    numeric_ids = rnd.random() < 0.3
    binary_text = rnd.random() < 0.3
    case = Case()
    ids, texts = [], []
    for number in range(1, count + 1):
        group = rnd.randrange(5)  # incidents' rows apart: the rows must be spilled and grouped
        text = rnd.choice([None, rnd.choice(samples), random_text(rnd), random_text(rnd)])
        text = None if text is None else text.encode("utf-8", "replace").decode("utf-8")
        raw = None if text is None else text.encode("utf-8")
        if binary_text and raw is not None and rnd.random() < 0.2:
            raw = b"\xff" + raw  # not UTF-8: rejected
        identifier = rnd.choice(["ok", "ok", "ok", "none", "blank"])
        if identifier == "ok":
            ids.append(INT_BASE + group if numeric_ids else
                       rnd.choice(TEXT_DECORATIONS) + f"R{group}Z" + rnd.choice(TEXT_DECORATIONS))
        else:
            ids.append(" \x00 " if identifier == "blank" and not numeric_ids else None)
        texts.append(raw if binary_text else text)
        bad = identifier != "ok" or raw is None or raw.startswith(b"\xff") or blank(text)
        case.rows.append(Row(group, line=number, bad=bad))
    when = datetime.datetime(2026, 1, 14, 22, 31)
    table = pa.table({
        "incident_id": pa.array(ids, pa.int64() if numeric_ids else pa.string()),
        "text": pa.array(texts, pa.binary() if binary_text else pa.string()),
        "opened_at": pa.array([1_768_430_000_123_456_789 + i for i in range(count)],
                              rnd.choice([pa.timestamp("ns"), pa.timestamp("us", tz="Europe/London")])),
        "entry_time": pa.array([when + datetime.timedelta(seconds=rnd.randrange(60)) for _ in range(count)]),
        "blob": pa.array([rnd.randbytes(rnd.randrange(4)) for _ in range(count)]),
        "day": pa.array([when.date()] * count),
        "waited": pa.array([1_500_000_001] * count, pa.duration("ns")),
        "meta": pa.array([{"k": rnd.choice(WORDS), "b": b"\x00\xff"}] * count),
    })
    return table, case


# The oracle

def incident_of(incident_id: str) -> int:
    if incident_id.isdigit() and int(incident_id) >= INT_BASE:
        return int(incident_id) - INT_BASE
    found = re.findall(r"R(\d+)Z", incident_id)
    assert len(found) == 1, incident_id
    return int(found[0])


def check(case: Case, path: Path, incident_ids: list[str] | None, rejects: list[dict] | None,
          error: InputError | None) -> None:
    """What a reader or the command made of the file is what the contract says."""
    if error is not None:
        assert error.path == str(path) and "\n" not in str(error)
        if not case.damaged:
            assert case.fault_line is not None, f"a file with no fault refused: {error}"
            assert error.line == case.fault_line, (str(error), case.fault_line)
        return
    assert case.fault_line is None, "a file with a fault was read"
    assert len(incident_ids) == len(set(incident_ids)), "an incident scored twice"
    reject_lines = [r["line"] for r in rejects]
    assert len(reject_lines) == len(set(reject_lines)), "a row rejected twice"
    for reject in rejects:
        assert reject["reason"] and reject["file"] == str(path)
        json.dumps(reject, ensure_ascii=False).encode("utf-8")  # it can be written
    if case.damaged:
        return  # nothing raised, nothing twice: what damaged bytes mean to each row is not predicted
    expected = {row.line for row in case.rows if row.bad}
    # An incident whose entries together are over the limit is rejected whole, at the line of its first entry.
    huge = {r["line"] for r in rejects if r["reason"].startswith("text of ")}
    assert set(reject_lines) - huge == expected, (sorted(reject_lines), sorted(expected))
    too_long = {row.group for row in case.rows if row.line in huge}
    scored = {incident_of(i) for i in incident_ids}
    lost = {row.group for row in case.rows if not row.bad and row.group not in too_long} - scored
    assert not lost, f"incidents neither scored nor rejected: {lost}"
    assert scored <= {row.group for row in case.rows if not row.bad}, "an incident of no usable row scored"


def read_case(path: Path, case: Case, **options) -> None:
    path.write_bytes(case.data)
    found: list[dict] = []
    try:
        ids = [i.incident_id for i in read_incidents(path, on_reject=lambda r: found.append(r.to_dict()), **options)]
    except InputError as exc:
        check(case, path, None, None, exc)
    else:
        check(case, path, ids, found, None)


def counted(name: str):
    """Run the property TARGETS[name] times, and count the cases it ran."""

    def wrap(property_test):
        # Only the name: pytest must not take the inner hypothesis test for this one.
        @functools.wraps(property_test, assigned=("__name__", "__qualname__", "__doc__", "__module__"), updated=())
        def test(folder):
            before = CASES[name]
            settings(FUZZ, max_examples=TARGETS[name])(property_test)(folder)
            assert CASES[name] - before >= TARGETS[name], f"{name}: only {CASES[name] - before} cases ran"

        return test

    return wrap


@counted("jsonl")
@given(case=jsonl_cases())
def test_fuzz_jsonl_reader(folder, case):
    read_case(folder / "in.jsonl", case)
    CASES["jsonl"] += 1


@counted("csv")
@given(case=csv_cases())
def test_fuzz_csv_reader(folder, case):
    read_case(folder / "in.csv", case)
    CASES["csv"] += 1


@counted("damaged")
@given(named=damaged_cases(), encoding=st.sampled_from(["utf-8", "utf-8", "cp1252", "latin-1"]))
def test_fuzz_damaged_bytes_in_any_encoding(folder, named, encoding):
    name, case = named
    read_case(folder / name, case, encoding=encoding)
    CASES["damaged"] += 1


@counted("parquet")
@given(made=parquet_cases())
def test_fuzz_parquet_reader(folder, made):
    import pyarrow.parquet as pq

    table, case = made
    path = folder / "in.parquet"
    pq.write_table(table, path)
    found: list[dict] = []
    ids = [i.incident_id for i in read_incidents(path, on_reject=lambda r: found.append(r.to_dict()))]
    check(case, path, ids, found, None)
    CASES["parquet"] += 1


# Through the command: `classify --rules-only`, the rules built once for all the cases.

@pytest.fixture(scope="module")
def rules_built_once():
    import classifier.cli

    original = classifier.cli._scoring
    classifier.cli._scoring = functools.lru_cache(maxsize=None)(original)
    yield
    classifier.cli._scoring = original


@st.composite
def command_cases(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(damaged_cases())
    name = draw(st.sampled_from(["in.jsonl", "in.csv"]))
    return name, draw(jsonl_cases() if name == "in.jsonl" else csv_cases())


@pytest.mark.usefixtures("rules_built_once")
@counted("cli")
@given(named=command_cases())
def test_fuzz_classify_command(folder, named):
    from classifier.cli import cli

    name, case = named
    path = folder / name
    path.write_bytes(case.data)
    out, rejects = folder / "scores.jsonl", folder / "rejects.jsonl"
    for old in (out, rejects):
        old.unlink(missing_ok=True)
    result = CliRunner().invoke(cli, ["classify", str(path), "-o", str(out), "--rejects", str(rejects),
                                      "--rules-only", "--workers", "1", "-q"])
    assert "Traceback" not in result.output and result.exit_code in (0, 1), result.output
    # The marker a finished run leaves for --resume is the one dot-file meant to stay.
    left = [p.name for p in folder.iterdir() if p.name.startswith(".") and not p.name.endswith(".finished.json")]
    assert not left, "a temporary file left behind"
    if result.exit_code == 1:
        lines = result.output.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), result.output
        assert not out.exists() and not rejects.exists()
        at = re.match(rf"Error: {re.escape(str(path))}: line (\d+): ", lines[0])
        check(case, path, None, None, InputError(path, int(at[1]) if at else None, "refused"))
    else:
        scores = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        found = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
        check(case, path, [s["incident_id"] for s in scores], found, None)
    CASES["cli"] += 1
