"""Helpers the tests share: files written and read, a small corpus and model, score and flag records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from classifier.labels import LABELS, NONE

ROOT = Path(__file__).resolve().parent.parent


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


SMALL = {"cv": 2, "min_df": 1}


def sample_corpus(folder: Path, splits: tuple[str, ...], size: int, seed: int) -> Path:
    """A few hundred logs from the corpus, enough to train a model quickly."""
    from classifier.corpus import load_corpus

    records = list(load_corpus(ROOT / "corpora" / "incidents", splits))
    rng = np.random.default_rng(seed)
    write_jsonl(folder / "logs.jsonl", [records[i] for i in sorted(rng.choice(len(records), size, replace=False))])
    return folder


def train_small(corpus: Path, rules, root: Path):
    """A small model version, made current in its own models folder."""
    from classifier.model_versions import set_current
    from classifier.training.train import train_model

    version = train_model(corpus, rules, settings=SMALL, root=root)
    set_current(version.version, root)
    return version


def score_record(label: str = "violence_without_injury", confidence: float = 0.9, **fields) -> dict:
    """A score as the contract writes it, all its offence probability on `label`."""
    probabilities = {name: 0.0 for name in LABELS}
    if label != NONE:
        probabilities[label] = confidence
    probabilities[NONE] = round(1 - confidence, 6)
    return {"incident_id": "A", "label": label, "confidence": confidence, "probabilities": probabilities,
            "evidence": [], "model": "m", **fields}


def flag_record(incident_id: str, **fields) -> dict:
    """A flag as `scan` writes it, likely band, no linked crime."""
    return score_record(**{"incident_id": incident_id, "band": "likely", "reason": "no linked crime record",
                           "closing_code_conflict": None, "linked_crimes": [], "rules": "r",
                           "scanned_at": "2026-11-26T00:00:00", **fields})


def toy_word_model(suffix: str = ""):
    """(records, estimator): a model trained on ten logs in which "zebra" is an offence and "giraffe" is not,
    each log's words followed by `suffix`."""
    from classifier.model import build_estimator

    def record(words):
        return {"text": words, "marked": words, "cues": [], "floor": [],
                "rule_probabilities": {label: 1.0 / len(LABELS) for label in LABELS}}

    offence = ["he zebra her at the bus stop", "zebra again outside the shop", "the zebra left her shaking",
               "she said he zebra her twice", "zebra by the ex at home"]
    innocent = ["giraffe found in the park", "lost giraffe near the station", "giraffe left in a taxi",
                "a giraffe handed in at the desk", "giraffe reported missing by the owner"]
    x = [record(t + suffix) for t in offence + innocent] * 2
    y = (["violence_without_injury"] * 5 + ["none"] * 5) * 2
    return x, build_estimator({"cv": 2, "min_df": 1}).fit(x, y)


WEB_PASSWORD = "correct horse battery"
# Public-supplied text that would run if it reached the page unescaped: in text, ids, codes and notes.
PAYLOADS = ['<script>window.__pwned=1</script>', '"><img src=x onerror="window.__pwned=1">',
            "javascript:window.__pwned=1", "</pre><svg onload=window.__pwned=1>"]


def web_store(path: Path, flags: int = 12, *, hostile: bool = False) -> Path:
    """A flag store with `flags` open flags (labels, bands and confidences varied) and three accounts, ann
    (admin), bob and cat (reviewers), each with WEB_PASSWORD; with `hostile`, PAYLOADS in ids, text and codes."""
    from classifier.io.readers import Incident
    from classifier.review.store import FlagStore
    from classifier.web.accounts import hash_password

    labels = ["violence_with_injury", "violence_without_injury", "rape", "other_sexual", "stalking_harassment"]
    with FlagStore(path) as store:
        for n in range(flags):
            payload = PAYLOADS[n % len(PAYLOADS)] if hostile else ""
            incident_id = f"INC-{n:05d}{payload}"
            text = f"Caller reports an argument at number {n}; he punched her in the face. {payload}"
            flag = flag_record(incident_id, label=labels[n % len(labels)], confidence=round(0.55 + (n % 40) / 100, 3),
                               band="likely" if n % 3 else "review", decided_by="rules")
            store.add_flag(flag, Incident(incident_id, text, n + 2, opened_at=f"2026-11-{1 + n % 28:02d}T10:00:00",
                                          opening_code=f"DOMESTIC{payload}", closing_code="VERBAL ONLY"))
        # A cheap hash for tests (the real cost is N=2**17): verify_password reads the cost from the hash.
        cheap = hash_password(WEB_PASSWORD, n=2 ** 12)
        store.add_user("ann", "admin", cheap)
        store.add_user("bob", "reviewer", cheap)
        store.add_user("cat", "reviewer", cheap)
    return path


def csrf_of(html: str) -> str:
    import re

    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def web_login(client, name: str, password: str = WEB_PASSWORD):
    """Logs `client` (a Starlette TestClient) in; returns the response of the page it lands on."""
    page = client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf_of(page.text)})
