"""The flag store: every flag and every review decision, in SQLite (WAL), its schema versioned and migrated.

A flag is keyed by its incident and a hash of the log text, so scanning the same logs again adds nothing,
and a log whose text has changed is flagged again. Reviews are only ever added: a second decision on an
incident is a second row, never an overwrite. A decision is keyed by its flag, reviewer, outcome and
reviewed_at, so importing the same decisions again adds nothing; a reviewer's re-decision (another outcome or
time) is kept beside the earlier one as history, and each reviewer's latest decision is the one that counts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from classifier.clock import now
from classifier.errors import InputError
from classifier.labels import LABELS, NONE

DEFAULT_DB_ENV = "INCIDENT_CLASSIFIER_DB"
DEFAULT_DB_NAME = "incident-classifier.sqlite"
OUTCOMES = ("crime", "no_crime", "already_recorded")

# Each migration takes the schema from version i to i + 1. Never edit one that has shipped: add another.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE flags (
        id INTEGER PRIMARY KEY,
        incident_id TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        text TEXT NOT NULL,
        label TEXT NOT NULL,
        confidence REAL NOT NULL,
        band TEXT,
        reason TEXT NOT NULL,
        closing_code_conflict TEXT,
        linked_crimes TEXT NOT NULL,
        probabilities TEXT NOT NULL,
        evidence TEXT NOT NULL,
        model TEXT NOT NULL,
        rules TEXT NOT NULL,
        opened_at TEXT,
        opening_code TEXT,
        closing_code TEXT,
        scanned_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        closed_at TEXT,
        UNIQUE (incident_id, text_sha256)
    );
    CREATE INDEX flags_open ON flags (status, confidence DESC);
    CREATE INDEX flags_incident ON flags (incident_id);
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        incident_id TEXT NOT NULL,
        flag_id INTEGER REFERENCES flags (id),
        outcome TEXT NOT NULL CHECK (outcome IN ('crime', 'no_crime', 'already_recorded')),
        label TEXT,
        reviewer TEXT NOT NULL,
        reviewed_at TEXT NOT NULL,
        note TEXT,
        source TEXT NOT NULL DEFAULT 'decide'
    );
    CREATE INDEX reviews_incident ON reviews (incident_id);
    """,
    """
    CREATE TABLE audit_samples (
        id INTEGER PRIMARY KEY,
        drawn_at TEXT NOT NULL,
        source TEXT NOT NULL,
        seed INTEGER NOT NULL,
        population INTEGER NOT NULL,
        size INTEGER NOT NULL
    );
    ALTER TABLE flags ADD COLUMN audit_sample_id INTEGER REFERENCES audit_samples (id);
    """,
    # Which of the rule floor and the model raised the flag (formats.md `decided_by`); null for older flags.
    """
    ALTER TABLE flags ADD COLUMN decided_by TEXT;
    """,
    # A decision's natural key is (flag, reviewer, outcome, reviewed_at). Stores from before version 4 may hold
    # the same decision twice (a file imported twice): the later copies are marked duplicate_of the first,
    # never deleted, and every read leaves them out; the partial index then keeps new copies out. A later row
    # with the key but another label or note is marked too: the first was the one counted before.
    """
    ALTER TABLE reviews ADD COLUMN duplicate_of INTEGER REFERENCES reviews (id);
    UPDATE reviews SET duplicate_of = (
        SELECT MIN(o.id) FROM reviews o WHERE o.id < reviews.id AND o.flag_id IS reviews.flag_id
        AND o.reviewer = reviews.reviewer AND o.outcome = reviews.outcome AND o.reviewed_at = reviews.reviewed_at);
    CREATE UNIQUE INDEX reviews_decision ON reviews (flag_id, reviewer, outcome, reviewed_at)
        WHERE duplicate_of IS NULL;
    """,
    # The store's audit log: model changes made from (or recorded into) this store, with who and when. The
    # triggers make it append-only for every client of the file, not only for this tool.
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        by TEXT NOT NULL,
        action TEXT NOT NULL,
        details TEXT NOT NULL
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # The review web page: reviewers' accounts (a salted scrypt hash, never a password), the server's own
    # settings (its session-signing key), and undo. An undone decision is marked retracted, by whom and when,
    # never deleted; every read leaves it out, as it leaves out copies.
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    ALTER TABLE reviews ADD COLUMN retracted_at TEXT;
    ALTER TABLE reviews ADD COLUMN retracted_by TEXT;
    DROP INDEX reviews_decision;
    CREATE UNIQUE INDEX reviews_decision ON reviews (flag_id, reviewer, outcome, reviewed_at)
        WHERE duplicate_of IS NULL AND retracted_at IS NULL;
    CREATE INDEX reviews_flag ON reviews (flag_id);
    """,
    # The review queue in each of its orders (_ORDER_SQL, the same expressions), holding every column its
    # filters and its ids need: the queue, its count and a flag page's previous/next read the index alone, in
    # order, not the rows with their text and evidence (10,000 open flags: the ids in 5 ms, not 24).
    """
    CREATE INDEX flags_queue_value ON flags (status, band = 'likely' DESC, confidence DESC,
        COALESCE(opened_at, scanned_at), id, incident_id, label, band, opened_at, scanned_at, opening_code,
        closing_code);
    CREATE INDEX flags_queue_teach ON flags (status,
        ABS(0.5 - (1.0 - COALESCE(json_extract(probabilities, '$.none'), 0.0))), confidence DESC, id, incident_id,
        label, band, opened_at, scanned_at, opening_code, closing_code);
    """,
]
# A decision that counts: not a copy of another (older stores), not undone.
LIVE = "duplicate_of IS NULL AND retracted_at IS NULL"
LIVE_R = "r.duplicate_of IS NULL AND r.retracted_at IS NULL"  # the same, of reviews aliased r
ROLES = ("reviewer", "admin")
# Orders of the review queue: `value`, most valuable first (likely before review, then by confidence, then
# oldest); `teach`, the flags whose offence probability is nearest 0.5 first, where a decision tells the next
# retrain most.
ORDERS = ("value", "teach")
# Migration 7 indexes these very expressions: change one here, index it anew there.
_ORDER_SQL = {
    "value": "band = 'likely' DESC, confidence DESC, COALESCE(opened_at, scanned_at) ASC, id ASC",
    "teach": "ABS(0.5 - (1.0 - COALESCE(json_extract(probabilities, '$.none'), 0.0))) ASC, confidence DESC, id ASC",
}
# How a command opens the store: `create` (scan --db) makes a new store; `write` and `read` need an existing
# one, `read` without writing (mode=ro), so a reviewer with read access to the file can list and report.
MODES = ("create", "write", "read")


# One writer at a time per store in this process. SQLite lets one write anyway, but a connection waiting for
# the lock polls with sleeps of up to 100 ms, so threads of one process writing at once (the review web page's
# reviewers) waited seconds at times; on this lock each goes as soon as the one before it is done.
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer(path: Path) -> threading.RLock:
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(os.path.realpath(path), threading.RLock())


def default_db() -> Path:
    return Path(os.environ.get(DEFAULT_DB_ENV) or DEFAULT_DB_NAME)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def second_review(incident_id: str, share: float) -> bool:
    """Whether a decided flag goes to a second reviewer: a fixed `share` of incidents, chosen by a hash of the
    id, so the choice is the same on every page, server and restart, and cannot be steered by a reviewer."""
    if not share:
        return False
    digest = hashlib.sha256(str(incident_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < share


def _open(path: Path, mode: str, *, immutable: bool = False) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.absolute()))}?mode={mode}" + ("&immutable=1" if immutable else "")
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), so concurrent writers queue
    # on the lock instead of failing halfway.
    con = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
    con.row_factory = sqlite3.Row
    con.create_function("second_review", 2, second_review, deterministic=True)
    con.execute("PRAGMA busy_timeout = 60000")
    con.execute("PRAGMA foreign_keys = ON")
    return con


class FlagStore:
    def __init__(self, path: str | Path, *, mode: str = "create"):
        """mode: `create` makes the store if there is none; `write` and `read` refuse a path that is not a flag
        store, and `read` opens it read-only."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        self.path = Path(path)
        self.mode = mode
        if mode == "create":
            if self.path.parent and not self.path.parent.exists():
                raise InputError(self.path, None, f"the folder {self.path.parent} does not exist")
        elif not self.path.exists():
            # A mistyped --db must not become a new, empty store that every command reads as "nothing to do".
            raise InputError(self.path, None, "no flag store here; check --db (`scan --db` makes one)")
        if self.path.is_dir():
            raise InputError(self.path, None, "is a folder, not a flag store")
        self.con = self._connect()
        try:
            version = self._check()
            if mode == "read" and version < len(MIGRATIONS):
                self.con.close()
                self._migrate_elsewhere(version)
                self.con = self._connect()
            elif mode != "read":
                # WAL: readers never wait for a writer. Set only now, on a store known to be ours.
                self.con.execute("PRAGMA journal_mode = WAL")
                if version < len(MIGRATIONS):  # an up-to-date store: no write lock taken just to open it
                    self._migrate()
        except sqlite3.DatabaseError as exc:
            self.con.close()
            raise self._unusable(exc) from None
        except BaseException:
            self.con.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        uri_mode = {"create": "rwc", "write": "rw", "read": "ro"}[self.mode]
        try:
            con = _open(self.path, uri_mode)
            if self.mode == "read":
                try:
                    con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                except sqlite3.OperationalError:
                    # A WAL store in a folder this user cannot write: SQLite cannot make its -shm index there.
                    # With no -wal file the main file holds every committed write, so it is read as immutable.
                    if Path(f"{self.path}-wal").exists():
                        raise
                    con.close()
                    con = _open(self.path, uri_mode, immutable=True)
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from None
        return con

    def _unusable(self, exc: sqlite3.DatabaseError) -> InputError:
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_NOTADB":
            return InputError(self.path, None, "not a flag store (not an SQLite database)")
        if name.startswith("SQLITE_READONLY") or name.startswith("SQLITE_CANTOPEN") or name == "SQLITE_PERM":
            want = "read" if self.mode == "read" else "write"
            return InputError(self.path, None, f"cannot {want} this flag store here ({exc}); check its permissions")
        return InputError(self.path, None, f"unusable flag store ({exc})")

    def _check(self) -> int:
        """The store's schema version; refuses a database that is not a flag store."""
        version = self.con.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and (tables or self.mode != "create"):
            raise InputError(self.path, None, "not a flag store (an SQLite database without its tables); "
                                              "check --db")
        if version and "flags" not in tables:
            raise InputError(self.path, None, "not a flag store (an SQLite database without a flags table); "
                                              "check --db")
        if version > len(MIGRATIONS):
            raise InputError(self.path, None, f"store schema version {version} is newer than this tool "
                                              f"knows ({len(MIGRATIONS)}); upgrade incident-classifier")
        return version

    def _migrate_elsewhere(self, version: int) -> None:
        """Bring an older store up to date for a read-only command, if this user may write it."""
        try:
            FlagStore(self.path, mode="write").close()
        except InputError as exc:
            raise InputError(self.path, None, f"store schema version {version} is older than this tool's "
                                              f"({len(MIGRATIONS)}) and cannot be migrated here: {exc.problem}; "
                                              "open it once as a user who may write it") from None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> FlagStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with _writer(self.path):
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self.con.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        with self.transaction() as con:
            # Read again inside the lock: another process may have migrated the store since _check.
            version = self._check()
            for number in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[number]):
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {number + 1}")

    # -- flags ------------------------------------------------------------------------------------

    def add_flag(self, flag: dict, incident) -> str:
        """Store a flag; returns what happened: added, again (same text), refreshed (text changed), decided."""
        digest = text_hash(incident.text)
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM flags WHERE incident_id = ? AND text_sha256 = ?",
                           (incident.incident_id, digest)).fetchone():
                return "again"
            if con.execute(f"SELECT 1 FROM reviews WHERE incident_id = ? AND {LIVE}",
                           (incident.incident_id,)).fetchone():
                return "decided"
            superseded = con.execute(
                "UPDATE flags SET status = 'superseded', closed_at = ? WHERE incident_id = ? AND status = 'open'",
                (now(), incident.incident_id)).rowcount
            _insert_flag(con, incident, digest, flag)
            return "refreshed" if superseded else "added"

    def open_flag(self, incident_id: str) -> sqlite3.Row | None:
        return self.con.execute("SELECT * FROM flags WHERE incident_id = ? AND status = 'open'",
                                (incident_id,)).fetchone()

    def close_as_recorded(self, incident_id: str, *, at: str | None = None) -> bool:
        """An incident now linked to a crime that covers it: its open flag closes as already_recorded.

        at: when it closed [default: now]; a scan gives its own scanned_at, so a resumed scan can tell the
        flags it closed before it was stopped (`stored_by_run`).
        """
        with self.transaction() as con:
            cur = con.execute("UPDATE flags SET status = 'already_recorded', closed_at = ? "
                              "WHERE incident_id = ? AND status = 'open'", (at or now(), incident_id))
            return cur.rowcount > 0

    def stored_by_run(self, incident, scanned_at: str, *, closed: bool = False) -> str | None:
        """What the scan of `scanned_at` did with this incident's flag, if it was that scan: `added` or
        `refreshed` (or, with `closed`, `closed as already recorded`); None if another scan did it.

        A resumed scan sees again the incidents it stored after its last checkpoint: it counts them as it
        did the first time, so its counts are those of an unbroken scan.
        """
        if closed:
            row = self.latest_flag(incident.incident_id)
            hit = row is not None and row["status"] == "already_recorded" and row["closed_at"] == scanned_at
            return "closed as already recorded" if hit else None
        row = self.con.execute("SELECT id, scanned_at FROM flags WHERE incident_id = ? AND text_sha256 = ?",
                               (incident.incident_id, text_hash(incident.text))).fetchone()
        if row is None or row["scanned_at"] != scanned_at:
            return None
        # A flag supersedes only the open flag before it, in the same transaction: the row just before it
        # is superseded exactly when its insert was a refresh.
        before = self.con.execute("SELECT status FROM flags WHERE incident_id = ? AND id < ? ORDER BY id DESC "
                                  "LIMIT 1", (incident.incident_id, row["id"])).fetchone()
        return "refreshed" if before is not None and before["status"] == "superseded" else "added"

    def open_flags(self, *, label: str | None = None, band: str | None = None, since: str | None = None,
                   until: str | None = None, code: str | None = None, search: str | None = None,
                   order: str = "value", reviewer: str | None = None, second_share: float = 0.0,
                   limit: int | None = None, offset: int = 0) -> list[sqlite3.Row]:
        """Open flags in `order` (see ORDERS), filtered; with a `reviewer`, also the flags chosen for a second
        review (`second_share`) that one other reviewer has decided, and none of this reviewer's own."""
        where, args = self._queue_where(label=label, band=band, since=since, until=until, code=code,
                                        search=search, reviewer=reviewer, second_share=second_share)
        if order not in ORDERS:
            raise ValueError(f"order {order!r} is not one of {ORDERS}")
        sql = f"SELECT * FROM flags WHERE {where} ORDER BY {_ORDER_SQL[order]}"
        if limit:
            # One page: its flags' ids first, from the queue's index alone (every order ends in the id, so the
            # page is the same), then the rows of those flags only, text and evidence and all.
            sql = (f"SELECT * FROM flags WHERE id IN (SELECT id FROM flags WHERE {where} ORDER BY "
                   f"{_ORDER_SQL[order]} LIMIT {int(limit)} OFFSET {int(offset)}) ORDER BY {_ORDER_SQL[order]}")
        return self.con.execute(sql, args).fetchall()

    def queue_ids(self, **filters) -> list[str]:
        """The incident ids of `open_flags(**filters)`, in order, without loading the flags."""
        order = filters.pop("order", "value")
        where, args = self._queue_where(**filters)
        return [r[0] for r in self.con.execute(f"SELECT incident_id FROM flags WHERE {where} "
                                               f"ORDER BY {_ORDER_SQL[order]}", args)]

    def _queue_where(self, *, label=None, band=None, since=None, until=None, code=None, search=None,
                     reviewer=None, second_share=0.0) -> tuple[str, list]:
        if reviewer and second_share:
            where = [f"""(status = 'open' OR (status = 'decided' AND second_review(incident_id, ?)
                      AND (SELECT COUNT(DISTINCT r.reviewer) FROM reviews r WHERE r.flag_id = flags.id AND {LIVE_R}) = 1
                      AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.flag_id = flags.id AND r.reviewer = ?
                                      AND {LIVE_R})))"""]
            args: list = [float(second_share), reviewer]
        else:
            where, args = ["status = 'open'"], []
        for column, value in (("label", label), ("band", band)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if since:
            where.append("COALESCE(opened_at, scanned_at) >= ?")
            args.append(since)
        if until:
            where.append("COALESCE(opened_at, scanned_at) < ?")
            args.append(until)
        if code:
            where.append("(opening_code LIKE ? OR closing_code LIKE ?)")
            args += [f"%{code}%", f"%{code}%"]
        if search:
            # LIKE's own wildcards in the search are literal: a reviewer searching "50%" means those characters.
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(text LIKE ? ESCAPE '\\' OR incident_id LIKE ? ESCAPE '\\')")
            args += [pattern, pattern]
        return " AND ".join(where), args

    def audit_items(self, *, undecided: bool = False) -> list[sqlite3.Row]:
        """The incidents of the audit samples, as drawn; `undecided`: only those no one has decided yet."""
        sql = "SELECT * FROM flags WHERE status = 'audit'"
        if undecided:
            sql += f" AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.flag_id = flags.id AND {LIVE_R})"
        return self.con.execute(sql + " ORDER BY audit_sample_id, id").fetchall()

    def flags_of(self, incident_id: str) -> list[sqlite3.Row]:
        """Every flag the incident has had, oldest first (superseded, decided, closed and open)."""
        return self.con.execute("SELECT * FROM flags WHERE incident_id = ? ORDER BY id", (incident_id,)).fetchall()

    def latest_flag(self, incident_id: str) -> sqlite3.Row | None:
        return self.con.execute("SELECT * FROM flags WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                                (incident_id,)).fetchone()

    # -- reviews ----------------------------------------------------------------------------------

    def decide(self, incident_id: str, outcome: str, *, reviewer: str, label: str | None = None,
               note: str | None = None, reviewed_at: str | None = None, source: str = "decide",
               seen: int | None = None) -> Recorded:
        """Record a decision; checks everything before writing anything.

        seen: the id of the latest decision on this incident the reviewer was shown (0: none), as the review
        web page's form carries it; another reviewer's decision that counts recorded after it refuses this one
        (`DecidedMeanwhile`), so two reviewers who had the same flag open do not both decide it unknowingly.
        """
        check_review(incident_id, outcome, label, reviewer, reviewed_at=reviewed_at)
        with self.transaction() as con:
            flag = con.execute("SELECT id FROM flags WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                               (incident_id,)).fetchone()
            if flag is None:
                raise InputError(None, None, f"incident {incident_id!r} has no flag in {self.path}")
            if seen is not None:
                other = con.execute(f"SELECT reviewer, outcome FROM reviews WHERE incident_id = ? AND reviewer != ? "
                                    f"AND id > ? AND {LIVE} ORDER BY id LIMIT 1",
                                    (incident_id, reviewer, seen)).fetchone()
                if other is not None:
                    raise DecidedMeanwhile(incident_id, other["reviewer"], other["outcome"])
            return _insert_review(con, incident_id, flag["id"], outcome, label, reviewer, reviewed_at or now(),
                                  note, source)

    def undo_last(self, reviewer: str) -> sqlite3.Row | None:
        """Undo `reviewer`'s latest decision that counts: it is marked retracted (by whom, when), never
        deleted, and its flag returns to the queue if no other decision on it counts. None: nothing to undo."""
        with self.transaction() as con:
            row = con.execute(f"SELECT * FROM reviews WHERE reviewer = ? AND {LIVE} ORDER BY id DESC LIMIT 1",
                              (reviewer,)).fetchone()
            if row is None:
                return None
            con.execute("UPDATE reviews SET retracted_at = ?, retracted_by = ? WHERE id = ?",
                        (now(), reviewer, row["id"]))
            if not con.execute(f"SELECT 1 FROM reviews WHERE flag_id IS ? AND {LIVE}", (row["flag_id"],)).fetchone():
                con.execute("UPDATE flags SET status = 'open', closed_at = NULL WHERE id = ? AND status = 'decided'",
                            (row["flag_id"],))
            return row

    def decided_today(self, since: str) -> int:
        """Flags with a decision that counts recorded since `since` (an ISO time)."""
        return self.con.execute(f"SELECT COUNT(DISTINCT flag_id) FROM reviews WHERE {LIVE} AND reviewed_at >= ?",
                                (since,)).fetchone()[0]

    # -- accounts and settings of the review web page ------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str) -> bool:
        """Add a reviewer's account, or replace its role and password; True if it is new."""
        if role not in ROLES:
            raise InputError(None, None, f"role {role!r} is not one of: {', '.join(ROLES)}")
        with self.transaction() as con:
            new = con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None
            at = now()
            con.execute("INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?,?,?,?,?) "
                        "ON CONFLICT (name) DO UPDATE SET role = excluded.role, "
                        "password_hash = excluded.password_hash, updated_at = excluded.updated_at",
                        (name, role, password_hash, at, at))
        return new

    def user(self, name: str) -> sqlite3.Row | None:
        return self.con.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()

    def users(self) -> list[sqlite3.Row]:
        return self.con.execute("SELECT name, role, created_at, updated_at FROM users ORDER BY name").fetchall()

    def setting(self, name: str, make) -> str:
        """A setting of the store, made by `make()` and kept the first time it is asked for."""
        row = self.con.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return row[0]
        with self.transaction() as con:
            con.execute("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)", (name, make()))
            return con.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()[0]

    def import_reviews(self, rows: list[dict], source: str, *, lines: list[int] | None = None) -> ImportSummary:
        """Add many decisions in one transaction: all of them, or (on any error) none.

        A decision already recorded (same flag, reviewer, outcome and reviewed_at) is skipped; `lines`, the
        rows' lines in `source`, name the row of an error.
        """
        summary = ImportSummary()
        with self.transaction() as con:
            for n, row in enumerate(rows):
                flag = con.execute("SELECT id FROM flags WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                                   (row["incident_id"],)).fetchone()
                try:
                    recorded = _insert_review(con, row["incident_id"], flag["id"], row["outcome"],
                                              row.get("label") or None, row["reviewer"], row["reviewed_at"],
                                              row.get("note") or None, source)
                except InputError as exc:
                    raise InputError(source, lines[n] if lines else None,
                                     exc.problem + "; nothing was imported") from None
                summary.count(recorded.status)
        return summary

    def add_audit_sample(self, source: str, seed: int, population: int, items: list[tuple]) -> int:
        """Store a random sample of unflagged incidents as flags of status 'audit', for review.

        items: (incident, score) pairs.
        """
        with self.transaction() as con:
            sample_id = con.execute(
                "INSERT INTO audit_samples (drawn_at, source, seed, population, size) VALUES (?,?,?,?,?)",
                (now(), source, seed, population, len(items))).lastrowid
            for incident, score in items:
                audit = {**score, "band": "audit", "reason": "audit sample (not flagged)", "linked_crimes": [],
                         "rules": "", "scanned_at": now()}
                _insert_flag(con, incident, text_hash(incident.text), audit, status="audit", audit_sample_id=sample_id)
            return sample_id

    def audit_results(self) -> list[dict]:
        """Per audit sample: its population and the decision that counts on each sampled incident."""
        by_sample: dict[int, list] = {}
        for d in first_decisions(current_decisions(self.decisions())):
            if d["audit_sample_id"] is not None:
                by_sample.setdefault(d["audit_sample_id"], []).append(d)
        out = []
        for s in self.con.execute("SELECT * FROM audit_samples ORDER BY id").fetchall():
            decided = by_sample.get(s["id"], [])
            out.append({"id": s["id"], "population": s["population"], "size": s["size"], "seed": s["seed"],
                        "decided": len(decided), "offences": sum(d["outcome"] != "no_crime" for d in decided)})
        return out

    def record_event(self, entry: dict) -> None:
        """Append one audit entry (`at`, `by`, `action` and any details, as the models home's audit log
        writes them) to the store's audit log."""
        details = {k: v for k, v in entry.items() if k not in ("at", "by", "action")}
        with self.transaction() as con:
            con.execute("INSERT INTO audit_log (at, by, action, details) VALUES (?,?,?,?)",
                        (entry["at"], entry["by"], entry["action"], json.dumps(details, ensure_ascii=False)))

    def audit_log(self) -> list[dict]:
        """The store's audit log, oldest first, each entry as it was recorded."""
        return [{"at": r["at"], "by": r["by"], "action": r["action"], **json.loads(r["details"])}
                for r in self.con.execute("SELECT * FROM audit_log ORDER BY id")]

    def has_flag(self, incident_id: str) -> bool:
        return self.con.execute("SELECT 1 FROM flags WHERE incident_id = ?", (incident_id,)).fetchone() is not None

    def reviews(self, incident_id: str | None = None) -> list[sqlite3.Row]:
        """Every decision (of one incident, if given) in the order recorded; copies in older stores left out."""
        where, args = LIVE, ()
        if incident_id is not None:
            where, args = where + " AND incident_id = ?", (incident_id,)
        return self.con.execute(f"SELECT * FROM reviews WHERE {where} ORDER BY id", args).fetchall()

    def decisions(self) -> list[sqlite3.Row]:
        """Every decision with what the flag it decides predicted: `predicted_label`, `confidence`, `band`
        and `audit_sample_id` (set for a decision on an audit sample)."""
        return self.con.execute(
            "SELECT r.*, f.label AS predicted_label, f.confidence, f.band, f.audit_sample_id FROM reviews r "
            f"LEFT JOIN flags f ON f.id = r.flag_id WHERE {LIVE_R} ORDER BY r.id").fetchall()

    def status_counts(self) -> dict[str, int]:
        return dict(self.con.execute("SELECT status, COUNT(*) FROM flags GROUP BY status").fetchall())

    def decided_flags(self) -> list[dict]:
        """Each reviewed flag (not of an audit sample) with the decision that counts (`first_decisions`)."""
        return [{"confidence": d["confidence"], "band": d["band"], "flagged": d["predicted_label"],
                 "outcome": d["outcome"], "label": d["label"]}
                for d in first_decisions(current_decisions(self.decisions())) if d["audit_sample_id"] is None]


class DecidedMeanwhile(InputError):
    """A decision refused: another reviewer decided the incident after the deciding reviewer was shown it."""

    def __init__(self, incident_id: str, reviewer: str, outcome: str):
        self.incident_id, self.reviewer, self.outcome = incident_id, reviewer, outcome
        super().__init__(None, None, f"{reviewer} decided {incident_id} ({outcome}) while you had it open; your "
                                     "decision was not recorded. Open it again to see theirs, and decide again "
                                     "if you disagree.")


@dataclass
class Recorded:
    """What recording one decision did: `added`; `redecided` (added, and the reviewer had decided this flag
    before: the earlier decision stays as history, the latest counts); `skipped` (already recorded)."""

    id: int
    status: str


@dataclass
class ImportSummary:
    added: int = 0
    redecided: int = 0
    skipped: int = 0

    def count(self, status: str) -> None:
        if status == "skipped":
            self.skipped += 1
        else:
            self.added += 1
            self.redecided += status == "redecided"


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, one by one (executescript would commit the migration's transaction);
    a trigger's body holds semicolons, so a statement ends where SQLite says it is complete."""
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                yield statement
            statement = ""


def decision_time(value: str | None) -> datetime | None:
    """An ISO 8601 date or date and time as a naive UTC datetime, or None if it is not one.

    A time without an offset is taken as UTC, as the tool writes its own; a date alone is its midnight.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def latest_first_key(row) -> tuple:
    """Orders one reviewer's decisions on a flag: by reviewed_at, then as recorded (a time that does not
    parse, in a store from before times were checked, sorts first)."""
    return decision_time(row["reviewed_at"]) or datetime.min, row["id"]


def current_decisions(reviews: Iterable) -> list:
    """Each reviewer's latest decision on each flag, in the order of the reviewer's first decision on it.

    A reviewer's re-decision replaces their earlier one in every count; the earlier one stays as history.
    """
    by_flag_reviewer: dict[tuple, list] = {}
    for r in reviews:
        by_flag_reviewer.setdefault((r["flag_id"], r["reviewer"]), []).append(r)
    return [max(group, key=latest_first_key) for group in by_flag_reviewer.values()]


def first_decisions(current: Iterable) -> list:
    """Of `current_decisions`, the one per flag that counts for precision and audits: the first reviewer's.
    A second reviewer's decision on the same flag is a check of it (reviewer agreement)."""
    first: dict = {}
    for d in current:
        first.setdefault(d["flag_id"], d)
    return list(first.values())


def check_review(incident_id: str, outcome: str, label: str | None, reviewer: str, *,
                 reviewed_at: str | None = None) -> None:
    """Refuses a decision that is not on the reviews contract; `reviewed_at` None: it will be now."""
    if not incident_id:
        raise InputError(None, None, "a review needs an incident_id")
    if outcome not in OUTCOMES:
        raise InputError(None, None, f"outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}")
    if label is not None and label not in LABELS:
        raise InputError(None, None, f"label {label!r} is not one of: {', '.join(LABELS)}")
    if outcome == "crime" and (label is None or label == NONE):
        raise InputError(None, None, "outcome crime needs --label, one of: " + ", ".join(LABELS[:-1]))
    if outcome != "crime" and label is not None:
        # It used to be dropped without a word: a reviewer who typed a label meant something by it.
        raise InputError(None, None, f"a label goes only with outcome crime (the offence confirmed); outcome "
                                     f"{outcome} takes no label")
    if not reviewer or not reviewer.strip():
        raise InputError(None, None, "a review needs a reviewer")
    if reviewed_at is not None and decision_time(reviewed_at) is None:
        shown = reviewed_at if len(reviewed_at) <= 40 else reviewed_at[:40] + "..."
        raise InputError(None, None, f"reviewed_at {shown!r} is not an ISO 8601 date or time "
                                     "(e.g. 2026-11-26 or 2026-11-26T09:30:00Z)")


def _insert_flag(con, incident, digest: str, flag: dict, *, status: str = "open", audit_sample_id=None) -> None:
    con.execute(
        "INSERT OR IGNORE INTO flags (incident_id, text_sha256, text, label, confidence, band, reason, "
        "closing_code_conflict, linked_crimes, probabilities, evidence, model, rules, opened_at, opening_code, "
        "closing_code, scanned_at, status, audit_sample_id, decided_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (incident.incident_id, digest, incident.text, flag["label"], flag["confidence"], flag.get("band"),
         flag["reason"], flag.get("closing_code_conflict"), json.dumps(flag["linked_crimes"]),
         json.dumps(flag["probabilities"]), json.dumps(flag["evidence"]), flag["model"], flag["rules"],
         incident.opened_at, incident.opening_code, incident.closing_code, flag["scanned_at"], status,
         audit_sample_id, flag.get("decided_by")),
    )


def _insert_review(con, incident_id, flag_id, outcome, label, reviewer, reviewed_at, note, source) -> Recorded:
    """A decision is a new row unless it is already recorded; the flag it decides leaves the open queue."""
    same = con.execute("SELECT id, label, note FROM reviews WHERE flag_id IS ? AND reviewer = ? AND outcome = ? "
                       f"AND reviewed_at = ? AND {LIVE}",
                       (flag_id, reviewer, outcome, reviewed_at)).fetchone()
    if same is not None:
        if (same["label"], same["note"] or None) == (label, note or None):
            return Recorded(same["id"], "skipped")
        # Two versions of one decision: which is right cannot be told, and skipping would lose one.
        raise InputError(None, None, f"{reviewer!r} decided {incident_id!r} {outcome} at {reviewed_at} already, "
                                     "with another label or note; a new decision needs its own reviewed_at")
    before = con.execute(f"SELECT 1 FROM reviews WHERE flag_id IS ? AND reviewer = ? AND {LIVE}",
                         (flag_id, reviewer)).fetchone()
    cur = con.execute(
        "INSERT INTO reviews (incident_id, flag_id, outcome, label, reviewer, reviewed_at, note, source) "
        "VALUES (?,?,?,?,?,?,?,?)", (incident_id, flag_id, outcome, label, reviewer, reviewed_at, note, source))
    con.execute("UPDATE flags SET status = 'decided', closed_at = COALESCE(closed_at, ?) "
                "WHERE incident_id = ? AND status = 'open'", (now(), incident_id))
    return Recorded(cur.lastrowid, "redecided" if before else "added")
