"""The flag store: every flag and every review decision, in SQLite (WAL), its schema versioned and migrated.

A flag is keyed by its incident and a hash of the log text, so scanning the same logs again adds nothing,
and a log whose text has changed is flagged again. Reviews are only ever added: a second decision on an
incident is a second row, never an overwrite.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
]


def default_db() -> Path:
    return Path(os.environ.get(DEFAULT_DB_ENV) or DEFAULT_DB_NAME)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FlagStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise InputError(self.path, None, f"the folder {self.path.parent} does not exist")
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), so concurrent writers queue
        # on the lock instead of failing halfway.
        self.con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.con.row_factory = sqlite3.Row
        self.con.execute("PRAGMA journal_mode = WAL")
        self.con.execute("PRAGMA busy_timeout = 60000")
        self.con.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> FlagStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
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
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise InputError(self.path, None, f"store schema version {version} is newer than this tool "
                                                  f"knows ({len(MIGRATIONS)}); upgrade incident-classifier")
            for number in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
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
            if con.execute("SELECT 1 FROM reviews WHERE incident_id = ?", (incident.incident_id,)).fetchone():
                return "decided"
            superseded = con.execute(
                "UPDATE flags SET status = 'superseded', closed_at = ? WHERE incident_id = ? AND status = 'open'",
                (now(), incident.incident_id)).rowcount
            _insert_flag(con, incident, digest, flag)
            return "refreshed" if superseded else "added"

    def open_flag(self, incident_id: str) -> sqlite3.Row | None:
        return self.con.execute("SELECT * FROM flags WHERE incident_id = ? AND status = 'open'",
                                (incident_id,)).fetchone()

    def close_as_recorded(self, incident_id: str) -> bool:
        """An incident now linked to a crime that covers it: its open flag closes as already_recorded."""
        with self.transaction() as con:
            cur = con.execute("UPDATE flags SET status = 'already_recorded', closed_at = ? "
                              "WHERE incident_id = ? AND status = 'open'", (now(), incident_id))
            return cur.rowcount > 0

    def open_flags(self, *, label: str | None = None, since: str | None = None, until: str | None = None,
                   code: str | None = None, limit: int | None = None) -> list[sqlite3.Row]:
        """Open flags, most valuable first: likely before review, then by confidence, then oldest first."""
        where, args = ["status = 'open'"], []
        if label:
            where.append("label = ?")
            args.append(label)
        if since:
            where.append("COALESCE(opened_at, scanned_at) >= ?")
            args.append(since)
        if until:
            where.append("COALESCE(opened_at, scanned_at) < ?")
            args.append(until)
        if code:
            where.append("(opening_code LIKE ? OR closing_code LIKE ?)")
            args += [f"%{code}%", f"%{code}%"]
        sql = (f"SELECT * FROM flags WHERE {' AND '.join(where)} "
               "ORDER BY band = 'likely' DESC, confidence DESC, COALESCE(opened_at, scanned_at) ASC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self.con.execute(sql, args).fetchall()

    def latest_flag(self, incident_id: str) -> sqlite3.Row | None:
        return self.con.execute("SELECT * FROM flags WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                                (incident_id,)).fetchone()

    # -- reviews ----------------------------------------------------------------------------------

    def decide(self, incident_id: str, outcome: str, *, reviewer: str, label: str | None = None,
               note: str | None = None, reviewed_at: str | None = None, source: str = "decide") -> int:
        """Record a decision; checks everything before writing anything."""
        check_review(incident_id, outcome, label, reviewer)
        with self.transaction() as con:
            flag = con.execute("SELECT id FROM flags WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                               (incident_id,)).fetchone()
            if flag is None:
                raise InputError(None, None, f"incident {incident_id!r} has no flag in {self.path}")
            return _insert_review(con, incident_id, flag["id"], outcome, label if outcome == "crime" else None,
                                  reviewer, reviewed_at or now(), note, source)

    def import_reviews(self, rows: list[dict], source: str) -> int:
        """Add many decisions in one transaction: all of them, or (on any error) none."""
        with self.transaction() as con:
            for row in rows:
                flag = con.execute("SELECT id FROM flags WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                                   (row["incident_id"],)).fetchone()
                _insert_review(con, row["incident_id"], flag["id"], row["outcome"], row.get("label") or None,
                               row["reviewer"], row["reviewed_at"], row.get("note") or None, source)
        return len(rows)

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
        """Per audit sample: its population and the first decision on each sampled incident."""
        out = []
        for s in self.con.execute("SELECT * FROM audit_samples ORDER BY id").fetchall():
            decided = self.con.execute(
                "SELECT r.outcome FROM flags f JOIN reviews r ON r.flag_id = f.id WHERE f.audit_sample_id = ? "
                "AND r.id = (SELECT MIN(id) FROM reviews WHERE flag_id = f.id)", (s["id"],)).fetchall()
            out.append({"id": s["id"], "population": s["population"], "size": s["size"], "seed": s["seed"],
                        "decided": len(decided), "offences": sum(d["outcome"] != "no_crime" for d in decided)})
        return out

    def has_flag(self, incident_id: str) -> bool:
        return self.con.execute("SELECT 1 FROM flags WHERE incident_id = ?", (incident_id,)).fetchone() is not None

    def reviews(self) -> list[sqlite3.Row]:
        return self.con.execute("SELECT * FROM reviews ORDER BY id").fetchall()

    def status_counts(self) -> dict[str, int]:
        return dict(self.con.execute("SELECT status, COUNT(*) FROM flags GROUP BY status").fetchall())

    def decided_flags(self) -> list[sqlite3.Row]:
        """Each reviewed flag with its first decision."""
        return self.con.execute(
            "SELECT f.confidence, f.band, f.label AS flagged, r.outcome, r.label FROM reviews r "
            "JOIN flags f ON f.id = r.flag_id WHERE f.audit_sample_id IS NULL "
            "AND r.id = (SELECT MIN(id) FROM reviews WHERE flag_id = f.id)"
        ).fetchall()


def check_review(incident_id: str, outcome: str, label: str | None, reviewer: str) -> None:
    if not incident_id:
        raise InputError(None, None, "a review needs an incident_id")
    if outcome not in OUTCOMES:
        raise InputError(None, None, f"outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}")
    if outcome == "crime" and (label is None or label == NONE):
        raise InputError(None, None, "outcome crime needs --label, one of: " + ", ".join(LABELS[:-1]))
    if label is not None and label not in LABELS:
        raise InputError(None, None, f"label {label!r} is not one of: {', '.join(LABELS)}")
    if not reviewer or not reviewer.strip():
        raise InputError(None, None, "a review needs a reviewer")


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


def _insert_review(con, incident_id, flag_id, outcome, label, reviewer, reviewed_at, note, source) -> int:
    """A decision is a new row; the flag it decides leaves the open queue."""
    cur = con.execute(
        "INSERT INTO reviews (incident_id, flag_id, outcome, label, reviewer, reviewed_at, note, source) "
        "VALUES (?,?,?,?,?,?,?,?)", (incident_id, flag_id, outcome, label, reviewer, reviewed_at, note, source))
    con.execute("UPDATE flags SET status = 'decided', closed_at = COALESCE(closed_at, ?) "
                "WHERE incident_id = ? AND status = 'open'", (now(), incident_id))
    return cur.lastrowid
